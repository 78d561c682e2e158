// A clock the simulation moves by hand: the coordinator's state machine reads it for deadlines and timings, and
// nothing in a schedule ever sleeps. Leaves out: timers (the simulation calls Tick itself).
namespace DistBackprop.Cluster.Tests.Simulation;

internal sealed class SimulatedTime : TimeProvider
{
    /// <summary>Timestamps count microseconds.</summary>
    public const long Frequency = 1_000_000;

    private long _now = 1;

    public override long TimestampFrequency => Frequency;

    public override long GetTimestamp() => _now;

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.UnixEpoch.AddTicks(_now * 10);

    public void Advance(TimeSpan by) => _now += Math.Max(0, (long)(by.TotalSeconds * Frequency));
}
