// The training-curve figure, drawn by ScottPlot 5: a title and a one-line summary, then two panels sharing the
// step axis — loss on top (per-step train loss, its smoothed curve, test loss per epoch as markers) and accuracy
// below (per-step batch accuracy 0..1, smoothed, test accuracy per epoch as markers) — with legends, grid and
// faint dashed lines at epoch starts (up to 40 epochs). Smoothing: a centred moving average over 2h + 1 steps,
// h = N/60 (none when h < 2; narrower at the ends), so it does not lag the raw curve as an EMA does. Non-finite
// values are left out of the lines. Leaves out: the file formats and the canvas (PlotRenderer).
using System.Globalization;
using ScottPlot;

namespace DistBackprop.Host.Plotting;

public static class TrainingFigure
{
    public const int Width = 1000;
    public const int Height = 760;

    /// <summary>Pixels above the panels for the title and summary line.</summary>
    public const int HeaderHeight = 64;

    public static readonly Color LossRaw = Color.FromHex("#a6c8e6");
    public static readonly Color LossSmooth = Color.FromHex("#1f66b0");
    public static readonly Color AccuracyRaw = Color.FromHex("#a8dba0");
    public static readonly Color AccuracySmooth = Color.FromHex("#23862f");
    public static readonly Color Test = Color.FromHex("#e0531f");
    public static readonly Color EpochLine = Color.FromHex("#c8c8c8");

    private const int MaxEpochLines = 40;

    /// <summary>The figure's title: "DistBackprop training: {name}".</summary>
    public static string Title(MetricsSeries series) => $"DistBackprop training: {series.Name}";

    /// <summary>"N steps, E epochs, final loss …, batch accuracy …".</summary>
    public static string Summary(MetricsSeries series)
    {
        ArgumentNullException.ThrowIfNull(series);
        var last = series.Rows[^1];
        var epochs = series.Rows.Select(r => r.Epoch).Distinct().Count();
        var lines = epochs is > 1 and <= MaxEpochLines ? "; dashed lines: epoch starts" : string.Empty;
        return string.Create(CultureInfo.InvariantCulture,
            $"{series.Rows.Count} steps, {epochs} epoch{(epochs == 1 ? string.Empty : "s")}, final loss {Fmt(last.Loss)}, batch accuracy {Fmt(last.Accuracy)}{lines}");
    }

    /// <summary>The two panels (loss, accuracy), in <paramref name="font"/>; the caller renders and disposes them.</summary>
    public static (Plot Loss, Plot Accuracy) Build(MetricsSeries series, string font)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (series.Rows.Count == 0)
        {
            throw new ArgumentException("no rows to plot", nameof(series));
        }

        var rows = series.Rows;
        var half = rows.Count / 60;
        var smoothed = half >= 2;
        var smoothLabel = string.Create(CultureInfo.InvariantCulture, $"moving average of {(2 * half) + 1} steps");
        var (lossRaw, accRaw, rawWidth) = smoothed ? (LossRaw, AccuracyRaw, 1.2f) : (LossSmooth, AccuracySmooth, 2.2f);
        var (x0, x1) = XRange(rows);

        var loss = Panel(font, "loss", showStepLabel: false);
        Line(loss, rows, r => r.Loss, lossRaw, rawWidth, "train loss per step");
        if (smoothed)
        {
            Line(loss, Smooth(rows, r => r.Loss, half), r => r.Loss, LossSmooth, 2.4f, smoothLabel);
        }

        Markers(loss, rows, r => r.TestLoss, "test loss (epoch end)");
        var lossValues = rows.Select(r => r.Loss).Concat(rows.Select(r => r.TestLoss)).Where(double.IsFinite).ToList();
        var lossTop = lossValues.Count == 0 ? 1 : Math.Max(lossValues.Max(), 1e-9);
        var lossBottom = Math.Min(0, lossValues.DefaultIfEmpty(0).Min());
        loss.Axes.SetLimits(x0, x1, lossBottom, lossBottom + ((lossTop - lossBottom) * 1.05));
        loss.ShowLegend(Alignment.UpperRight);

        var accuracy = Panel(font, "accuracy", showStepLabel: true);
        Line(accuracy, rows, r => r.Accuracy, accRaw, rawWidth, "batch accuracy per step");
        if (smoothed)
        {
            Line(accuracy, Smooth(rows, r => r.Accuracy, half), r => r.Accuracy, AccuracySmooth, 2.4f, smoothLabel);
        }

        Markers(accuracy, rows, r => r.TestAccuracy, "test accuracy (epoch end)");
        accuracy.Axes.SetLimits(x0, x1, 0, 1.02);
        accuracy.ShowLegend(Alignment.LowerRight);

        EpochStarts(loss, rows);
        EpochStarts(accuracy, rows);
        return (loss, accuracy);
    }

    private static Plot Panel(string font, string yLabel, bool showStepLabel)
    {
        var plot = new Plot();
        plot.Font.Set(font);
        plot.YLabel(yLabel, 14);
        if (showStepLabel)
        {
            plot.XLabel("step", 14);
        }

        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true }; // steps are whole numbers

        // the same data-area padding in both panels, so their step axes line up
        plot.Layout.Fixed(new PixelPadding(90, 28, showStepLabel ? 56 : 24, 12));
        plot.Legend.FontSize = 12;
        return plot;
    }

    private static (double, double) XRange(IReadOnlyList<MetricsRow> rows)
    {
        var xMin = rows.Min(r => r.Step);
        var xMax = rows.Max(r => r.Step);
        return xMin == xMax ? (xMin - 1.0, xMax + 1.0) : (xMin, (double)xMax);
    }

    private static void Line(Plot plot, IReadOnlyList<MetricsRow> rows, Func<MetricsRow, double> value, Color color, float width, string label)
    {
        var (xs, ys) = Finite(rows, value);
        if (xs.Length == 0)
        {
            return;
        }

        var line = plot.Add.ScatterLine(xs, ys, color);
        line.LineWidth = width;
        line.LegendText = label;
    }

    private static void Markers(Plot plot, IReadOnlyList<MetricsRow> rows, Func<MetricsRow, double> value, string label)
    {
        var (xs, ys) = Finite(rows, value);
        if (xs.Length == 0)
        {
            return;
        }

        var markers = plot.Add.Markers(xs, ys, MarkerShape.FilledCircle, 10, Test);
        markers.LegendText = label;
    }

    private static (double[] Xs, double[] Ys) Finite(IReadOnlyList<MetricsRow> rows, Func<MetricsRow, double> value)
    {
        var points = rows.Where(r => double.IsFinite(value(r))).ToList();
        return (points.Select(r => (double)r.Step).ToArray(), points.Select(value).ToArray());
    }

    private static void EpochStarts(Plot plot, IReadOnlyList<MetricsRow> rows)
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
            var line = plot.Add.VerticalLine(s - 0.5, 1, EpochLine, LinePattern.Dashed);
            line.LegendText = string.Empty;
        }
    }

    /// <summary>Centred moving average: the mean of the finite values among rows i − k … i + k, k = min(h, i, N − 1 − i)
    /// (the window shrinks symmetrically at the ends, so a trend there is not biased).</summary>
    internal static List<MetricsRow> Smooth(IReadOnlyList<MetricsRow> rows, Func<MetricsRow, double> value, int h)
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

    private static string Fmt(double v) => double.IsFinite(v) ? v.ToString("0.####", CultureInfo.InvariantCulture) : "n/a";
}
