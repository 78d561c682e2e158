// Calibrates ScalingModel on the bed's measurements: the byte constants (h, m) from the coordinator's interface
// counters, then the time constants (a, u, e, b, c, k, r, g) from the median step times, each by non-negative weighted
// least squares on relative errors (every subset of the constants is solved exactly and the best one with no negative
// constant wins: at most 8 constants, so 255 small systems). Terms the inputs determine (compute from `bench`, latency,
// the adds) are subtracted first, not fitted. A constant no measurement constrains is 0 and listed as not fitted.
// Leaves out: the formula (ScalingModel), the inputs' sources (MachineFigures), the report (ScalingReport).
namespace DistBackprop.Host.Scaling;

/// <summary>A measurement next to the fitted model's figures; errors are (model − measured) / measured.</summary>
public sealed record FitRow(BedMeasurement Measured, ScalingInputs Inputs, StepPrediction Model)
{
    public double TimeError => (Model.StepSeconds * 1000 / Measured.FitStepMs) - 1;

    public double BytesError => (Model.CoordinatorBytes / (Measured.RxBytesPerStep + Measured.TxBytesPerStep)) - 1;
}

public sealed record ScalingFitResult(ScalingConstants Constants, IReadOnlyList<FitRow> Rows, IReadOnlyList<string> NotFitted)
{
    public double MaxTimeError => Rows.Max(r => Math.Abs(r.TimeError));

    public double MaxBytesError => Rows.Max(r => Math.Abs(r.BytesError));
}

