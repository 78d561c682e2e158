// Numerical gradient check of the whole MLP (what `distbackprop gradcheck` prints).
// On B random rows, in float64 (Mlp<double>):
//   J(w)      = (1/B) Σ_i loss_i                          (the training objective, SPEC §2)
//   analytic  = (Σ_i ∂loss_i/∂w) / B                       (Mlp.Backward's summed gradient ÷ B)
//   numerical = (J(w + h·e_p) − J(w − h·e_p)) / (2h)       (central difference, per parameter p)
//   error_p   = |a − n| / max(|a| + |n|, floor)            (relative, floored for near-zero gradients)
// plus the float32 analytic gradient against the float64 one on the same (float-rounded) weights
// and rows:  max_p |a32 − a64| / max(max_p |a64|, tiny), per tensor (scaled by the tensor's largest gradient).
// Kinks (relu, leaky-relu): a central difference across a kink measures nothing useful. After each
// perturbed forward pass the sign pattern of every hidden activation (A > 0 ⇔ Z > 0 for both) is
// compared with the unperturbed one; when any unit flipped, the parameter is skipped and counted
// (SkippedAtKink) rather than reported as an error. With h = 1e-6 this is rare (none in the 36 test models).
// The floor: in float64 the difference carries rounding noise ≈ ε·|J|/h (measured 4e-10 at J ≈ 1,
// 2e-9 at J ≈ 7, with h = 1e-6), so for gradients much smaller than noise/threshold a relative error
// measures rounding, not backprop. floor = max(tiny, 10·ε·max(|J|, 1) / (h·threshold)) — 2.2e-3 for
// J ≤ 1 with the defaults — holds such gradients to |a − n| ≤ threshold·floor (≈ 10× the noise) instead.
// Leaves out: printing (the Host formats the report), and the per-kernel checks (Tensors tests).
using System.Globalization;
using System.Text;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Model;

/// <summary>How to run a gradient check. Defaults suit small models in float64.</summary>
/// <param name="Step">h of the central difference.</param>
/// <param name="Threshold">The largest relative error that passes.</param>
/// <param name="Float32Threshold">The largest scaled float32-vs-float64 error that passes.</param>
/// <param name="MaxParameters">At most this many parameters get a finite difference (a seeded sample for bigger models).</param>
/// <param name="Tiny">The least floor of the relative error's denominator (see <see cref="GradientCheckReport.Floor"/>), and of the float32 comparison's scale.</param>
public sealed record GradientCheckOptions(
    double Step = 1e-6,
    double Threshold = 1e-6,
    double Float32Threshold = 1e-4,
    int MaxParameters = 1000,
    double Tiny = 1e-3);

/// <summary>One tensor's row of the report (<c>layers.{i}.weight</c> or <c>layers.{i}.bias</c>).</summary>
/// <param name="Name">The safetensors name.</param>
/// <param name="Count">Parameters in the tensor.</param>
/// <param name="Checked">Parameters compared against a finite difference.</param>
/// <param name="SkippedAtKink">Sampled parameters skipped because a relu unit flipped within ±h.</param>
/// <param name="MaxRelativeError">max |a − n| / max(|a| + |n|, floor) over the checked parameters.</param>
/// <param name="MaxAbsoluteError">max |a − n| over the checked parameters.</param>
/// <param name="MaxAbsGradient">max |a| over the whole tensor (float64 analytic).</param>
/// <param name="Float32Error">max |a32 − a64| / max(max |a64|, tiny) over the whole tensor.</param>
public sealed record TensorGradientError(
    string Name,
    int Count,
    int Checked,
    int SkippedAtKink,
    double MaxRelativeError,
    double MaxAbsoluteError,
    double MaxAbsGradient,
    double Float32Error)
{
    /// <summary>Column titles matching <see cref="Cells"/>.</summary>
    public static IReadOnlyList<string> Columns { get; } =
        ["tensor", "params", "checked", "kinks", "max rel err", "max abs err", "max |grad|", "f32 vs f64"];

    /// <summary>The row as table cells (invariant culture).</summary>
    public IReadOnlyList<string> Cells =>
    [
        Name,
        Count.ToString(CultureInfo.InvariantCulture),
        Checked.ToString(CultureInfo.InvariantCulture),
        SkippedAtKink.ToString(CultureInfo.InvariantCulture),
        GradientCheckReport.Format(MaxRelativeError),
        GradientCheckReport.Format(MaxAbsoluteError),
        GradientCheckReport.Format(MaxAbsGradient),
        GradientCheckReport.Format(Float32Error),
    ];
}

