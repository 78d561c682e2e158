// `distbackprop plot` and PlotRenderer: the SVG parses and has one polyline per series with one point
// per row, markers per epoch and its axis labels; the PNG has a valid signature, IHDR, CRCs and an IDAT
// that inflates to the expected size and shows the series' colours; bad inputs exit 2 naming the
// option or the file and line.
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;
using DistBackprop.Host.Plotting;

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

    private static XElement Series(XDocument doc, string name, string element = "polyline") =>
        doc.Descendants(Svg + element).Single(e => (string?)e.Attribute("data-series") == name);

    private static int PointCount(XElement polyline) =>
        ((string)polyline.Attribute("points")!).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    [Fact]
    public void Svg_parses_and_has_every_series_with_one_point_per_row()
    {
        var metrics = Write("m.csv", MetricsCsv(rows: 300, epochs: 3));
        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("curve.svg"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("wrote", r.Out);

        var doc = XDocument.Load(_dir.File("curve.svg"));
        var root = doc.Root!;
        Assert.Equal(Svg + "svg", root.Name);
        Assert.Equal("0 0 1000 720", (string?)root.Attribute("viewBox"));
        Assert.Contains("m.csv", doc.Descendants(Svg + "title").Single().Value);
        foreach (var name in new[]
                 {
                     FigureLayout.SeriesNames.Loss, FigureLayout.SeriesNames.LossSmoothed,
                     FigureLayout.SeriesNames.Accuracy, FigureLayout.SeriesNames.AccuracySmoothed,
                 })
        {
            Assert.Equal(300, PointCount(Series(doc, name)));
        }

        // test figures: one marker per epoch in each panel
        Assert.Equal(3, doc.Descendants(Svg + "circle").Count(c => (string?)c.Attribute("data-series") == FigureLayout.SeriesNames.TestAccuracy));
        Assert.Equal(3, doc.Descendants(Svg + "circle").Count(c => (string?)c.Attribute("data-series") == FigureLayout.SeriesNames.TestLoss));

        // axis labels, tick labels and the legend
        var texts = doc.Descendants(Svg + "text").Select(t => t.Value).ToList();
        Assert.Contains("loss", texts);
        Assert.Contains("accuracy", texts);
        Assert.Contains("step", texts);
        Assert.Contains("100", texts);
        Assert.Contains("1.0", texts);
        Assert.Contains("test accuracy (epoch end)", texts);
    }

    [Fact]
    public void Svg_points_follow_the_data()
    {
        // loss falls, accuracy rises: in pixels (y down) the loss line's y grows, the accuracy line's y shrinks
        var metrics = Write("m.csv", MetricsCsv(rows: 200, epochs: 2, test: false));
        Assert.Equal(0, Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("c.svg")).ExitCode);
        var doc = XDocument.Load(_dir.File("c.svg"));
        static (double X, double Y)[] Points(XElement e) =>
            ((string)e.Attribute("points")!).Split(' ').Select(p => p.Split(','))
            .Select(p => (double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture))).ToArray();
        var loss = Points(Series(doc, FigureLayout.SeriesNames.LossSmoothed));
        var acc = Points(Series(doc, FigureLayout.SeriesNames.AccuracySmoothed));
        Assert.True(loss[^1].Y > loss[0].Y + 100, $"loss y {loss[0].Y} → {loss[^1].Y}");
        Assert.True(acc[^1].Y < acc[0].Y - 100, $"accuracy y {acc[0].Y} → {acc[^1].Y}");
        Assert.True(loss.Zip(loss.Skip(1)).All(p => p.Second.X > p.First.X), "x increases with the step");

        // the loss panel sits above the accuracy panel
        Assert.True(loss.Max(p => p.Y) < acc.Min(p => p.Y));
        Assert.DoesNotContain(doc.Descendants(Svg + "circle"), c => c.Attribute("data-series") is not null);
    }

    [Fact]
    public void Jsonl_gives_the_same_series()
    {
        var c = CultureInfo.InvariantCulture;
        var lines = Enumerable.Range(1, 40).Select(s => string.Create(c,
            $"{{\"step\":{s},\"epoch\":{((s - 1) / 20) + 1},\"loss\":{1.0 / s:R},\"accuracy\":{s / 40.0:R},\"samples_per_s\":1,\"workers\":1,\"compute_ms\":1,\"serialize_ms\":0,\"transport_ms\":0,\"wait_ms\":0{(s % 20 == 0 ? ",\"test_accuracy\":0.5,\"test_loss\":null" : string.Empty)}}}"));
        var metrics = Write("m.jsonl", string.Join('\n', lines) + "\n");
        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("c.svg"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var doc = XDocument.Load(_dir.File("c.svg"));
        Assert.Equal(40, PointCount(Series(doc, FigureLayout.SeriesNames.Loss)));
        Assert.Equal(2, doc.Descendants(Svg + "circle").Count(e => (string?)e.Attribute("data-series") == FigureLayout.SeriesNames.TestAccuracy));
        Assert.Equal(0, doc.Descendants(Svg + "circle").Count(e => (string?)e.Attribute("data-series") == FigureLayout.SeriesNames.TestLoss));
    }

    [Fact]
    public void Png_has_valid_chunks_and_decodes_to_the_figure()
    {
        var metrics = Write("m.csv", MetricsCsv(rows: 240, epochs: 4));
        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("curve.png"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var png = File.ReadAllBytes(_dir.File("curve.png"));
        Assert.True(png.AsSpan(0, 8).SequenceEqual(PngEncoder.Signature));

        // chunks: length, type, data, CRC over type + data
        var chunks = new List<(string Type, byte[] Data)>();
        for (var at = 8; at < png.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at));
            var type = Encoding.ASCII.GetString(png, at + 4, 4);
            var data = png.AsSpan(at + 8, length).ToArray();
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length));
            Assert.Equal(Crc32Reference(png.AsSpan(at + 4, 4 + length)), crc);
            chunks.Add((type, data));
            at += 12 + length;
        }

        Assert.Equal(["IHDR", "IDAT", "IEND"], chunks.Select(c => c.Type));
        var ihdr = chunks[0].Data;
        Assert.Equal(13, ihdr.Length);
        int width = (int)BinaryPrimitives.ReadUInt32BigEndian(ihdr), height = (int)BinaryPrimitives.ReadUInt32BigEndian(ihdr.AsSpan(4));
        Assert.Equal((FigureLayout.Width, FigureLayout.Height), (width, height));
        Assert.Equal([8, 6, 0, 0, 0], ihdr[8..]);

        var pixels = Unfilter(Inflate(chunks[1].Data), width, height);
        Assert.Equal((255, 255, 255, 255), Pixel(pixels, width, 2, 2));
        var colours = new HashSet<(byte, byte, byte)>();
        for (var i = 0; i < pixels.Length; i += 4)
        {
            colours.Add((pixels[i], pixels[i + 1], pixels[i + 2]));
        }

        foreach (var c in new[] { FigureLayout.LossSmooth, FigureLayout.AccuracySmooth, FigureLayout.Test, FigureLayout.Ink })
        {
            Assert.Contains((c.R, c.G, c.B), colours);
        }
    }

    [Fact]
    public void Png_rasterizes_the_same_figure_as_the_svg()
    {
        // Every data point of the smoothed loss line is inked in the PNG (within a pixel).
        var rows = Enumerable.Range(1, 180).Select(s => new MetricsRow(s, 1, 2.0 / s, Math.Min(1, s / 100.0))).ToList();
        var figure = FigureLayout.Build(new MetricsSeries("t", rows));
        var raster = PlotRenderer.Rasterize(figure);
        var line = figure.Shapes.OfType<PolylineShape>().Single(p => p.Series == FigureLayout.SeriesNames.LossSmoothed);
        var missed = line.Points.Count(p =>
        {
            var (r, g, b, _) = raster[(int)p.X, (int)p.Y];
            return (r, g, b) != (FigureLayout.LossSmooth.R, FigureLayout.LossSmooth.G, FigureLayout.LossSmooth.B);
        });
        Assert.True(missed <= line.Points.Count / 20, $"{missed} of {line.Points.Count} points not drawn in the line colour");
    }

    [Fact]
    public void Crc32_matches_the_standard_check_value()
    {
        Assert.Equal(0xCBF43926u, PngEncoder.Crc32("123456789"u8));
        Assert.Equal(Crc32Reference("IEND"u8), PngEncoder.Crc32("IEND"u8));
        Assert.Equal(0xAE426082u, PngEncoder.Crc32("IEND"u8));
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
    public void Nice_ticks_are_round_and_cover_the_range()
    {
        Assert.Equal([0, 0.5, 1, 1.5, 2, 2.5], FigureLayout.NiceTicks(0, 2.43, 5, extendToTicks: true));
        Assert.Equal([100, 200, 300, 400, 500, 600], FigureLayout.NiceTicks(1, 625, 8, extendToTicks: false));
        Assert.Equal([1, 2, 3], FigureLayout.NiceTicks(1, 3, 8, extendToTicks: false, minSpacing: 1));
        Assert.Equal("0.25", FigureLayout.TickLabel(0.25, 0.05));
        Assert.Equal("2000", FigureLayout.TickLabel(2000, 500));
    }

    [Fact]
    public void Bitmap_font_covers_what_the_plots_write()
    {
        foreach (var ch in "0123456789.-+e abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ:(),_/%")
        {
            Assert.True(BitmapFont.Has(ch), $"no glyph for '{ch}'");
        }

        Assert.True(BitmapFont.IsSet('1', 2, 0));
        Assert.False(BitmapFont.IsSet(' ', 2, 3));
        Assert.True(BitmapFont.IsSet('g', 1, 8), "descender row");
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
        var r = Cli.Run(_dir.Path, "plot", metrics, "-o", _dir.File("c.svg"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var doc = XDocument.Load(_dir.File("c.svg"));
        Assert.Equal(2, PointCount(Series(doc, FigureLayout.SeriesNames.Loss)));
        Assert.Equal(2, PointCount(Series(doc, FigureLayout.SeriesNames.Accuracy)));
    }

    // An independent bitwise CRC-32 (no table) to check the encoder's table-driven one.
    private static uint Crc32Reference(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc >> 1) ^ (0xEDB88320u & (uint)-(int)(crc & 1));
            }
        }

        return ~crc;
    }

    private static byte[] Inflate(byte[] zlib)
    {
        using var input = new ZLibStream(new MemoryStream(zlib), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    // Undo the per-scanline filters (the encoder uses 0 None and 1 Sub only).
    private static byte[] Unfilter(byte[] raw, int width, int height)
    {
        var stride = width * 4;
        Assert.Equal(height * (stride + 1), raw.Length);
        var pixels = new byte[height * stride];
        for (var y = 0; y < height; y++)
        {
            var filter = raw[y * (stride + 1)];
            Assert.True(filter is 0 or 1, $"row {y}: filter {filter}");
            for (var i = 0; i < stride; i++)
            {
                var v = raw[(y * (stride + 1)) + 1 + i];
                var left = filter == 1 && i >= 4 ? pixels[(y * stride) + i - 4] : (byte)0;
                pixels[(y * stride) + i] = (byte)(v + left);
            }
        }

        return pixels;
    }

    private static (int, int, int, int) Pixel(byte[] pixels, int width, int x, int y)
    {
        var i = ((y * width) + x) * 4;
        return (pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]);
    }
}