public static class ScalingFit
{
    /// <summary>The model's inputs for bed run <paramref name="m"/> (its link rate, its machine's cores).</summary>
    public static ScalingInputs InputsOf(BedMeasurement m, MachineFigures f)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(f);
        return new ScalingInputs(m.Parameters, m.Workers, m.EffectiveFanIn, m.Batch, m.Shards, f.RowSecondsOf(m.Model),
            m.RateBytesPerSecond > 0 ? m.RateBytesPerSecond : double.PositiveInfinity, f.BedLatencySeconds, Math.Max(1, m.Cores), f.AddSecondsPerFloat);
    }

    public static ScalingFitResult Fit(IReadOnlyList<BedMeasurement> rows, MachineFigures figures)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(figures);
        if (rows.Count == 0)
        {
            throw new ArgumentException("no measurements", nameof(rows));
        }

        var inputs = rows.Select(r => InputsOf(r, figures)).ToList();
        var notFitted = new List<string>();

        // bytes per direction = Kc·(h·4P + m)
        var bytes = Solve(
            [.. inputs.Select(x => new[] { x.CoordinatorChildren * x.CopyBytes, (double)x.CoordinatorChildren })],
            [.. rows.Select(r => (r.RxBytesPerStep + r.TxBytesPerStep) / 2)], ["h", "m"], notFitted);
        var (h, m) = (bytes[0], bytes[1]);
        if (h <= 0)
        {
            throw new ArgumentException("the measured bytes do not grow with the model's size: cannot fit h (are the rows from deploy/netns-bench.sh?)", nameof(rows));
        }

        // T − (compute + latency + adds) = a + u·P + e·N + b·Q·4P·h/β + c·4P·h/β + k·Q·4P + r·(D − 1) + g·2·(Q − Kc)·4P
        var known = new ScalingConstants(0, 0, 0, 0, 0, h, m, 0, 0);
        var x = new double[rows.Count][];
        var y = new double[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            var p = ScalingModel.Predict(inputs[i], known);
            var volume = inputs[i].PathCopies * inputs[i].CopyBytes;
            var link = h / inputs[i].BytesPerSecond; // 0 on an unlimited link
            x[i] = [1, inputs[i].Parameters, inputs[i].Workers, volume * link, inputs[i].CopyBytes * link, volume, inputs[i].Depth - 1,
                2.0 * (inputs[i].PathCopies - inputs[i].CoordinatorChildren) * inputs[i].CopyBytes];
            y[i] = (rows[i].FitStepMs / 1000) - (p.Compute + p.Latency + p.Reduction);
        }

        var t = Solve(x, y, ["a", "u", "e", "b", "c", "k", "r", "g"], notFitted, weights: [.. rows.Select(r => r.FitStepMs / 1000)]);
        var constants = new ScalingConstants(t[0], t[1], t[2], t[3], t[4], h, m, t[6], t[5], t[7]);
        var fitted = inputs.Select((xi, i) => new FitRow(rows[i], xi, ScalingModel.Predict(xi, constants))).ToList();
        return new ScalingFitResult(constants, fitted, notFitted);
    }

    /// <summary>
    /// min Σ ((X·c − y) / w)² over c ≥ 0 (w defaults to y: relative errors), by solving every subset of the columns that
    /// are not all zero and keeping the feasible one with the least residual. Columns never constrained are reported.
    /// </summary>
    internal static double[] Solve(double[][] x, double[] y, string[] names, List<string> notFitted, double[]? weights = null)
    {
        var n = names.Length;
        var w = weights ?? y;
        var scale = new double[n];
        for (var j = 0; j < n; j++)
        {
            scale[j] = x.Max(row => Math.Abs(row[j]));
            if (scale[j] == 0)
            {
                notFitted.Add(names[j]);
            }
        }

        var usable = Enumerable.Range(0, n).Where(j => scale[j] > 0).ToArray();
        double[]? best = null;
        var bestResidual = double.PositiveInfinity;
        for (var mask = 1; mask < 1 << usable.Length; mask++)
        {
            var cols = usable.Where((_, k) => (mask & (1 << k)) != 0).ToArray();
            if (cols.Length > x.Length || LeastSquares(x, y, w, cols, scale) is not { } c || c.Any(v => v < 0))
            {
                continue;
            }

            var full = new double[n];
            for (var k = 0; k < cols.Length; k++)
            {
                full[cols[k]] = c[k] / scale[cols[k]];
            }

            var residual = 0.0;
            for (var i = 0; i < x.Length; i++)
            {
                var e = (x[i].Select((v, j) => v * full[j]).Sum() - y[i]) / w[i];
                residual += e * e;
            }

            if (residual < bestResidual * (1 - 1e-12))
            {
                (best, bestResidual) = (full, residual);
            }
        }

        return best ?? new double[n];
    }

    // weighted normal equations on the scaled columns, Gaussian elimination with partial pivoting; null when singular
    private static double[]? LeastSquares(double[][] x, double[] y, double[] w, int[] cols, double[] scale)
    {
        var k = cols.Length;
        var a = new double[k, k + 1];
        for (var i = 0; i < x.Length; i++)
        {
            var wi = 1 / (w[i] * w[i]);
            for (var p = 0; p < k; p++)
            {
                var xp = x[i][cols[p]] / scale[cols[p]];
                for (var q = 0; q < k; q++)
                {
                    a[p, q] += wi * xp * x[i][cols[q]] / scale[cols[q]];
                }

                a[p, k] += wi * xp * y[i];
            }
        }

        var size = 0.0;
        for (var p = 0; p < k; p++)
        {
            size = Math.Max(size, Math.Abs(a[p, p]));
        }

        for (var c = 0; c < k; c++)
        {
            var pivot = c;
            for (var r = c + 1; r < k; r++)
            {
                if (Math.Abs(a[r, c]) > Math.Abs(a[pivot, c]))
                {
                    pivot = r;
                }
            }

            if (!(Math.Abs(a[pivot, c]) > 1e-10 * size))
            {
                return null;
            }

            for (var q = 0; q <= k; q++)
            {
                (a[c, q], a[pivot, q]) = (a[pivot, q], a[c, q]);
            }

            for (var r = 0; r < k; r++)
            {
                if (r == c)
                {
                    continue;
                }

                var f = a[r, c] / a[c, c];
                for (var q = c; q <= k; q++)
                {
                    a[r, q] -= f * a[c, q];
                }
            }
        }

        var result = new double[k];
        for (var c = 0; c < k; c++)
        {
            result[c] = a[c, k] / a[c, c];
        }

        return result;
    }
}