/// <summary>The result of <see cref="GradientCheck.Run"/>: per-tensor rows, overall maxima and the verdict.</summary>
public sealed record GradientCheckReport(
    ModelSpec Spec,
    long Seed,
    int Rows,
    GradientCheckOptions Options,
    double Objective,
    double Floor,
    IReadOnlyList<TensorGradientError> Tensors)
{
    // Objective: J at the unperturbed weights.  Floor: the relative error's denominator floor actually used,
    // max(Tiny, 10·ε·max(|J|, 1) / (Step·Threshold)), above the rounding noise of the central difference.

    public double MaxRelativeError => Tensors.Max(t => t.MaxRelativeError);

    public double MaxAbsoluteError => Tensors.Max(t => t.MaxAbsoluteError);

    public double MaxFloat32Error => Tensors.Max(t => t.Float32Error);

    public int Checked => Tensors.Sum(t => t.Checked);

    public int SkippedAtKink => Tensors.Sum(t => t.SkippedAtKink);

    public bool GradientPassed => Checked > 0 && MaxRelativeError <= Options.Threshold;

    public bool Float32Passed => MaxFloat32Error <= Options.Float32Threshold;

    public bool Passed => GradientPassed && Float32Passed;

    /// <summary>A short verdict line, e.g. "PASS: max relative error 3.1e-09 ≤ 1e-06, float32 vs float64 2.0e-07 ≤ 1e-04".</summary>
    public string Summary =>
        $"{(Passed ? "PASS" : "FAIL")}: max relative error {Format(MaxRelativeError)} {(GradientPassed ? "≤" : ">")} {Format(Options.Threshold)}, " +
        $"float32 vs float64 {Format(MaxFloat32Error)} {(Float32Passed ? "≤" : ">")} {Format(Options.Float32Threshold)} " +
        $"({Checked} parameters checked, {SkippedAtKink} skipped at a relu kink)";

    /// <summary>The whole report as a fixed-width table plus the verdict line.</summary>
    public override string ToString()
    {
        var rows = new List<IReadOnlyList<string>> { TensorGradientError.Columns };
        rows.AddRange(Tensors.Select(t => t.Cells));
        var widths = new int[TensorGradientError.Columns.Count];
        foreach (var row in rows)
        {
            for (var c = 0; c < row.Count; c++)
            {
                widths[c] = Math.Max(widths[c], row[c].Length);
            }
        }

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"gradient check: {Spec}, seed {Seed}, {Rows} rows, J = {Objective:G6}, h = {Format(Options.Step)}, relative error floor {Format(Floor)}").AppendLine();
        foreach (var row in rows)
        {
            for (var c = 0; c < row.Count; c++)
            {
                sb.Append(c == 0 ? row[c].PadRight(widths[c]) : "  " + row[c].PadLeft(widths[c]));
            }

            sb.AppendLine();
        }

        return sb.Append(Summary).ToString();
    }

    internal static string Format(double v) => v.ToString("0.0e+00", CultureInfo.InvariantCulture);
}

/// <summary>Analytic (backprop) vs central-difference gradients of J = (1/B)·Σ loss, in float64.</summary>
public static class GradientCheck
{
    /// <summary>The random stream id for the check's rows, labels and biases ("gchk").</summary>
    public const ulong Stream = 0x6763686B;

    private const double Epsilon = 2.220446049250313e-16; // float64 machine epsilon (2^−52)

