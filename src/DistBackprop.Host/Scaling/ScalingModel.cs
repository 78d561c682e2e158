// The scaling model of docs/scaling.md: the time of one data-parallel step and the bytes through the coordinator's
// link, for the star (every worker sends its gradient to, and gets the weights from, the coordinator) and for the
// aggregation tree of --fan-in K (the coordinator talks to at most K aggregators, each relays to at most K children,
// in the shape AggregationPlanner really builds: TreeShape). Plain arithmetic on measured inputs and fitted constants.
// Leaves out: fitting the constants (ScalingFit), the bed's measurements (BedMeasurement), the figure (ScalingFigure).
namespace DistBackprop.Host.Scaling;

/// <summary>
/// One configuration: the model (P parameters), the run (B, S), the cluster (N workers, fan-in K, link rate, latency)
/// and the machine (compute per row, cores the workers share, reduction and per-byte CPU costs).
/// </summary>
/// <param name="Parameters">P, weights and biases (a weight copy and a gradient are 4P bytes each).</param>
/// <param name="Workers">N live workers.</param>
/// <param name="FanIn">K; K ≥ N is the star.</param>
/// <param name="Batch">B, the global batch.</param>
/// <param name="Shards">S, shards per step.</param>
/// <param name="RowSeconds">Forward + backward time of one row on one core (1 / `bench --threads 1` samples/s).</param>
/// <param name="BytesPerSecond">β, each link's rate per direction, in payload bytes/s as the interface counters see them;
/// <see cref="double.PositiveInfinity"/> for an unlimited link.</param>
/// <param name="LatencySeconds">λ, one-way latency of one hop.</param>
/// <param name="Cores">Cores the workers' compute shares (the bed: the machine's; a real cluster: one host each, ∞).</param>
/// <param name="AddSecondsPerFloat">One float addition of the reduction (a measured machine figure).</param>
public sealed record ScalingInputs(
    long Parameters,
    int Workers,
    int FanIn,
    int Batch,
    int Shards,
    double RowSeconds,
    double BytesPerSecond,
    double LatencySeconds,
    double Cores,
    double AddSecondsPerFloat)
{
    /// <summary>4P: one weight copy or one gradient.</summary>
    public double CopyBytes => 4.0 * Parameters;

    /// <summary>True when the coordinator talks to every worker (K ≥ N).</summary>
    public bool IsStar => FanIn >= Workers;

    /// <summary>The step's tree as the coordinator builds it (AggregationPlanner): levels, copies on the critical path.</summary>
    public TreeShape Shape => TreeShape.Of(Workers, Shards, FanIn);

    /// <summary>The coordinator's children: N in the star, the pieces (min(K, S)) with the tree.</summary>
    public int CoordinatorChildren => Shape.CoordinatorChildren;

    /// <summary>Levels of workers below the coordinator on the deepest path: 1 for the star.</summary>
    public int Depth => Shape.Levels;

    /// <summary>Q: copies per direction on the critical path (N for the star; TreeShape.PathCopies).</summary>
    public int PathCopies => Shape.PathCopies;

    /// <summary>Rows the most loaded worker computes: ⌈S/N⌉ shards of ⌈B/S⌉ rows.</summary>
    public long RowsPerWorker => CeilDiv(Shards, Workers) * CeilDiv(Batch, Shards);

    /// <summary>Checks every input (ArgumentException naming it).</summary>
    public void Validate()
    {
        Require(Parameters > 0, nameof(Parameters), "must be positive");
        Require(Workers > 0, nameof(Workers), "must be positive");
        Require(FanIn >= 2, nameof(FanIn), "must be at least 2");
        Require(Batch > 0, nameof(Batch), "must be positive");
        Require(Shards > 0, nameof(Shards), "must be positive");
        Require(RowSeconds >= 0 && double.IsFinite(RowSeconds), nameof(RowSeconds), "must be finite and ≥ 0");
        Require(BytesPerSecond > 0, nameof(BytesPerSecond), "must be positive (∞ for an unlimited link)");
        Require(LatencySeconds >= 0 && double.IsFinite(LatencySeconds), nameof(LatencySeconds), "must be finite and ≥ 0");
        Require(Cores > 0, nameof(Cores), "must be positive (∞ for one host per worker)");
        Require(AddSecondsPerFloat >= 0 && double.IsFinite(AddSecondsPerFloat), nameof(AddSecondsPerFloat), "must be finite and ≥ 0");
    }

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;

    private static void Require(bool ok, string name, string what)
    {
        if (!ok)
        {
            throw new ArgumentException($"{name} {what}", name);
        }
    }
}

