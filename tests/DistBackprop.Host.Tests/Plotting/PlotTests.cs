// `distbackprop plot` and PlotRenderer (ScottPlot 5 on a Skia canvas): the SVG parses and carries the title, axis
// labels, legends and the series' colours; the PNG decodes to the figure's size with the loss colours in the top
// panel, the accuracy colours in the bottom one and test markers only when there are test figures; the font is one
// that is installed (and none installed is a clear usage error); bad inputs exit 2 naming the option or file and line.
// Leaves out: ScottPlot's own drawing (it has its own tests); pictures were looked at by hand (README).
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using DistBackprop.Host.Plotting;
using SkiaSharp;

namespace DistBackprop.Host.Tests.Plotting;

public sealed class PlotTests : IDisposable
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A plausible run: loss decaying from 2.3, accuracy rising, test figures on each epoch's last step.</summary>
    private static string MetricsCsv(int rows, int epochs, bool test = true)
    {
        var sb = new StringBuilder("step,epoch,loss,accuracy,samples_per_s,workers,compute_ms,serialize_ms,transport_ms,wait_ms");
        sb.Append(test ? ",test_loss,test_accuracy\n" : "\n");
        var perEpoch = rows / epochs;
        var c = CultureInfo.InvariantCulture;
        for (var s = 1; s <= rows; s++)
        {
            var epoch = Math.Min(epochs, ((s - 1) / perEpoch) + 1);
            var loss = (2.3 * Math.Exp(-s / 40.0)) + 0.1 + (0.05 * Math.Sin(s));
            var acc = Math.Min(1, 1 - (0.9 * Math.Exp(-s / 30.0)) + (0.02 * Math.Cos(s)));
            sb.Append(string.Create(c, $"{s},{epoch},{loss:R},{acc:R},1000,2,1.5,0,0,0"));
            if (test)
            {
                var last = s == rows || ((s % perEpoch) == 0 && epoch < epochs);
                sb.Append(last ? string.Create(c, $",{loss * 0.9:R},{acc * 0.98:R}") : ",,");
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    private string Write(string name, string text)
    {
        var path = _dir.File(name);
        File.WriteAllText(path, text);
        return path;
    }

    private static List<string> Texts(XDocument doc) =>
        doc.Descendants(Svg + "text").Select(t => Regex.Replace(t.Value, @"\s+", " ").Trim()).ToList();

    private static string Hex(ScottPlot.Color c) => $"#{c.R:X2}{c.G:X2}{c.B:X2}";

    [Fact]
    public void Svg_parses_and_has_title_axes_legends_and_every_series()
    {
        var metrics = Write("m.csv", MetricsCsv(rows: 300, epochs: 3));
        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("curve.svg"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("wrote", r.Out);

        var text = File.ReadAllText(_dir.File("curve.svg"));
        var doc = XDocument.Parse(text);
        Assert.Equal(Svg + "svg", doc.Root!.Name);
        Assert.Equal("1000", (string?)doc.Root.Attribute("width"));
        Assert.Equal("760", (string?)doc.Root.Attribute("height"));
        var texts = Texts(doc);
        Assert.Contains("DistBackprop training: m.csv", texts);
        Assert.Contains(texts, t => t.StartsWith("300 steps, 3 epochs, final loss", StringComparison.Ordinal));
        foreach (var label in new[] { "loss", "accuracy", "step", "100", "train loss per step", "moving average of 11 steps", "test loss (epoch end)", "batch accuracy per step", "test accuracy (epoch end)" })
        {
            Assert.Contains(label, texts);
        }

        Assert.Contains("font-family=\"" + PlotFonts.Choose() + "\"", text, StringComparison.Ordinal);
        foreach (var colour in new[] { TrainingFigure.LossRaw, TrainingFigure.LossSmooth, TrainingFigure.AccuracyRaw, TrainingFigure.AccuracySmooth })
        {
            Assert.Contains($"stroke=\"{Hex(colour)}\"", text, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Contains($"fill=\"{Hex(TrainingFigure.Test)}\"", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Without_test_figures_there_are_no_test_markers_or_legend_entries()
    {
        var metrics = Write("m.csv", MetricsCsv(rows: 200, epochs: 2, test: false));
        Assert.Equal(0, Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("c.svg")).ExitCode);
        var text = File.ReadAllText(_dir.File("c.svg"));
        Assert.DoesNotContain("test accuracy", text, StringComparison.Ordinal);
        Assert.DoesNotContain($"fill=\"{Hex(TrainingFigure.Test)}\"", text, StringComparison.OrdinalIgnoreCase);
        using var png = Png("c.png", metrics);
        Assert.Equal(0, Count(png, TrainingFigure.Test, 0, png.Height));
    }

    [Fact]
    public void Png_decodes_to_the_figure_with_loss_on_top_and_accuracy_below()
    {
        var metrics = Write("m.csv", MetricsCsv(rows: 240, epochs: 4));
        using var png = Png("curve.png", metrics);
        Assert.Equal(TrainingFigure.Width, png.Width);
        Assert.Equal(TrainingFigure.Height, png.Height);
        var middle = TrainingFigure.HeaderHeight + ((png.Height - TrainingFigure.HeaderHeight) / 2);
        Assert.True(Count(png, TrainingFigure.LossSmooth, 0, middle) > 300, "the smoothed loss line in the top panel");
        Assert.Equal(0, Count(png, TrainingFigure.LossSmooth, middle, png.Height));
        Assert.True(Count(png, TrainingFigure.AccuracySmooth, middle, png.Height) > 300, "the smoothed accuracy line in the bottom panel");
        Assert.Equal(0, Count(png, TrainingFigure.AccuracySmooth, 0, middle));
        Assert.True(Count(png, TrainingFigure.Test, 0, middle) > 20, "test loss markers");
        Assert.True(Count(png, TrainingFigure.Test, middle, png.Height) > 20, "test accuracy markers");
        Assert.True(Count(png, new ScottPlot.Color(0x22, 0x22, 0x22), 0, TrainingFigure.HeaderHeight) > 100, "the title is drawn");
    }

    [Fact]
    public void Jsonl_gives_the_same_series_as_csv()
    {
        var c = CultureInfo.InvariantCulture;
        var lines = Enumerable.Range(1, 40).Select(s => string.Create(c,
            $"{{\"step\":{s},\"epoch\":{((s - 1) / 20) + 1},\"loss\":{1.0 / s:R},\"accuracy\":{s / 40.0:R},\"samples_per_s\":1,\"workers\":1,\"compute_ms\":1,\"serialize_ms\":0,\"transport_ms\":0,\"wait_ms\":0{(s % 20 == 0 ? ",\"test_accuracy\":0.5,\"test_loss\":null" : string.Empty)}}}"));
        var jsonl = MetricsReader.Read(Write("m.jsonl", string.Join('\n', lines) + "\n"));
        var csv = MetricsReader.Read(Write("m.csv", "step,epoch,loss,accuracy,test_loss,test_accuracy\n" + string.Join('\n', Enumerable.Range(1, 40).Select(s =>
            string.Create(c, $"{s},{((s - 1) / 20) + 1},{1.0 / s:R},{s / 40.0:R},,{(s % 20 == 0 ? "0.5" : string.Empty)}"))) + "\n"));
        Assert.Equal(csv.Rows, jsonl.Rows);
        Assert.Equal(2, jsonl.Rows.Count(r => double.IsFinite(r.TestAccuracy)));
        var r = Cli.Run(_dir.Path, "plot", _dir.File("m.jsonl"), "-o", _dir.File("c.png"));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public void PlotRenderer_writes_from_a_series_and_leaves_no_temp_files()
    {
        var rows = Enumerable.Range(1, 30).Select(s => new MetricsRow(s, ((s - 1) / 10) + 1, 1.0 / s, 0.5, TestAccuracy: s % 10 == 0 ? 0.7 : double.NaN)).ToList();
        var out1 = _dir.File("sub/dir/a.svg");
        PlotRenderer.Write(new MetricsSeries("run", rows), out1);
        PlotRenderer.Write(new MetricsSeries("run", rows), _dir.File("a.PNG"));
        Assert.True(File.Exists(out1));
        Assert.True(File.Exists(_dir.File("a.PNG")));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp-*", SearchOption.AllDirectories));
        var e = Assert.Throws<UsageException>(() => PlotRenderer.Write(new MetricsSeries("run", rows), _dir.File("a.gif")));
        Assert.Contains("--plot", e.Message);
    }

    [Fact]
    public void The_font_is_an_installed_sans_family_and_no_font_is_a_usage_error()
    {
        Assert.Equal("DejaVu Sans", PlotFonts.Choose(["DejaVu Serif", "dejavu sans", "Liberation Sans"]));
        Assert.Equal("Liberation Sans", PlotFonts.Choose(["Liberation Sans", "Zed"]));
        Assert.Equal("Abc", PlotFonts.Choose(["Zed", "Abc"]));
        var e = Assert.Throws<UsageException>(() => PlotFonts.Choose([]));
        Assert.Contains("no font is installed", e.Message, StringComparison.Ordinal);
        Assert.Contains("fonts-dejavu-core", e.Message, StringComparison.Ordinal);
        Assert.Contains(PlotFonts.Choose(), SKFontManager.Default.GetFontFamilies());
    }

    [Theory]
    [InlineData("curve.jpg")]
    [InlineData("curve")]
    public void Unknown_output_extension_exits_2_naming_o(string output)
    {
        var metrics = Write("m.csv", MetricsCsv(rows: 10, epochs: 1));
        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File(output));
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("-o", r.Err);
        Assert.Contains(output, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.False(File.Exists(_dir.File(output)));
    }

    [Fact]
    public void Missing_output_option_exits_2()
    {
        var metrics = Write("m.csv", MetricsCsv(rows: 10, epochs: 1));
        var r = Cli.Run(_dir.Path, "plot", metrics);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("-o", r.Err);
    }

    [Fact]
    public void Missing_metrics_file_exits_2_naming_it()
    {
        var r = Cli.Run(_dir.Path, "plot", "nope.csv", "-o", "c.svg");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("nope.csv", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Theory]
    [InlineData("m.csv", "", "empty")]
    [InlineData("m.csv", "step,epoch,loss\n1,1,0.5\n", "line 1")]
    [InlineData("m.csv", "step,epoch,loss,accuracy\n1,1,0.5,0.1\n2,1,abc,0.2\n", "line 3")]
    [InlineData("m.csv", "step,epoch,loss,accuracy\n1,1,0.5,0.1\n2,1,0.4\n", "line 3")]
    [InlineData("m.csv", "step,epoch,loss,accuracy\n1.5,1,0.5,0.1\n", "line 2")]
    [InlineData("m.csv", "step,epoch,loss,accuracy\n", "no data rows")]
    [InlineData("m.jsonl", "{\"step\":1,\"epoch\":1,\"loss\":0.5,\"accuracy\":0.1}\n{\"step\":2,\"epoch\":1,\"loss\":0.5\n", "line 2")]
    [InlineData("m.jsonl", "{\"step\":1,\"epoch\":1,\"loss\":0.5}\n", "line 1")]
    [InlineData("m.jsonl", "[1,2]\n", "line 1")]
    public void Malformed_metrics_exit_2_naming_file_and_line(string name, string text, string expected)
    {
        var metrics = Write(name, text);
        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("c.svg"));
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(name, r.Err);
        Assert.Contains(expected, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.False(File.Exists(_dir.File("c.svg")));
    }

    [Fact]
    public void Nan_values_are_left_out_of_the_lines()
    {
        var metrics = Write("m.csv", "step,epoch,loss,accuracy\n1,1,0.9,0.1\n2,1,nan,0.2\n3,1,0.7,\n");
        var series = MetricsReader.Read(metrics);
        Assert.True(double.IsNaN(series.Rows[1].Loss));
        var (loss, accuracy) = TrainingFigure.Build(series, PlotFonts.Choose());
        using (loss)
        using (accuracy)
        {
            var line = Assert.Single(loss.GetPlottables<ScottPlot.Plottables.Scatter>());
            Assert.Equal([1.0, 3.0], line.Data.GetScatterPoints().Select(p => p.X));
            Assert.Equal([1.0, 2.0], Assert.Single(accuracy.GetPlottables<ScottPlot.Plottables.Scatter>()).Data.GetScatterPoints().Select(p => p.X));
        }

        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("c.svg"));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private SKBitmap Png(string name, string metrics)
    {
        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File(name));
        Assert.True(r.ExitCode == 0, r.ToString());
        var bytes = File.ReadAllBytes(_dir.File(name));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        return SKBitmap.Decode(bytes);
    }

    // pixels within a small distance of the colour (anti-aliasing blends the edges) in rows [top, bottom)
    private static int Count(SKBitmap png, ScottPlot.Color colour, int top, int bottom)
    {
        var n = 0;
        for (var y = top; y < bottom; y++)
        {
            for (var x = 0; x < png.Width; x++)
            {
                var p = png.GetPixel(x, y);
                n += Math.Abs(p.Red - colour.R) + Math.Abs(p.Green - colour.G) + Math.Abs(p.Blue - colour.B) <= 12 ? 1 : 0;
            }
        }

        return n;
    }
}
