// Where a step's time went, best effort, for the --metrics columns and the live view: from dispatch to the last
// accepted shard (the update itself is not part of it), split into the slowest worker's compute, serialization (the
// coordinator node's tensor serializer plus the slowest worker's), transport (the rest of the critical worker's round
// trip) and wait (whatever is left: stragglers, reassignments). Leaves out: the clock (the machine passes timestamps).
namespace DistBackprop.Cluster.Coordination;

/// <summary>A step's time split, in milliseconds.</summary>
public readonly record struct StepTimes(double WallMs, double ComputeMs, double SerializeMs, double TransportMs, double WaitMs);

/// <summary>Collects one step's arrivals. Timestamps are those of the machine's TimeProvider.</summary>
public sealed class StepTimer(long timestampFrequency, Func<TimeSpan>? serializerElapsed)
{
    private readonly Dictionary<WorkerHandle, (double ComputeMs, long Arrival, double SerializeMs)> _timing = new();
    private TimeSpan _serializerAtDispatch;

    /// <summary>A step was dealt.</summary>
    public void Begin()
    {
        _timing.Clear();
        _serializerAtDispatch = serializerElapsed?.Invoke() ?? TimeSpan.Zero;
    }

    /// <summary>An accepted shard from <paramref name="worker"/> arrived at <paramref name="now"/>.</summary>
    public void Arrived(WorkerHandle worker, double computeMs, double serializeMs, long now)
    {
        _timing.TryGetValue(worker, out var t);
        _timing[worker] = (t.ComputeMs + computeMs, now, Math.Max(t.SerializeMs, serializeMs));
    }

    /// <summary>The split of the step dealt at <paramref name="dispatch"/> whose last shard arrived at <paramref name="now"/>.</summary>
    public StepTimes Finish(long dispatch, long now)
    {
        var wall = Ms(now - dispatch);
        double compute = 0, workerSerialize = 0, criticalCompute = 0;
        long lastArrival = 0;
        foreach (var (_, t) in _timing)
        {
            compute = Math.Max(compute, t.ComputeMs);
            workerSerialize = Math.Max(workerSerialize, t.SerializeMs);
            if (t.Arrival >= lastArrival)
            {
                lastArrival = t.Arrival;
                criticalCompute = t.ComputeMs;
            }
        }

        var serialize = ((serializerElapsed?.Invoke() ?? TimeSpan.Zero) - _serializerAtDispatch).TotalMilliseconds + workerSerialize;
        var transport = Math.Max(0, Ms(lastArrival - dispatch) - criticalCompute - serialize);
        var wait = Math.Max(0, wall - compute - serialize - transport);
        return new StepTimes(wall, compute, serialize, transport, wait);
    }

    private double Ms(long ticks) => ticks * 1000.0 / timestampFrequency;
}
