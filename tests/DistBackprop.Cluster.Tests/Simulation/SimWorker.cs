// A simulated worker for the protocol simulation: what the coordinator's state machine can observe of a real one —
// it registers, says ready (and opens its channel), computes the shards it is dealt with the weights version it
// holds (the same Core call as a real worker), declines work for weights it lacks — plus the faults a schedule
// gives it: crash, unreachable, silent, channel lost, leaving, forgetting its weights. Messages in flight either
// way are queues the scheduler delivers from, one message per event. Leaves out: the scheduler (ProtocolWorld).
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Tests.Simulation;

internal sealed class SimWorker(int handle, string id, bool bad)
{
    public int Handle { get; set; } = handle;

    public string Id { get; } = id;

    /// <summary>Registers with another architecture: must be refused.</summary>
    public bool Bad { get; } = bad;

    /// <summary>What it sent, not yet delivered to the coordinator (FIFO: one sender, one receiver).</summary>
    public Queue<(string What, Action Deliver)> ToCoordinator { get; } = new();

    /// <summary>What the coordinator sent it, not yet delivered.</summary>
    public Queue<(string What, Action Deliver)> ToWorker { get; } = new();

    public bool Alive { get; set; } = true;

    public bool Left { get; set; }

    public bool Refused { get; set; }

    /// <summary>Cut off from the coordinator: its messages wait, messages to it may be lost.</summary>
    public bool Unreachable { get; set; }

    /// <summary>Holds the work it gets without answering (a stalled process).</summary>
    public bool Silent { get; set; }

    /// <summary>Has an accepted registration (cleared when its channel breaks: it registers again).</summary>
    public bool Registered { get; set; }

    public bool Watched { get; set; }

    /// <summary>The coordinator has forgotten it (refused, left, dead): its replies come from an unknown sender now.</summary>
    public bool Forgotten { get; set; }

    public long HeldVersion { get; set; } = -1;

    public float[]? Weights { get; set; }

    /// <summary>Work received while silent, with the role it came under (null: the star).</summary>
    public List<(ComputeShards Work, SimRole? Role)> HeldWork { get; } = new();

    public ShardComputed? LastReply { get; set; }

    /// <summary>Its place in the current step's aggregation tree (null: the star).</summary>
    public SimRole? Role { get; set; }

    /// <summary>Weights a parent relayed before the worker's role arrived.</summary>
    public (long Step, long Version, float[] Weights, SimWorker From)? EarlyRelay { get; set; }

    public ShardComputed? OlderReply { get; set; }

    /// <summary>Can still do useful work for the run.</summary>
    public bool Good => Alive && !Left && !Refused && !Bad;

    public override string ToString() => $"{Id}#{Handle}";
}
