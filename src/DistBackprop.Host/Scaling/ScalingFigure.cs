// The scaling study's figure (docs/scaling.png), four ScottPlot panels on one canvas: on the bed, step time and the
// coordinator's bytes per step against N (measured as markers, the fitted model as lines); projected, samples/s against
// N = 1 … 256 on log-log axes for each workload (colour: star / fan-in K; solid 10 Gbit/s, dashed 1 Gbit/s; grey: compute
// alone). PNG or SVG by extension, written atomically. Leaves out: the numbers (ScalingStudy) and fonts (PlotFonts).
using System.Globalization;
using DistBackprop.Core.Interchange;
using DistBackprop.Host.Plotting;
using ScottPlot;
using SkiaSharp;

namespace DistBackprop.Host.Scaling;

public static class ScalingFigure
{
    public const int Width = 1400;
    public const int Height = 1040;
    private const int Header = 56;

    private static readonly Color[] TopologyColours = [Color.FromHex("#1f66b0"), Color.FromHex("#e0531f"), Color.FromHex("#23862f"), Color.FromHex("#8a3fb0")];
    private static readonly Color[] ModelColours = [Color.FromHex("#1f66b0"), Color.FromHex("#e0531f"), Color.FromHex("#23862f")];
    private static readonly MarkerShape[] Shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.OpenCircle];

    /// <summary>Draws <paramref name="s"/> to <paramref name="path"/> (.png or .svg); UsageException naming <paramref name="option"/>.</summary>
    public static void Write(ScalingStudy s, string path, string option = "--plot")
    {
        ArgumentNullException.ThrowIfNull(s);
        var format = PlotRenderer.FormatOf(path) ?? throw new UsageException($"{option}: '{path}' must end in .png or .svg");
        var bytes = Render(s, format, PlotFonts.Choose());
        try
        {
            AtomicFile.WriteAllBytes(path, bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: cannot write '{path}': {e.Message}");
        }
    }

    public static byte[] Render(ScalingStudy s, PlotRenderer.Format format, string font)
    {
        ArgumentNullException.ThrowIfNull(s);
        var panels = new List<Plot> { BedTime(s, font), BedBytes(s, font) };
        panels.AddRange(s.Workloads.Take(2).Select(w => Projection(s, w, font)));
        try
        {
            const float halfW = Width / 2f, halfH = (Height - Header) / 2f;
            void Draw(SKCanvas canvas)
            {
                canvas.Clear(SKColors.White);
                for (var i = 0; i < panels.Count; i++)
                {
                    var (col, row) = (i % 2, i / 2);
                    var rect = new SKRect(col * halfW, Header + (row * halfH), (col + 1) * halfW, Header + ((row + 1) * halfH));
                    canvas.Save();
                    canvas.ClipRect(rect);
                    panels[i].Render(canvas, new PixelRect(rect.Left, rect.Right, rect.Bottom, rect.Top));
                    canvas.Restore();
                }

                using var bold = SKTypeface.FromFamilyName(font, SKFontStyle.Bold);
                using var titleFont = new SKFont(bold, 20);
                using var ink = new SKPaint { Color = new SKColor(0x22, 0x22, 0x22), IsAntialias = true };
                var fit = s.Fit;
                canvas.DrawText(string.Create(CultureInfo.InvariantCulture,
                    $"DistBackprop scaling: {fit.Rows.Count} bed runs, model within {fit.MaxTimeError * 100:0.0} % (time) and {fit.MaxBytesError * 100:0.0} % (bytes)"),
                    Width / 2f, 34, SKTextAlign.Center, titleFont, ink);
            }

            return PlotRenderer.Encode(format, Width, Height, Draw);
        }
        finally
        {
            foreach (var p in panels)
            {
                p.Dispose();
            }
        }
    }

    // one series per (model, topology) of the bed runs, in a fixed order
    private static List<IGrouping<(string Model, string Topology), FitRow>> BedSeries(ScalingStudy s) =>
        [.. s.Fit.Rows.GroupBy(r => (r.Measured.Model, r.Measured.Topology)).OrderBy(g => g.Key.Model, StringComparer.Ordinal).ThenBy(g => g.Key.Topology, StringComparer.Ordinal)];

    private static Plot BedTime(ScalingStudy s, string font) => BedPanel(s, font, "the bed: step time (ms)", p => p.StepSeconds * 1e3, m => m.FitStepMs);

    private static Plot BedBytes(ScalingStudy s, string font) =>
        BedPanel(s, font, "the bed: coordinator rx + tx per step (MB)", p => p.CoordinatorBytes / 1e6, m => (m.RxBytesPerStep + m.TxBytesPerStep) / 1e6);

    private static Plot BedPanel(ScalingStudy s, string font, string title, Func<StepPrediction, double> model, Func<BedMeasurement, double> measured)
    {
        var plot = Panel(font, title, "workers N");
        var models = s.Fit.Rows.Select(r => r.Measured.Model).Distinct().Order(StringComparer.Ordinal).ToList();
        var topologies = s.Fit.Rows.Select(r => r.Measured.Topology).Distinct().Order(StringComparer.Ordinal).ToList();
        var maxN = s.Fit.Rows.Max(r => r.Measured.Workers);
        foreach (var g in BedSeries(s))
        {
            var colour = ModelColours[models.IndexOf(g.Key.Model) % ModelColours.Length];
            var shape = Shapes[topologies.IndexOf(g.Key.Topology) % Shapes.Length];
            var points = g.OrderBy(r => r.Measured.Workers).ToList();
            var markers = plot.Add.Markers(points.Select(r => (double)r.Measured.Workers).ToArray(), points.Select(r => measured(r.Measured)).ToArray(), shape, 11, colour);
            markers.LegendText = $"{g.Key.Model}, {g.Key.Topology}: measured";

            // the model along N = 1 … max with the runs' other inputs (rate, batch, cores; S = N as the runs used)
            var template = points[0];
            var xs = Enumerable.Range(1, maxN).ToArray();
            var line = plot.Add.ScatterLine(xs.Select(n => (double)n).ToArray(), xs.Select(n => model(ScalingModel.Predict(
                template.Inputs with { Workers = n, Shards = n, FanIn = template.Measured.FanIn is { } k && k < template.Measured.Workers ? k : Math.Max(2, n) },
                s.Fit.Constants))).ToArray(), colour);
            line.LineWidth = 2;
            line.LinePattern = topologies.IndexOf(g.Key.Topology) == 0 ? LinePattern.Solid : LinePattern.Dashed;
            line.LegendText = $"{g.Key.Model}, {g.Key.Topology}: model";
        }

        plot.Axes.SetLimitsX(0.5, maxN + 0.5);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static Plot Projection(ScalingStudy s, ProjectedWorkload w, string font)
    {
        var plot = Panel(font, $"projected: {w.Name}, {w.BatchPerWorker} rows per worker, samples/s", "workers N (one host each)");
        var ns = Enumerable.Range(1, 256).ToArray();
        var lx = ns.Select(n => Math.Log10(n)).ToArray();
        var ideal = plot.Add.ScatterLine(lx, ns.Select(n => Math.Log10(n / w.RowSeconds)).ToArray(), Color.FromHex("#9a9a9a"));
        ideal.LineWidth = 1.5f;
        ideal.LinePattern = LinePattern.Dotted;
        ideal.LegendText = "compute alone (N / t_row)";
        var links = s.LinkBitsPerSecond.OrderByDescending(l => l).ToList();
        for (var t = 0; t < s.Topologies.Count; t++)
        {
            foreach (var link in links)
            {
                var curve = ScalingProjection.Curve(w, s.Topologies[t], link, s.LatencySeconds, s.Figures.AddSecondsPerFloat, s.Fit.Constants);
                var line = plot.Add.ScatterLine(lx, curve.Select(p => Math.Log10(p.SamplesPerSecond)).ToArray(), TopologyColours[t % TopologyColours.Length]);
                line.LineWidth = 2;
                line.LinePattern = link == links[0] ? LinePattern.Solid : LinePattern.Dashed;
                line.LegendText = $"{ScalingStudy.TopologyName(s.Topologies[t])}, {ScalingStudy.LinkName(link)}";
            }
        }

        var xTicks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var n in (int[])[1, 2, 4, 8, 16, 32, 64, 128, 256])
        {
            xTicks.AddMajor(Math.Log10(n), n.ToString(CultureInfo.InvariantCulture));
        }

        plot.Axes.Bottom.TickGenerator = xTicks;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            IntegerTicksOnly = true,
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            LabelFormatter = y => Math.Pow(10, y).ToString("#,0.##", CultureInfo.InvariantCulture),
        };
        plot.Axes.SetLimitsX(-0.05, Math.Log10(256) + 0.05);
        plot.ShowLegend(Alignment.UpperLeft); // the curves rise to the right: the upper left is empty
        return plot;
    }

    private static Plot Panel(string font, string title, string xLabel)
    {
        var plot = new Plot();
        plot.Font.Set(font);
        plot.Title(title, 15);
        plot.XLabel(xLabel, 13);
        plot.Layout.Fixed(new PixelPadding(80, 24, 52, 36));
        plot.Legend.FontSize = 11;
        return plot;
    }
}