    /// <summary>
    /// Runs the check on <paramref name="rows"/> random rows. Weights come from <see cref="Initializer"/> with
    /// <paramref name="seed"/>; biases are drawn uniform in [−0.5, 0.5) (zero biases would hide bias bugs);
    /// inputs are uniform in [−1, 1); labels uniform over the classes (0/1 when there is one output).
    /// Weights and inputs are rounded to float32 first, so the float32 comparison sees the same numbers.
    /// </summary>
    public static GradientCheckReport Run(ModelSpec spec, long seed, int rows, GradientCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        options ??= new GradientCheckOptions();
        if (!(options.Step > 0) || !(options.Tiny > 0) || options.MaxParameters < 1)
        {
            throw new ArgumentException("Step and Tiny must be positive and MaxParameters at least 1", nameof(options));
        }

        var layout = spec.Layout;
        var rng = DeterministicRandom.For(seed, Stream);
        var p32 = Initializer.Create(spec, seed);
        for (var l = 0; l < spec.LayerCount; l++)
        {
            var b = layout.Bias(p32.AsSpan(), l);
            for (var i = 0; i < b.Length; i++)
            {
                b[i] = (float)rng.NextDouble(-0.5, 0.5);
            }
        }

        // X: (B, In) uniform in [−1, 1); Y: (B, K) one-hot of a uniform label, or the 0/1 label when K = 1
        int inputs = spec.Inputs, k = spec.Outputs;
        var x = new float[rows * inputs];
        var y = new float[rows * k];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (float)rng.NextDouble(-1, 1);
        }

        for (var r = 0; r < rows; r++)
        {
            var label = rng.NextInt(Math.Max(k, 2));
            y[k == 1 ? r : (r * k) + label] = k == 1 ? label : 1;
        }

