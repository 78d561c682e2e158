// The learning rate of each optimizer step, as torch.optim.lr_scheduler computes it when the scheduler is stepped once
// per optimizer step: LinearLR(start_factor = f, total_iters = W) for the first W steps, then StepLR(step_size = N, gamma = G)
// or CosineAnnealingLR(T_max = T − W, eta_min), in closed form (t = optimizer-step index from 0; step t uses lr_t;
// T = the run's total steps; α = --lr):
//   warmup, t < W:        lr_t = α·(f + (1 − f)·t/W)
//   constant:             lr_t = α
//   step,   t ≥ W:        lr_t = α·G^⌊(t − W)/N⌋
//   cosine, t ≥ W:        lr_t = lr_min + (α − lr_min)·(1 + cos(π·(t − W)/(T − W)))/2
// Computed in float64 and rounded once to float32 (torch keeps lr as a Python float and the kernels take it as float32).
// A constant schedule without warmup returns α itself, so such runs keep their bits. Leaves out: applying the rate
// (Optimizer.BeginStep) and parsing the options (the Host).
using System.Globalization;

namespace DistBackprop.Core.Training;

public enum LrScheduleKind
{
    Constant,
    Step,
    Cosine,
}

/// <summary>
/// A schedule's settings, defaults as torch's: gamma 0.1 (StepLR), eta_min 0 (CosineAnnealingLR), start factor 1/3
/// (LinearLR). <see cref="StepSize"/> is needed by <see cref="LrScheduleKind.Step"/> only.
/// </summary>
public sealed record LrSchedule(
    LrScheduleKind Kind = LrScheduleKind.Constant,
    int StepSize = 0,
    double Gamma = 0.1,
    double MinLr = 0,
    int WarmupSteps = 0,
    double WarmupStartFactor = 1.0 / 3)
{
    public static LrSchedule Constant { get; } = new();

    /// <summary>True when every step uses --lr unchanged.</summary>
    public bool IsConstant => Kind == LrScheduleKind.Constant && WarmupSteps == 0;

    public static string NameOf(LrScheduleKind kind) => kind.ToString().ToLowerInvariant();

    public static bool TryParseKind(string? s, out LrScheduleKind kind) =>
        Enum.TryParse(s?.Trim(), ignoreCase: true, out kind) && Enum.IsDefined(kind) && !int.TryParse(s, out _);

    /// <summary>lr_t for the step with 0-based index <paramref name="t"/> of a run of <paramref name="totalSteps"/> steps (long.MaxValue: unbounded).</summary>
    public float Rate(float lr, long t, long totalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(t);
        if (IsConstant)
        {
            return lr;
        }

        double a = lr;
        if (t < WarmupSteps)
        {
            // LinearLR: factor f at t = 0, rising linearly to 1 at t = W
            return (float)(a * (WarmupStartFactor + ((1 - WarmupStartFactor) * t / WarmupSteps)));
        }

        var s = t - WarmupSteps;
        switch (Kind)
        {
            case LrScheduleKind.Step:
                return (float)(a * Math.Pow(Gamma, s / StepSize));
            case LrScheduleKind.Cosine:
                var span = totalSteps - WarmupSteps;
                return (float)(MinLr + ((a - MinLr) * (1 + Math.Cos(Math.PI * s / span)) / 2));
            default:
                return lr;
        }
    }

    /// <summary>
    /// Checks the settings, and against the run's length <paramref name="totalSteps"/> when known (long.MaxValue: unbounded; null:
    /// not known yet); a message naming the options, or null. The cosine schedule needs a bounded run (its T_max is T − W) and
    /// warmup must end before the run does.
    /// </summary>
    public string? Validate(long? totalSteps)
    {
        var g = CultureInfo.InvariantCulture;
        if (WarmupSteps < 0)
        {
            return $"--warmup-steps must be 0 or more (got {WarmupSteps})";
        }

        if (!(WarmupStartFactor > 0 && WarmupStartFactor <= 1))
        {
            return $"--warmup-start-factor must be in (0, 1] (got {WarmupStartFactor.ToString("R", g)})";
        }

        if (Kind == LrScheduleKind.Step && StepSize < 1)
        {
            return $"--lr-schedule step needs --lr-step-size N ≥ 1 (got {StepSize})";
        }

        if (!(Gamma > 0) || double.IsInfinity(Gamma))
        {
            return $"--lr-gamma must be a finite number > 0 (got {Gamma.ToString("R", g)})";
        }

        if (!(MinLr >= 0) || double.IsInfinity(MinLr))
        {
            return $"--lr-min must be a finite number ≥ 0 (got {MinLr.ToString("R", g)})";
        }

        if (Kind == LrScheduleKind.Cosine && totalSteps == long.MaxValue)
        {
            return "--lr-schedule cosine needs a bounded run: give --epochs or --max-steps (T_max = total steps − --warmup-steps)";
        }

        if (WarmupSteps > 0 && totalSteps is long t && t != long.MaxValue && WarmupSteps >= t)
        {
            return $"--warmup-steps {WarmupSteps} must be less than the run's {totalSteps} steps (--epochs/--max-steps)";
        }

        return null;
    }

    /// <summary>Metadata strings for checkpoints and model files (only what differs from a constant rate).</summary>
    public IEnumerable<KeyValuePair<string, string>> ToMetadata()
    {
        var g = CultureInfo.InvariantCulture;
        yield return new("lr_schedule", NameOf(Kind));
        if (Kind == LrScheduleKind.Step)
        {
            yield return new("lr_step_size", StepSize.ToString(g));
            yield return new("lr_gamma", Gamma.ToString("R", g));
        }

        if (Kind == LrScheduleKind.Cosine)
        {
            yield return new("lr_min", MinLr.ToString("R", g));
        }

        if (WarmupSteps > 0)
        {
            yield return new("warmup_steps", WarmupSteps.ToString(g));
            yield return new("warmup_start_factor", WarmupStartFactor.ToString("R", g));
        }
    }

    /// <summary>"cosine, warmup 100 steps from 1/3·lr" for the log line; empty for a constant rate.</summary>
    public string Describe()
    {
        if (IsConstant)
        {
            return string.Empty;
        }

        var g = CultureInfo.InvariantCulture;
        var main = Kind switch
        {
            LrScheduleKind.Step => string.Create(g, $"step schedule (×{Gamma:R} every {StepSize} steps)"),
            LrScheduleKind.Cosine => string.Create(g, $"cosine schedule to {MinLr:R}"),
            _ => "constant",
        };
        return WarmupSteps > 0 ? string.Create(g, $"{main}, warmup {WarmupSteps} steps from {WarmupStartFactor:G4}·lr") : main;
    }
}
