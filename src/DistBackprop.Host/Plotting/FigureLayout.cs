// Lays out the training-curve figure: a title, then two panels sharing the step axis — loss on top
// (per-step train loss, its smoothed curve, test loss per epoch as markers) and accuracy below (per-step
// batch accuracy 0..1, smoothed, test accuracy per epoch as markers) — with ticks at "nice" values
// (1, 2, 5 × 10^k), grid lines, axis labels, a legend per panel and faint dashed lines at epoch starts.
// Smoothing: a centred moving average over 2h + 1 steps, h = N/60 (none when h < 2; narrower at the
// ends), so the smoothed curve does not lag behind the raw one as an EMA does. Non-finite values are left out of the lines. Leaves out: writing files.
using System.Globalization;

namespace DistBackprop.Host.Plotting;

public static class FigureLayout
{
    public const int Width = 1000;
    public const int Height = 720;

    public static readonly Rgb Ink = Rgb.Parse("#222222");
    public static readonly Rgb Muted = Rgb.Parse("#666666");
    public static readonly Rgb Grid = Rgb.Parse("#e4e4e4");
    public static readonly Rgb EpochLine = Rgb.Parse("#c8c8c8");
    public static readonly Rgb White = Rgb.Parse("#ffffff");
    public static readonly Rgb LossRaw = Rgb.Parse("#a6c8e6");
    public static readonly Rgb LossSmooth = Rgb.Parse("#1f66b0");
    public static readonly Rgb AccuracyRaw = Rgb.Parse("#a8dba0");
    public static readonly Rgb AccuracySmooth = Rgb.Parse("#23862f");
    public static readonly Rgb Test = Rgb.Parse("#e0531f");

    private const int Left = 96;
    private const int Right = 28;
    private const int Top = 72;
    private const int Bottom = 72;
    private const int Gap = 36;
    private const int TickSize = 12;
    private const int MaxEpochLines = 40;

    /// <summary>Series names used in the SVG's data-series attributes (and by tests).</summary>
    public static class SeriesNames
    {
        public const string Loss = "train-loss";
        public const string LossSmoothed = "train-loss-smoothed";
        public const string TestLoss = "test-loss";
        public const string Accuracy = "train-accuracy";
        public const string AccuracySmoothed = "train-accuracy-smoothed";
        public const string TestAccuracy = "test-accuracy";
    }

    /// <summary>Pixel width of <paramref name="text"/> at cap height <paramref name="size"/> (the bitmap font's; SVG text is narrower).</summary>
    public static double TextWidth(string text, int size) => text.Length * 6 * BitmapFont.ScaleFor(size);

    public static Figure Build(MetricsSeries series)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (series.Rows.Count == 0)
        {
            throw new ArgumentException("no rows to plot", nameof(series));
        }

        var shapes = new List<Shape> { new RectShape(0, 0, Width, Height, White, null) };
        var rows = series.Rows;
        var title = $"DistBackprop training: {series.Name}";
        shapes.Add(new TextShape(Width / 2.0, 22, title, 18, Ink, TextAnchor.Middle, Bold: true));
        var last = rows[^1];

        // x: steps, shared by both panels
        var xMin = rows.Min(r => r.Step);
        var xMax = rows.Max(r => r.Step);
        var (x0, x1) = xMin == xMax ? (xMin - 1.0, xMax + 1.0) : (xMin, (double)xMax);
        var plotW = Width - Left - Right;
        var panelH = (Height - Top - Bottom - Gap) / 2.0;
        var lossBox = new Box(Left, Top, plotW, panelH);
        var accBox = new Box(Left, Top + panelH + Gap, plotW, panelH);

