// Entry point of the plots: metrics (file or series) → TrainingFigure's two ScottPlot panels, rendered one above the
// other under a title onto one Skia canvas → .png (SKSurface, PNG-encoded) or .svg (SKSvgCanvas), written atomically.
// Used by `distbackprop plot` and by `train --plot`. Errors a user can fix (unknown extension, unreadable or malformed
// metrics, unwritable output, no font installed) are UsageExceptions (exit 2) naming the option or file.
// Leaves out: the figure's content (TrainingFigure) and reading metrics (MetricsReader).
using DistBackprop.Core.Interchange;
using ScottPlot;
using SkiaSharp;

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

        var bytes = Render(series, format, PlotFonts.Choose());
        try
        {
            AtomicFile.WriteAllBytes(outputPath, bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{outputOption}: cannot write '{outputPath}': {e.Message}");
        }
    }

    /// <summary>The encoded file contents of the figure of <paramref name="series"/>, drawn in <paramref name="font"/>.</summary>
    public static byte[] Render(MetricsSeries series, Format format, string font)
    {
        ArgumentNullException.ThrowIfNull(series);
        var (loss, accuracy) = TrainingFigure.Build(series, font);
        using (loss)
        using (accuracy)
        {
            const int w = TrainingFigure.Width, h = TrainingFigure.Height, top = TrainingFigure.HeaderHeight;
            var panel = (h - top) / 2f;
            void Draw(SKCanvas canvas)
            {
                canvas.Clear(SKColors.White);
                Panel(canvas, loss, new SKRect(0, top, w, top + panel));
                Panel(canvas, accuracy, new SKRect(0, top + panel, w, h));
                Header(canvas, series, font);
            }

            return Encode(format, w, h, Draw);
        }
    }

    /// <summary>What <paramref name="draw"/> paints on a <paramref name="width"/> × <paramref name="height"/> canvas, as PNG or SVG bytes.</summary>
    public static byte[] Encode(Format format, int width, int height, Action<SKCanvas> draw)
    {
        ArgumentNullException.ThrowIfNull(draw);
        if (format == Format.Png)
        {
            using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
            draw(surface.Canvas);
            using var image = surface.Snapshot();
            using var data = image.Encode(SKEncodedImageFormat.Png, 100);
            return data.ToArray();
        }

        using var stream = new MemoryStream();
        using (var managed = new SKManagedWStream(stream))
        {
            using var svg = SKSvgCanvas.Create(new SKRect(0, 0, width, height), managed);
            draw(svg);
        }

        return stream.ToArray();
    }

    // A plot clears the whole canvas before it draws: clipped to its rectangle, it clears only its own.
    private static void Panel(SKCanvas canvas, Plot plot, SKRect rect)
    {
        canvas.Save();
        canvas.ClipRect(rect);
        plot.Render(canvas, new PixelRect(rect.Left, rect.Right, rect.Bottom, rect.Top));
        canvas.Restore();
    }

    // the title (bold) and the summary line, centred above the panels
    private static void Header(SKCanvas canvas, MetricsSeries series, string font)
    {
        using var bold = SKTypeface.FromFamilyName(font, SKFontStyle.Bold);
        using var normal = SKTypeface.FromFamilyName(font, SKFontStyle.Normal);
        using var titleFont = new SKFont(bold, 20);
        using var summaryFont = new SKFont(normal, 13);
        using var ink = new SKPaint { Color = new SKColor(0x22, 0x22, 0x22), IsAntialias = true };
        using var muted = new SKPaint { Color = new SKColor(0x66, 0x66, 0x66), IsAntialias = true };
        canvas.DrawText(TrainingFigure.Title(series), TrainingFigure.Width / 2f, 28, SKTextAlign.Center, titleFont, ink);
        canvas.DrawText(TrainingFigure.Summary(series), TrainingFigure.Width / 2f, 52, SKTextAlign.Center, summaryFont, muted);
    }

    private static Format CheckOutput(string outputPath, string option)
    {
        ArgumentNullException.ThrowIfNull(outputPath);
        return FormatOf(outputPath)
            ?? throw new UsageException($"{option}: '{outputPath}' must end in .svg or .png (the format comes from the extension)");
    }
}
