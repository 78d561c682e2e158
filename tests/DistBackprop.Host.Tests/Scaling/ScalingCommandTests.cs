// `distbackprop scaling` (hidden): `data` writes an IDX folder the loader reads back; `fit` on a bed CSV prints the
// Markdown report and writes the same report, the JSON constants and the figure (a PNG of the figure's size); `predict`
// with those constants gives what ScalingModel gives; bad options exit 2 naming the option; --help does not list it.
// Leaves out: the model's arithmetic and the fit's accuracy (ScalingModelTests).
using System.Globalization;
using DistBackprop.Core.Data;
using DistBackprop.Host.Scaling;
using SkiaSharp;

namespace DistBackprop.Host.Tests.Scaling;

public sealed class ScalingCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Data_writes_the_bench_workloads_rows_as_an_idx_folder()
    {
        var r = Cli.Run(_dir.Path, "scaling", "data", "--workload", "mnist", "--out", "mnist");
        Assert.True(r.ExitCode == 0, r.ToString());
        var split = IdxReader.ReadFolder(_dir.File("mnist"), "bench");
        Assert.Equal(8192, split.Train.Count);
        Assert.Equal(784, split.Train.FeatureCount);
        Assert.Contains("235146 parameters", r.Out, StringComparison.Ordinal);

        var bad = Cli.Run(_dir.Path, "scaling", "data", "--workload", "resnet", "--out", "x");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--workload: 'resnet'", bad.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_reports_writes_its_constants_and_figure_and_predict_reads_them_back()
    {
        var csv = WriteCsv();
        var r = Cli.Run(_dir.Path, "scaling", "fit", "--measurements", csv, "--row-us", "mnist=10,wide=90", "--add-ns", "0.5",
            "--json", "fit.json", "--plot", "fit.png", "--markdown", "fit.md");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("## Fitted constants", r.Out, StringComparison.Ordinal);
        Assert.Contains("| wide | 8 | fan-in 2 | 200 Mbit/s |", r.Out, StringComparison.Ordinal);
        Assert.Contains("## At 256 workers", r.Out, StringComparison.Ordinal);
        Assert.Matches(@"Largest error: step time 0\.0 %, coordinator bytes 0\.0 % \(32 runs\)", r.Out);
        Assert.Equal(r.Out, File.ReadAllText(_dir.File("fit.md")));

        using (var png = SKBitmap.Decode(_dir.File("fit.png")))
        {
            Assert.Equal(ScalingFigure.Width, png.Width);
            Assert.Equal(ScalingFigure.Height, png.Height);
        }

        var (constants, figures) = ScalingReport.ReadJson(_dir.File("fit.json"));
        Assert.Equal(1.7, constants.LinkPasses, 6);
        Assert.Equal(10e-6, figures.RowSecondsOf("mnist"), 12);

        var p = Cli.Run(_dir.Path, "scaling", "predict", "--constants", "fit.json", "--workload", "wide", "--workers", "256", "--fan-in", "4", "--rate", "10gbit");
        Assert.True(p.ExitCode == 0, p.ToString());
        var expected = ScalingModel.Predict(new ScalingInputs(1_863_690, 256, 4, 256 * 256, 256, 90e-6, 10e9 / 8 * ScalingProjection.EthernetPayload, 50e-6,
            double.PositiveInfinity, 0.5e-9), constants);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"fan-in 4 (depth 4) B=65536 S=256: step {expected.StepSeconds * 1e3:0.000} ms"), p.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--measurements is required", "scaling", "fit", "--row-us", "mnist=10")]
    [InlineData("--links: 'fast'", "scaling", "fit", "--measurements", "m.csv", "--row-us", "mnist=10,wide=90", "--links", "fast")]
    [InlineData("--fan-in: '1'", "scaling", "fit", "--measurements", "m.csv", "--row-us", "mnist=10,wide=90", "--fan-in", "1")]
    [InlineData("--bench or --row-us is required", "scaling", "fit", "--measurements", "m.csv")]
    [InlineData("--row-us: 'mnist'", "scaling", "fit", "--measurements", "m.csv", "--row-us", "mnist")]
    [InlineData("--plot: 'f.gif'", "scaling", "fit", "--measurements", "m.csv", "--row-us", "mnist=10,wide=90", "--plot", "f.gif")]
    [InlineData("--measurements: cannot read", "scaling", "fit", "--measurements", "none.csv", "--row-us", "mnist=10")]
    [InlineData("--constants is required", "scaling", "predict")]
    [InlineData("--workers", "scaling", "predict", "--constants", "fit.json", "--workers", "0")]
    [InlineData("--rate: '1gb'", "scaling", "predict", "--constants", "fit.json", "--rate", "1gb")]
    public void Bad_options_exit_2_naming_the_option(string message, params string[] args)
    {
        File.Copy(WriteCsv(), _dir.File("m.csv"), overwrite: true);
        Assert.Equal(0, Cli.Run(_dir.Path, "scaling", "fit", "--measurements", "m.csv", "--row-us", "mnist=10,wide=90", "--add-ns", "0.5", "--json", "fit.json").ExitCode);
        var r = Cli.Run(_dir.Path, args);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(message, r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Fit_leaves_insecure_rows_out_and_refuses_a_file_of_nothing_else()
    {
        File.WriteAllText(_dir.File("insecure.csv"), ScalingModelTests.Header + ",security\n"
            + ScalingModelTests.Row("mnist", 235146, 2, null, 21.7, 1.9e6) + ",insecure\n");
        var r = Cli.Run(_dir.Path, "scaling", "fit", "--measurements", "insecure.csv", "--row-us", "mnist=10,wide=90");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("no row of the secure default", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void The_command_is_hidden_from_help()
    {
        var r = Cli.Run(_dir.Path, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("bench", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("scaling", r.Out, StringComparison.Ordinal);
    }

    // the synthetic bed runs of ScalingModelTests, as deploy/netns-bench.sh writes them
    private string WriteCsv()
    {
        var truth = new ScalingConstants(4e-3, 2e-9, 1.5e-3, 1.7, 0.4, 1.005, 600, 2e-3, 0.5e-9);
        var lines = new List<string> { ScalingModelTests.Header };
        lines.AddRange(ScalingModelTests.Synthetic(truth, noise: 0).Select(m =>
            ScalingModelTests.Row(m.Model, m.Parameters, m.Workers, m.FanIn, m.StepMs, m.RxBytesPerStep, m.Batch, m.RateBytesPerSecond)));
        var path = _dir.File("bed.csv");
        File.WriteAllLines(path, lines);
        return path;
    }
}