        // y: loss from 0 to a nice top; accuracy 0..1
        var lossValues = rows.Select(r => r.Loss).Concat(rows.Select(r => r.TestLoss)).Where(double.IsFinite).ToList();
        var lossTop = lossValues.Count == 0 ? 1 : Math.Max(lossValues.Max(), 1e-9);
        var lossTicks = NiceTicks(Math.Min(0, lossValues.DefaultIfEmpty(0).Min()), lossTop, 5, extendToTicks: true);
        var lossAxis = new Axis(lossTicks[0], lossTicks[^1], lossTicks);
        var accAxis = new Axis(0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        var xTicks = NiceTicks(x0, x1, 8, extendToTicks: false, minSpacing: 1); // steps are whole numbers
        var xAxis = new Axis(x0, x1, xTicks);

        var half = rows.Count / 60;
        var smoothed = half >= 2;
        var epochs = rows.Select(r => r.Epoch).Distinct().Count();
        var subtitle = string.Create(CultureInfo.InvariantCulture,
            $"{rows.Count} steps, {epochs} epoch{(epochs == 1 ? string.Empty : "s")}, final loss {Fmt(last.Loss)}, batch accuracy {Fmt(last.Accuracy)}");
        shapes.Add(new TextShape(Width / 2.0, 48, subtitle, 10, Muted, TextAnchor.Middle));
        if (epochs is > 1 and <= MaxEpochLines)
        {
            shapes.Add(new TextShape(Left, Height - 22, "dashed lines: epoch starts", 10, Muted));
        }

        // without a smoothed curve the per-step line is the only one: draw it dark
        var (lossRaw, accRaw, rawWidth) = smoothed ? (LossRaw, AccuracyRaw, 1.2) : (LossSmooth, AccuracySmooth, 2.2);
        var smoothLabel = string.Create(CultureInfo.InvariantCulture, $"moving average of {(2 * half) + 1} steps");
        var lossLegend = new List<(string Label, Rgb Color, bool Marker)> { ("train loss per step", lossRaw, false) };
        var accLegend = new List<(string Label, Rgb Color, bool Marker)> { ("batch accuracy per step", accRaw, false) };
        if (smoothed)
        {
            lossLegend.Add((smoothLabel, LossSmooth, false));
            accLegend.Add((smoothLabel, AccuracySmooth, false));
        }

        if (rows.Any(r => double.IsFinite(r.TestLoss)))
        {
            lossLegend.Add(("test loss (epoch end)", Test, true));
        }

        if (rows.Any(r => double.IsFinite(r.TestAccuracy)))
        {
            accLegend.Add(("test accuracy (epoch end)", Test, true));
        }

        Panel(shapes, lossBox, xAxis, lossAxis, "loss", showXLabels: false);
        Panel(shapes, accBox, xAxis, accAxis, "accuracy", showXLabels: true);
        EpochStarts(shapes, rows, xAxis, [lossBox, accBox]);

        // the data
        Series(shapes, lossBox, xAxis, lossAxis, rows, r => r.Loss, lossRaw, rawWidth, SeriesNames.Loss);
        Series(shapes, accBox, xAxis, accAxis, rows, r => r.Accuracy, accRaw, rawWidth, SeriesNames.Accuracy);
        if (smoothed)
        {
            Series(shapes, lossBox, xAxis, lossAxis, Smooth(rows, r => r.Loss, half), r => r.Loss, LossSmooth, 2.4, SeriesNames.LossSmoothed);
            Series(shapes, accBox, xAxis, accAxis, Smooth(rows, r => r.Accuracy, half), r => r.Accuracy, AccuracySmooth, 2.4, SeriesNames.AccuracySmoothed);
        }

        Markers(shapes, lossBox, xAxis, lossAxis, rows, r => r.TestLoss, SeriesNames.TestLoss);
        Markers(shapes, accBox, xAxis, accAxis, rows, r => r.TestAccuracy, SeriesNames.TestAccuracy);
        Legend(shapes, lossBox, lossLegend);
        Legend(shapes, accBox, accLegend, bottom: true);

        shapes.Add(new TextShape(Left + (plotW / 2.0), Height - 22, "step", 12, Ink, TextAnchor.Middle));
        return new Figure(Width, Height, title, shapes);
    }