/// <summary>The fitted constants (docs/scaling.md, "The formula"); all ≥ 0.</summary>
/// <param name="FixedSeconds">a: per step whatever N and P (the step's bookkeeping, Akka hops, scheduling).</param>
/// <param name="SecondsPerParameter">u: per parameter and step at the coordinator (÷ B, finite check, optimizer, copies).</param>
/// <param name="SecondsPerWorker">e: per live worker and step (its control messages, dealing, the round's bookkeeping).</param>
/// <param name="LinkPasses">b: how many times a tensor byte's link time is paid on the critical path (1: sending the
/// weights and receiving the gradients overlap, full duplex; 2: one after the other).</param>
/// <param name="CopiesOnPath">c: link times of one copy (4P·h/β) paid per step whatever N (e.g. a copy that must arrive
/// whole before anything else can start).</param>
/// <param name="WireOverhead">h: interface-counter bytes per tensor byte (TCP/IP and TLS framing, the other direction's ACKs).</param>
/// <param name="ControlBytesPerWorker">m: bytes per coordinator child and step and direction besides the tensors.</param>
/// <param name="SecondsPerLevel">r: each relay level of the tree, besides its transfers (an aggregator's hop, its adds' start).</param>
/// <param name="CpuSecondsPerByte">k: the coordinator's time per tensor byte through its link that does not shrink with
/// the link's rate (TLS, copies, the TCP stack), added to the link time; told apart from b by runs at two rates.</param>
/// <param name="RelaySecondsPerByte">g: per byte a worker relays to, or takes from, another worker on the critical path
/// (weights down, partial sums up: Akka messages over TLS, not the tensor channel), besides its link time.</param>
public sealed record ScalingConstants(
    double FixedSeconds,
    double SecondsPerParameter,
    double SecondsPerWorker,
    double LinkPasses,
    double CopiesOnPath,
    double WireOverhead,
    double ControlBytesPerWorker,
    double SecondsPerLevel,
    double CpuSecondsPerByte,
    double RelaySecondsPerByte = 0);

/// <summary>The terms of one step's time, in seconds, and the coordinator's bytes per step and direction.</summary>
public sealed record StepPrediction(
    double Fixed,
    double Update,
    double PerWorker,
    double Compute,
    double Transfer,
    double Latency,
    double Reduction,
    double Relay,
    double CoordinatorBytesPerDirection)
{
    /// <summary>The step: the sum of the terms.</summary>
    public double StepSeconds => Fixed + Update + PerWorker + Compute + Transfer + Latency + Reduction + Relay;

    /// <summary>Received plus sent at the coordinator's interface.</summary>
    public double CoordinatorBytes => 2 * CoordinatorBytesPerDirection;
}

public static class ScalingModel
{
    /// <summary>
    /// One step of <paramref name="x"/> under <paramref name="c"/>, with D levels, Q copies on the critical path
    /// (star: D = 1, Q = N) and Kc children of the coordinator (star: N; tree: the pieces, min(K, S)):
    /// <code>
    /// T = a + u·P + e·N                                      fixed, update, per worker
    ///   + ⌈S/N⌉·⌈B/S⌉·t_row·max(1, min(N, S)/cores)          the most loaded worker's compute
    ///   + (b·Q + c)·4P·h/β + Q·4P·k                          Q copies down and Q sums up along the critical path
    ///   + 2·D·λ + Q·P·t_add + (D − 1)·r + 2·(Q − Kc)·4P·g    latency, the adds along the path, relay hops and bytes
    /// bytes at the coordinator, each direction = Kc·(h·4P + m)
    /// </code>
    /// </summary>
    public static StepPrediction Predict(ScalingInputs x, ScalingConstants c)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(c);
        x.Validate();
        var children = x.CoordinatorChildren;
        var depth = x.Depth;
        var path = x.PathCopies;
        var busy = Math.Min(x.Workers, x.Shards);
        var compute = x.RowsPerWorker * x.RowSeconds * Math.Max(1.0, busy / x.Cores);
        return new StepPrediction(
            Fixed: c.FixedSeconds,
            Update: c.SecondsPerParameter * x.Parameters,
            PerWorker: c.SecondsPerWorker * x.Workers,
            Compute: compute,
            Transfer: (((c.LinkPasses * path) + c.CopiesOnPath) * x.CopyBytes * c.WireOverhead / x.BytesPerSecond)
                + (path * x.CopyBytes * c.CpuSecondsPerByte),
            Latency: 2.0 * depth * x.LatencySeconds,
            Reduction: (double)path * x.Parameters * x.AddSecondsPerFloat,
            Relay: ((depth - 1) * c.SecondsPerLevel) + (2.0 * (path - children) * x.CopyBytes * c.RelaySecondsPerByte),
            CoordinatorBytesPerDirection: children * ((c.WireOverhead * x.CopyBytes) + c.ControlBytesPerWorker));
    }
}
