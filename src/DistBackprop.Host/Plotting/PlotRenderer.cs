// Entry point of the plots: metrics file (or series) → figure → .svg or .png file, written
// atomically (temp file beside the target, then rename). Used by `distbackprop plot` and by
// `train --plot`. Errors a user can fix (unknown extension, unreadable/malformed metrics, unwritable
// output) are UsageExceptions (exit 2) naming the option or file. Leaves out: layout and encoders.
namespace DistBackprop.Host.Plotting;

public static class PlotRenderer
{
    /// <summary>The output formats, by file extension.</summary>
    public enum Format
    {
        Svg,
        Png,
    }

    /// <summary>.svg → Svg, .png → Png (case-insensitive), anything else null.</summary>
    public static Format? FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".svg" => Format.Svg,
        ".png" => Format.Png,
        _ => null,
    };

    /// <summary>Reads <paramref name="metricsPath"/> (CSV or JSONL) and draws it to <paramref name="outputPath"/> (.svg or .png).</summary>
    public static void Write(string metricsPath, string outputPath, string outputOption = "-o")
    {
        ArgumentNullException.ThrowIfNull(metricsPath);
        CheckOutput(outputPath, outputOption);
        Write(MetricsReader.Read(metricsPath), outputPath, outputOption);
    }

    /// <summary>Draws <paramref name="series"/> to <paramref name="outputPath"/> (.svg or .png).</summary>
    public static void Write(MetricsSeries series, string outputPath, string outputOption = "--plot")
    {
        ArgumentNullException.ThrowIfNull(series);
        var format = CheckOutput(outputPath, outputOption);
        if (series.Rows.Count == 0)
        {
            throw new UsageException($"{outputOption} '{outputPath}': there are no steps to plot");
        }

        var bytes = Render(FigureLayout.Build(series), format);
        WriteAtomically(outputPath, bytes, outputOption);
    }

    /// <summary>The encoded file contents of <paramref name="figure"/>.</summary>
    public static byte[] Render(Figure figure, Format format) =>
        format == Format.Svg ? SvgWriter.Write(figure) : PngEncoder.Encode(Rasterize(figure));

    /// <summary>Draws every shape of <paramref name="figure"/> into a new raster of its size.</summary>
    public static Raster Rasterize(Figure figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        var r = new Raster(figure.Width, figure.Height);
        foreach (var shape in figure.Shapes)
        {
            switch (shape)
            {
                case RectShape s:
                    if (s.Fill is { } fill)
                    {
                        r.FillRect(s.X, s.Y, s.Width, s.Height, fill);
                    }

                    if (s.Stroke is { } stroke)
                    {
                        double x0 = s.X, y0 = s.Y, x1 = s.X + s.Width, y1 = s.Y + s.Height;
                        r.Line(x0, y0, x1, y0, s.StrokeWidth, stroke);
                        r.Line(x1, y0, x1, y1, s.StrokeWidth, stroke);
                        r.Line(x1, y1, x0, y1, s.StrokeWidth, stroke);
                        r.Line(x0, y1, x0, y0, s.StrokeWidth, stroke);
                    }

                    break;
                case PolylineShape p:
                    for (var i = 1; i < p.Points.Count; i++)
                    {
                        var (a, b) = (p.Points[i - 1], p.Points[i]);
                        if (p.Dashed)
                        {
                            Dashes(r, a, b, p.Width, p.Color);
                        }
                        else
                        {
                            r.Line(a.X, a.Y, b.X, b.Y, p.Width, p.Color);
                        }
                    }

                    if (p.Points.Count == 1)
                    {
                        r.Line(p.Points[0].X, p.Points[0].Y, p.Points[0].X, p.Points[0].Y, p.Width, p.Color);
                    }

                    break;
                case CircleShape c:
                    r.Circle(c.X, c.Y, c.Radius, c.Fill, c.Stroke);
                    break;
                case TextShape t:
                    r.Text(t.X, t.Y, t.Text, t.Size, t.Color, t.Anchor, t.Vertical, t.Bold);
                    break;
                default:
                    throw new ArgumentException($"unknown shape {shape.GetType().Name}", nameof(figure));
            }
        }

        return r;
    }

    // 4 px on, 4 px off, as the SVG's stroke-dasharray
    private static void Dashes(Raster r, (double X, double Y) a, (double X, double Y) b, double width, Rgb color)
    {
        double dx = b.X - a.X, dy = b.Y - a.Y;
        var len = Math.Sqrt((dx * dx) + (dy * dy));
        for (double s = 0; s < len; s += 8)
        {
            var e = Math.Min(len, s + 4);
            r.Line(a.X + (dx * s / len), a.Y + (dy * s / len), a.X + (dx * e / len), a.Y + (dy * e / len), width, color);
        }
    }

    private static Format CheckOutput(string outputPath, string option)
    {
        ArgumentNullException.ThrowIfNull(outputPath);
        return FormatOf(outputPath)
            ?? throw new UsageException($"{option}: '{outputPath}' must end in .svg or .png (the format comes from the extension)");
    }

    private static void WriteAtomically(string path, byte[] bytes, string option)
    {
        var full = Path.GetFullPath(path);
        var temp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            var dir = Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(dir))
            {
                Directory.CreateDirectory(dir);
            }

            File.WriteAllBytes(temp, bytes);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new UsageException($"{option}: cannot write '{path}': {e.Message}");
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
