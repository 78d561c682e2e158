// The steady-state figure of one bench run: step completions are timestamped as they happen; the
// warm-up (the first WarmupSteps steps, and every step finished in the first WarmupFraction of the
// duration, capped at MaxWarmup) is dropped, and samples/s = samples of the later steps ÷ time from
// the end of the warm-up to the last step. The step-time split is the mean over the same steps.
// Leaves out: where the steps come from (LocalBench: the coordinator's StepReports; ClusterBench:
// the coordinator's metrics file).
using System.Diagnostics;

namespace DistBackprop.Host.Bench;

/// <summary>Mean milliseconds per step in each phase (SPEC §6 metrics columns).</summary>
public readonly record struct StepSplit(double ComputeMs, double SerializeMs, double TransportMs, double WaitMs);

/// <summary>One combination's outcome.</summary>
public sealed record BenchResult(BenchCase Case, double SamplesPerSecond, long MeasuredSteps, double StepMs, StepSplit Split)
{
    public double Gflops => Case.Workload.Gflops(SamplesPerSecond);
}

public sealed class SteadyState
{
    public const int WarmupSteps = 3;
    public const double WarmupFraction = 0.2;
    public static readonly TimeSpan MaxWarmup = TimeSpan.FromSeconds(2);

    private readonly TimeSpan _duration;
    private readonly TimeSpan _warmup;
    private long _start;
    private long _steps;
    private long _markTimestamp;
    private long _lastTimestamp;
    private long _measuredSteps;
    private long _measuredSamples;
    private double _compute, _serialize, _transport, _wait;

    public SteadyState(TimeSpan duration)
    {
        _duration = duration;
        _warmup = TimeSpan.FromTicks(Math.Min(MaxWarmup.Ticks, (long)(duration.Ticks * WarmupFraction)));
    }

    /// <summary>True once the duration has passed since the first step and at least two steps were measured.</summary>
    public bool Done => _measuredSteps >= 2 && _start != 0 && Stopwatch.GetElapsedTime(_start, _lastTimestamp) >= _duration;

    /// <summary>Records one completed step at <paramref name="timestamp"/> (Stopwatch ticks; steps seen by one poll share it).</summary>
    public void Step(long timestamp, int samples, StepSplit split)
    {
        if (_start == 0)
        {
            _start = timestamp;
        }

        _steps++;
        _lastTimestamp = timestamp;
        var inWarmup = _markTimestamp == 0
            && (_steps <= WarmupSteps || Stopwatch.GetElapsedTime(_start, timestamp) < _warmup);
        if (inWarmup)
        {
            return;
        }

        if (_markTimestamp == 0)
        {
            // This step ends the warm-up: measure from here on.
            _markTimestamp = timestamp;
            return;
        }

        _measuredSteps++;
        _measuredSamples += samples;
        _compute += split.ComputeMs;
        _serialize += split.SerializeMs;
        _transport += split.TransportMs;
        _wait += split.WaitMs;
    }

    public BenchResult Result(BenchCase c)
    {
        if (_measuredSteps == 0)
        {
            throw new InvalidOperationException($"{c.Workload.Name}: no steps after the warm-up were measured; try a longer --seconds");
        }

        var seconds = Stopwatch.GetElapsedTime(_markTimestamp, _lastTimestamp).TotalSeconds;
        var n = (double)_measuredSteps;
        return new BenchResult(c, _measuredSamples / seconds, _measuredSteps, seconds * 1000 / n,
            new StepSplit(_compute / n, _serialize / n, _transport / n, _wait / n));
    }
}
