// The calibrated model extended beyond the bed: real Ethernet links (1 and 10 Gbit/s), one host per worker, weak
// scaling (each worker keeps the workload's per-worker batch; B = that · N, S = N), star vs the tree of fan-in K.
// A link of R bit/s carries R/8 · 1448/1538 TCP payload bytes/s at MTU 1500 (of 1538 bytes on the wire per segment:
// preamble 8, Ethernet header 14, FCS 4, inter-frame gap 12, IP 20, TCP 20 + timestamps 12).
// Leaves out: the formula (ScalingModel) and the constants' fit (ScalingFit).
namespace DistBackprop.Host.Scaling;

/// <summary>A workload extended to many workers: P, its per-worker batch and its measured compute per row.</summary>
public sealed record ProjectedWorkload(string Name, long Parameters, int BatchPerWorker, double RowSeconds);

/// <summary>One point of a projected curve.</summary>
public sealed record ProjectedPoint(int Workers, StepPrediction Step, int Batch)
{
    public double SamplesPerSecond => Batch / Step.StepSeconds;

    /// <summary>Compute time over step time: 1 when nothing but the workers' compute costs time.</summary>
    public double Efficiency => Step.Compute / Step.StepSeconds;
}

public static class ScalingProjection
{
    /// <summary>TCP payload bytes per byte of link capacity at MTU 1500 with TCP timestamps: 1448 / 1538.</summary>
    public const double EthernetPayload = 1448.0 / 1538.0;

    /// <summary>The worker counts of the tables: 8 … 256.</summary>
    public static readonly IReadOnlyList<int> TableWorkers = [8, 16, 32, 64, 128, 256];

    /// <summary>The model's inputs for <paramref name="workers"/> workers of <paramref name="w"/> on <paramref name="linkBitsPerSecond"/> links; <paramref name="fanIn"/> null = star.</summary>
    public static ScalingInputs Inputs(ProjectedWorkload w, int workers, int? fanIn, double linkBitsPerSecond, double latencySeconds, double addSecondsPerFloat)
    {
        ArgumentNullException.ThrowIfNull(w);
        return new ScalingInputs(w.Parameters, workers, fanIn ?? Math.Max(2, workers), w.BatchPerWorker * workers, workers, w.RowSeconds,
            linkBitsPerSecond / 8 * EthernetPayload, latencySeconds, double.PositiveInfinity, addSecondsPerFloat);
    }

    public static ProjectedPoint Point(ProjectedWorkload w, int workers, int? fanIn, double linkBitsPerSecond, double latencySeconds,
        double addSecondsPerFloat, ScalingConstants constants)
    {
        var x = Inputs(w, workers, fanIn, linkBitsPerSecond, latencySeconds, addSecondsPerFloat);
        return new ProjectedPoint(workers, ScalingModel.Predict(x, constants), x.Batch);
    }

    /// <summary>The curve for N = 1 … <paramref name="maxWorkers"/>.</summary>
    public static IReadOnlyList<ProjectedPoint> Curve(ProjectedWorkload w, int? fanIn, double linkBitsPerSecond, double latencySeconds,
        double addSecondsPerFloat, ScalingConstants constants, int maxWorkers = 256) =>
        [.. Enumerable.Range(1, maxWorkers).Select(n => Point(w, n, fanIn, linkBitsPerSecond, latencySeconds, addSecondsPerFloat, constants))];
}