        return Run(spec, seed, p32, x, y, rows, options);
    }

    /// <summary>The check on given parameters, inputs X (B, In) and targets Y (B, K); <paramref name="seed"/> picks the sample.</summary>
    internal static GradientCheckReport Run(ModelSpec spec, long seed, float[] p32, ReadOnlySpan<float> x, ReadOnlySpan<float> y, int rows, GradientCheckOptions options)
    {
        var layout = spec.Layout;
        var m64 = new Mlp<double>(spec, rows);
        var m32 = new Mlp<float>(spec, rows);
        for (var i = 0; i < rows * spec.Inputs; i++)
        {
            m32.Input[i] = x[i];
            m64.Input[i] = x[i];
        }

        for (var i = 0; i < rows * spec.Outputs; i++)
        {
            m32.Target[i] = y[i];
            m64.Target[i] = y[i];
        }

        var p64 = new double[p32.Length];
        for (var i = 0; i < p32.Length; i++)
        {
            p64[i] = p32[i];
        }

        // analytic, float64 and float32:  g = (Σ_rows ∂loss/∂w) / B
        var g64 = new double[p64.Length];
        m64.Forward(p64, rows);
        m64.LossAndOutputDelta(rows);
        m64.Backward(p64, g64, rows);
        for (var i = 0; i < g64.Length; i++)
        {
            g64[i] /= rows;
        }

        var g32 = new float[p32.Length];
        m32.Forward(p32, rows);
        m32.LossAndOutputDelta(rows);
        m32.Backward(p32, g32, rows);
        for (var i = 0; i < g32.Length; i++)
        {
            g32[i] /= rows;
        }

        // the relu sign pattern at w, to detect kinks crossed by w ± h
        var kinky = spec.Hidden is Activation.Relu or Activation.LeakyRelu && spec.LayerCount > 1;
        var pattern = kinky ? SignPattern(m64, rows) : [];

        // rounding noise of a central difference ≈ ε·|J|/h: the floor keeps relative errors above it
        var objective = Objective(m64, p64, rows);
        var floor = Math.Max(options.Tiny, 10 * Epsilon * Math.Max(Math.Abs(objective), 1) / (options.Step * options.Threshold));
        var sample = Sample(p64.Length, options.MaxParameters, DeterministicRandom.For(seed, Stream, 1));
        var tensors = new List<TensorGradientError>(2 * spec.LayerCount);
        for (var l = 0; l < spec.LayerCount; l++)
        {
            tensors.Add(CheckTensor(ParameterLayout.WeightName(l), layout.WeightOffset(l), layout.WeightLength(l)));
            tensors.Add(CheckTensor(ParameterLayout.BiasName(l), layout.BiasOffset(l), layout.BiasLength(l)));
        }

        return new GradientCheckReport(spec, seed, rows, options, objective, floor, tensors);

        TensorGradientError CheckTensor(string name, int offset, int length)
        {
            int checkedCount = 0, skipped = 0;
            double maxRel = 0, maxAbs = 0, maxGrad = 0, maxF32Diff = 0;
            for (var i = offset; i < offset + length; i++)
            {
                maxGrad = Math.Max(maxGrad, Math.Abs(g64[i]));
                maxF32Diff = Math.Max(maxF32Diff, Math.Abs(g32[i] - g64[i]));
            }

            var from = LowerBound(sample, offset);
            for (var s = from; s < sample.Length && sample[s] < offset + length; s++)
            {
                var p = sample[s];
                var w = p64[p];
                double plus = w + options.Step, minus = w - options.Step;

                // n = (J(w + h) − J(w − h)) / ((w + h) − (w − h))   (the step actually taken, not 2h)
                p64[p] = plus;
                var jPlus = Objective(m64, p64, rows);
                var flipped = kinky && !SignPattern(m64, rows).AsSpan().SequenceEqual(pattern);
                p64[p] = minus;
                var jMinus = Objective(m64, p64, rows);
                flipped |= kinky && !SignPattern(m64, rows).AsSpan().SequenceEqual(pattern);
                p64[p] = w;
                if (flipped)
                {
                    skipped++;
                    continue;
                }

                var numerical = (jPlus - jMinus) / (plus - minus);
                var analytic = g64[p];
                var abs = Math.Abs(analytic - numerical);
                var rel = abs / Math.Max(Math.Abs(analytic) + Math.Abs(numerical), floor);
                maxAbs = Math.Max(maxAbs, abs);
                maxRel = Math.Max(maxRel, double.IsNaN(rel) ? double.PositiveInfinity : rel);
                checkedCount++;
            }

            var f32 = maxF32Diff / Math.Max(maxGrad, options.Tiny);
            return new TensorGradientError(name, length, checkedCount, skipped, maxRel, maxAbs, maxGrad, double.IsNaN(f32) ? double.PositiveInfinity : f32);
        }
    }

    /// <summary>J(w) = (1/B) Σ_rows loss, in float64.</summary>
    private static double Objective(Mlp<double> mlp, double[] parameters, int rows)
    {
        mlp.Forward(parameters, rows);
        return mlp.LossAndOutputDelta(rows).LossSum / rows;
    }

    /// <summary>Which hidden activations are positive (relu's on/off, leaky-relu's branch), after a forward pass.</summary>
    private static bool[] SignPattern(Mlp<double> mlp, int rows)
    {
        var spec = mlp.Spec;
        var n = 0;
        for (var l = 0; l < spec.LayerCount - 1; l++)
        {
            n += rows * spec.Sizes[l + 1];
        }

        var pattern = new bool[n];
        var k = 0;
        for (var l = 0; l < spec.LayerCount - 1; l++)
        {
            foreach (var a in mlp.Activations(l, rows))
            {
                pattern[k++] = a > 0;
            }
        }

        return pattern;
    }

    // All of 0..n-1 when n ≤ max, else a seeded sample of max distinct indices (partial Fisher–Yates), sorted.
    private static int[] Sample(int n, int max, DeterministicRandom rng)
    {
        var all = new int[n];
        for (var i = 0; i < n; i++)
        {
            all[i] = i;
        }

        if (n <= max)
        {
            return all;
        }

        for (var i = 0; i < max; i++)
        {
            var j = i + rng.NextInt(n - i);
            (all[i], all[j]) = (all[j], all[i]);
        }

        var sample = all[..max];
        Array.Sort(sample);
        return sample;
    }

    private static int LowerBound(int[] sorted, int value)
    {
        var i = Array.BinarySearch(sorted, value);
        return i >= 0 ? i : ~i;
    }
}
