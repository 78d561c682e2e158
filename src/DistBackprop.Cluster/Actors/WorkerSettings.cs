// What a worker starts with: its id, threads, and optionally its own model and data (else it adopts
// the coordinator's at registration). Leaves out: Akka configuration and cluster joining (Hosting).
using Akka.Actor;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;

namespace DistBackprop.Cluster.Actors;

/// <summary>Settings of a <see cref="Worker"/>.</summary>
public sealed record WorkerSettings
{
    /// <summary>A name for logs, unique per run (e.g. "local-2" or "host:port"); also the dealing order.</summary>
    public required string WorkerId { get; init; }

    public string KernelPath { get; init; } = Core.Tensors.Gemm.KernelPath;

    /// <summary>Kernel threads for this worker's shards (results do not depend on it).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The architecture the worker was told to use (`--layers` …), or null to adopt the coordinator's.</summary>
    public ModelDescriptor? Model { get; init; }

    /// <summary>The training set the worker was given (in-process, or `--data`), or null to load the coordinator's.</summary>
    public Dataset? Dataset { get; init; }

    /// <summary>Loads the coordinator's training set when <see cref="Dataset"/> is null (host: DatasetLoader.Load(…).Train).
    /// Runs on a thread-pool thread.</summary>
    public Func<DatasetDescriptor, Dataset>? LoadDataset { get; init; }

    /// <summary>The coordinator, in-process. Null: find it through cluster membership (a member with role "coordinator").</summary>
    public IActorRef? Coordinator { get; init; }

    /// <summary>Called once if the coordinator refuses this worker (the host exits with code 2).</summary>
    public Action<string>? OnRefused { get; init; }

    /// <summary>Cluster mode: called when the coordinator this worker served is gone (the host rebuilds the actor
    /// system to join the next one, see ClusterWorkerHost). Null: keep waiting in this actor system.</summary>
    public Action? OnCoordinatorLost { get; init; }

    /// <summary>How often registration is re-sent until accepted.</summary>
    public TimeSpan RegisterRetry { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often "still looking for the coordinator" is logged.</summary>
    public TimeSpan SearchWarning { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Cluster mode: on coordinated shutdown (host stopped, Cluster.Leave) how long to wait for the coordinator to
    /// take this worker's shards back before leaving anyway.</summary>
    public TimeSpan LeaveTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Cluster mode: this node's TLS credentials for the tensor channel (null: plain TCP, --insecure). Set by ClusterWorkerHost from the node options.</summary>
    public Security.NodeCredentials? Tls { get; init; }

    /// <summary>Tests only: called with the socket of each tensor channel the worker opens (e.g. to cut it mid-step).</summary>
    internal Action<System.Net.Sockets.Socket>? ChannelConnected { get; init; }

    /// <summary>Tests only: called on the compute thread before each shard (step, shard), e.g. to hold a worker mid-step.</summary>
    internal Action<long, int>? BeforeShard { get; init; }
}