    /// <summary>Tick values at 1, 2 or 5 × 10^k spacing (at least <paramref name="minSpacing"/>) covering [lo, hi] with about
    /// <paramref name="target"/> intervals; <paramref name="extendToTicks"/> widens the range to whole ticks, else ticks stay inside.</summary>
    public static double[] NiceTicks(double lo, double hi, int target, bool extendToTicks, double minSpacing = 0)
    {
        if (!(hi > lo))
        {
            hi = lo + 1;
        }

        var raw = (hi - lo) / target;
        var mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var norm = raw / mag;
        var step = Math.Max(minSpacing, (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag);
        var first = extendToTicks ? Math.Floor(lo / step) * step : Math.Ceiling(lo / step) * step;
        var lastTick = extendToTicks ? Math.Ceiling(hi / step) * step : Math.Floor(hi / step) * step;
        var ticks = new List<double>();
        for (var i = 0; ; i++)
        {
            var t = first + (i * step);
            if (t > lastTick + (step * 1e-9))
            {
                break;
            }

            ticks.Add(Math.Abs(t) < step * 1e-9 ? 0 : t);
        }

        return [.. ticks];
    }

    /// <summary>A tick label with just enough decimals for the tick spacing.</summary>
    public static string TickLabel(double v, double spacing)
    {
        var decimals = spacing >= 1 ? 0 : Math.Min(6, (int)Math.Ceiling(-Math.Log10(spacing) - 1e-9));
        return v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static string Fmt(double v) => double.IsFinite(v) ? v.ToString("0.####", CultureInfo.InvariantCulture) : "n/a";

    private static void Panel(List<Shape> shapes, Box box, Axis x, Axis y, string label, bool showXLabels)
    {
        var ySpacing = y.Ticks.Length > 1 ? y.Ticks[1] - y.Ticks[0] : 1;
        foreach (var t in y.Ticks)
        {
            var py = box.Y(y, t);
            shapes.Add(new PolylineShape([(box.Left, py), (box.Right, py)], Grid, 1));
            shapes.Add(new PolylineShape([(box.Left - 6, py), (box.Left, py)], Ink, 1));
            shapes.Add(new TextShape(box.Left - 10, py, TickLabel(t, ySpacing), TickSize, Ink, TextAnchor.End));
        }

        var xSpacing = x.Ticks.Length > 1 ? x.Ticks[1] - x.Ticks[0] : 1;
        foreach (var t in x.Ticks)
        {
            var px = box.X(x, t);
            shapes.Add(new PolylineShape([(px, box.Top), (px, box.Bottom)], Grid, 1));
            shapes.Add(new PolylineShape([(px, box.Bottom), (px, box.Bottom + 6)], Ink, 1));
            if (showXLabels)
            {
                shapes.Add(new TextShape(px, box.Bottom + 20, TickLabel(t, xSpacing), TickSize, Ink, TextAnchor.Middle));
            }
        }

        shapes.Add(new RectShape(box.Left, box.Top, box.Width, box.Height, null, Ink, 1));
        shapes.Add(new TextShape(28, box.Top + (box.Height / 2), label, 12, Ink, TextAnchor.Middle, Vertical: true));
    }

    private static void EpochStarts(List<Shape> shapes, IReadOnlyList<MetricsRow> rows, Axis x, Box[] boxes)
    {
        var starts = new List<long>();
        for (var i = 1; i < rows.Count; i++)
        {
            if (rows[i].Epoch != rows[i - 1].Epoch)
            {
                starts.Add(rows[i].Step);
            }
        }

        if (starts.Count is 0 or >= MaxEpochLines)
        {
            return;
        }

        foreach (var s in starts)
        {
            foreach (var box in boxes)
            {
                var px = box.X(x, s - 0.5);
                shapes.Add(new PolylineShape([(px, box.Top + 1), (px, box.Bottom - 1)], EpochLine, 1, Dashed: true));
            }
        }
    }

    private static void Series(List<Shape> shapes, Box box, Axis x, Axis y, IReadOnlyList<MetricsRow> rows, Func<MetricsRow, double> value, Rgb color, double width, string name)
    {
        var points = new List<(double X, double Y)>(rows.Count);
        foreach (var r in rows)
        {
            var v = value(r);
            if (double.IsFinite(v))
            {
                points.Add((box.X(x, r.Step), box.Y(y, Math.Clamp(v, y.Min, y.Max))));
            }
        }

        shapes.Add(new PolylineShape(points, color, width, name));
    }

    private static void Markers(List<Shape> shapes, Box box, Axis x, Axis y, IReadOnlyList<MetricsRow> rows, Func<MetricsRow, double> value, string name)
    {
        foreach (var r in rows)
        {
            var v = value(r);
            if (double.IsFinite(v))
            {
                shapes.Add(new CircleShape(box.X(x, r.Step), box.Y(y, Math.Clamp(v, y.Min, y.Max)), 5, Test, White, name));
            }
        }
    }

    /// <summary>Centred moving average: the mean of the finite values among rows i − k … i + k, k = min(h, i, N − 1 − i)
    /// (the window shrinks symmetrically at the ends, so a trend there is not biased).</summary>
    private static List<MetricsRow> Smooth(IReadOnlyList<MetricsRow> rows, Func<MetricsRow, double> value, int h)
    {
        // prefix sums of the finite values and of their count
        var sum = new double[rows.Count + 1];
        var count = new int[rows.Count + 1];
        for (var i = 0; i < rows.Count; i++)
        {
            var v = value(rows[i]);
            var finite = double.IsFinite(v);
            sum[i + 1] = sum[i] + (finite ? v : 0);
            count[i + 1] = count[i] + (finite ? 1 : 0);
        }

        var result = new List<MetricsRow>(rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            var k = Math.Min(h, Math.Min(i, rows.Count - 1 - i));
            int lo = i - k, hi = i + k + 1;
            var n = count[hi] - count[lo];
            var mean = n > 0 ? (sum[hi] - sum[lo]) / n : double.NaN;
            result.Add(rows[i] with { Loss = mean, Accuracy = mean });
        }

        return result;
    }

    private static void Legend(List<Shape> shapes, Box box, List<(string Label, Rgb Color, bool Marker)> entries, bool bottom = false)
    {
        const int size = 10, line = 22, pad = 10, sample = 26;
        var w = pad + sample + 8 + entries.Max(e => TextWidth(e.Label, size)) + pad;
        var h = (entries.Count * line) + pad;
        var x = box.Right - w - 10;
        var y = bottom ? box.Bottom - h - 10 : box.Top + 10;
        shapes.Add(new RectShape(x, y, w, h, White, Rgb.Parse("#bbbbbb"), 1));
        for (var i = 0; i < entries.Count; i++)
        {
            var (label, color, marker) = entries[i];
            var cy = y + (pad / 2.0) + (line * i) + (line / 2.0);
            if (marker)
            {
                shapes.Add(new CircleShape(x + pad + (sample / 2.0), cy, 5, color, White));
            }
            else
            {
                shapes.Add(new PolylineShape([(x + pad, cy), (x + pad + sample, cy)], color, 3));
            }

            shapes.Add(new TextShape(x + pad + sample + 8, cy, label, size, Ink));
        }
    }

    private readonly record struct Axis(double Min, double Max, double[] Ticks);

    private readonly record struct Box(double Left, double Top, double Width, double Height)
    {
        public double Right => Left + Width;

        public double Bottom => Top + Height;

        public double X(Axis a, double v) => Left + ((v - a.Min) / (a.Max - a.Min) * Width);

        public double Y(Axis a, double v) => Bottom - ((v - a.Min) / (a.Max - a.Min) * Height);
    }
}
