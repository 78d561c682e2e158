// The per-epoch test figures: `train --metrics m.csv` keeps the per-step header (SPEC §6 + lr, grad_norm) exactly and writes
// m.epochs.csv (only with a test or validation set; a stale one is removed; with --val-split two more columns); `plot` reads the
// sidecar; `train --plot` draws an SVG with the train series and one test marker per epoch.
using System.Globalization;
using System.Xml.Linq;
using DistBackprop.Host.Output;
using DistBackprop.Host.Plotting;

namespace DistBackprop.Host.Tests.Output;

public sealed class MetricsSidecarTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Train_writes_the_epochs_sidecar_and_keeps_the_metrics_header_exact()
    {
        var r = Cli.Run(_dir.Path, "train", "--epochs", "2", "--batch", "500", "--metrics", _dir.File("m.csv"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("step,epoch,loss,accuracy,samples_per_s,workers,compute_ms,serialize_ms,transport_ms,wait_ms,lr,grad_norm", File.ReadLines(_dir.File("m.csv")).First());
        Assert.Equal(_dir.File("m.epochs.csv"), EpochsFile.PathFor(_dir.File("m.csv")));
        var lines = File.ReadAllLines(_dir.File("m.epochs.csv"));
        Assert.Equal(3, lines.Length);
        Assert.Equal("epoch,step,test_loss,test_accuracy", lines[0]);
        for (var e = 1; e <= 2; e++)
        {
            var f = lines[e].Split(',');
            Assert.Equal(e.ToString(CultureInfo.InvariantCulture), f[0]);
            Assert.Equal((16 * e).ToString(CultureInfo.InvariantCulture), f[1]); // 8000 / 500 = 16 steps per epoch
            Assert.True(double.Parse(f[2], CultureInfo.InvariantCulture) > 0);
            Assert.InRange(double.Parse(f[3], CultureInfo.InvariantCulture), 0, 1);
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"acc {double.Parse(f[3], CultureInfo.InvariantCulture):F4} (2000 samples)"), r.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void With_a_validation_split_the_sidecar_has_the_validation_columns_and_plot_still_reads_it()
    {
        var csv = _dir.File("data.csv");
        File.WriteAllLines(csv, Enumerable.Range(0, 60).Select(i => string.Create(CultureInfo.InvariantCulture, $"{i % 2},{i % 2 + 0.1 * (i % 5)},{1 - (i % 2)}")));
        var r = Cli.Run(_dir.Path, "train", "--data", csv, "--epochs", "2", "--batch", "10", "--val-split", "0.2", "--metrics", _dir.File("m.csv"), "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = File.ReadAllLines(_dir.File("m.epochs.csv"));
        Assert.Equal(EpochsFile.ValidationHeader, lines[0]);
        Assert.Equal("epoch,step,test_loss,test_accuracy,val_loss,val_accuracy", lines[0]);
        Assert.Equal(3, lines.Length);
        var f = lines[2].Split(',');
        Assert.Equal(["2", "10", "nan", "nan"], f[..4]); // 48 training rows / 10 = 5 steps per epoch; no test set
        Assert.True(double.Parse(f[4], CultureInfo.InvariantCulture) > 0);
        Assert.Contains("val loss", r.Out, StringComparison.Ordinal);
        Assert.Contains("(12 samples", r.Out, StringComparison.Ordinal);
        var p = Cli.Run(_dir.Path, "plot", _dir.File("m.csv"), "-o", _dir.File("c.svg"));
        Assert.True(p.ExitCode == 0, p.ToString());
    }

    [Fact]
    public void No_test_set_no_sidecar_and_a_stale_one_is_removed()
    {
        var csv = _dir.File("data.csv");
        File.WriteAllLines(csv, Enumerable.Range(0, 40).Select(i => string.Create(CultureInfo.InvariantCulture, $"{i % 2},{i % 2 + 0.1 * (i % 5)},{1 - (i % 2)}")));
        File.WriteAllText(_dir.File("m.epochs.csv"), "epoch,step,test_loss,test_accuracy\n1,1,9,0.1\n");
        var r = Cli.Run(_dir.Path, "train", "--data", csv, "--epochs", "1", "--batch", "10", "--metrics", _dir.File("m.jsonl"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.False(File.Exists(_dir.File("m.epochs.csv")));
    }

    [Fact]
    public void Plot_reads_the_test_figures_from_the_sidecar()
    {
        var rows = string.Join('\n', Enumerable.Range(1, 40).Select(s => string.Create(CultureInfo.InvariantCulture,
            $"{s},{((s - 1) / 20) + 1},{2.0 / s:R},{s / 40.0:R},1000,2,1,0,0,0,0.1,1.5")));
        File.WriteAllText(_dir.File("m.csv"), MetricsWriter.CsvHeader + "\n" + rows + "\n");
        File.WriteAllText(_dir.File("m.epochs.csv"), "epoch,step,test_loss,test_accuracy\n1,20,0.5,0.75\n2,40,0.25,0.875\n");
        var series = MetricsReader.Read(_dir.File("m.csv"));
        Assert.True(series.HasTest);
        Assert.Equal(0.75, series.Rows[19].TestAccuracy);
        Assert.Equal(0.25, series.Rows[39].TestLoss);
        Assert.True(double.IsNaN(series.Rows[0].TestAccuracy));

        var r = Cli.Run(_dir.Path, "plot", _dir.File("m.csv"), "-o", _dir.File("c.svg"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("with test figures", r.Out, StringComparison.Ordinal);
        Assert.Contains("test accuracy (epoch end)", File.ReadAllText(_dir.File("c.svg")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_sidecar_is_a_usage_error_naming_it()
    {
        File.WriteAllText(_dir.File("m.csv"), MetricsWriter.CsvHeader + "\n1,1,2.3,0.1,1,1,1,0,0,0,0.1,1.5\n");
        File.WriteAllText(_dir.File("m.epochs.csv"), "epoch,step,test_loss,test_accuracy\n1,x,0.5,0.75\n");
        var r = Cli.Run(_dir.Path, "plot", _dir.File("m.csv"), "-o", _dir.File("c.svg"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("m.epochs.csv', line 2: step 'x'", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_plot_draws_an_svg_with_the_train_series_and_one_test_marker_per_epoch()
    {
        var r = Cli.Run(_dir.Path, "train", "--epochs", "3", "--batch", "500", "--plot", _dir.File("curve.svg"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("plot written to", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("not drawn", r.Err, StringComparison.Ordinal);
        var svg = File.ReadAllText(_dir.File("curve.svg"));
        Assert.NotNull(XDocument.Parse(svg).Root);
        Assert.Contains("48 steps, 3 epochs", svg, StringComparison.Ordinal);
        Assert.Contains("test accuracy (epoch end)", svg, StringComparison.Ordinal);
        Assert.Contains("test loss (epoch end)", svg, StringComparison.Ordinal);
    }
}
