// How weights and gradients travel between the coordinator and its workers: inside the Akka messages (Akka, the
// fallback and the only choice in local mode, where arrays are passed by reference) or over a dedicated TCP
// connection per worker (Tcp, the cluster default; docs/tensor-channel.md). The coordinator talks to one
// ICoordinatorTransport and the channel threads talk back to the actors with the messages below, so the round
// protocol (GradientRound, stale/duplicate handling) is the same whatever the transport.
// Leaves out: sockets (TcpCoordinatorChannel, TcpWorkerChannel) and the frame format (TensorFrame.cs).
using Akka.Actor;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;

namespace DistBackprop.Cluster.Channel;

/// <summary>DistBackprop__Cluster__TensorTransport (`--tensor-transport tcp|akka`).</summary>
public enum TensorTransportKind
{
    /// <summary>A TCP connection per worker for weights and gradients; Akka for everything else (cluster default).</summary>
    Tcp,

    /// <summary>Weights and gradients inside Akka messages (the fallback; always so in local mode).</summary>
    Akka,
}

/// <summary>Where the coordinator listens for tensor channels. <see cref="Port"/> 0 = any free port; <paramref name="AnyPortIfTaken"/>:
/// when Port is in use, take any free one (the default port, Akka port + 1, is only a convention: workers are told the real one).</summary>
public sealed record TensorChannelOptions(string BindHost, int Port, string? PublicHost = null, bool AnyPortIfTaken = false)
{
    /// <summary>The coordinator's credentials: channels are TLS with a worker client certificate (null: plain TCP, --insecure).</summary>
    public NodeCredentials? Tls { get; init; }

    /// <summary>The node's service port, already listening (it also serves enrolment); null: the channel opens its own.</summary>
    public ServicePort? SharedPort { get; init; }
}

/// <summary>The coordinator's side of the tensor transport. All members are called on the coordinator's thread.</summary>
public interface ICoordinatorTransport : IDisposable
{
    /// <summary>A worker (re)registers as <paramref name="workerId"/>: what to put in its RegistrationAccepted (null: nothing to connect
    /// to). Over TLS its channel is accepted only with a worker certificate whose identity owns <paramref name="workerId"/>.</summary>
    TensorChannelEndpoint? Admit(IActorRef worker, string workerId);

    /// <summary>The certificate identity <paramref name="worker"/>'s open channel was authenticated with (null: none, plain TCP, or the
    /// Akka transport, where a reply's sender is only as good as Akka's sender path).</summary>
    NodeIdentity? IdentityOf(IActorRef worker);

    /// <summary>Whether tensors can reach <paramref name="worker"/> now (always, for the Akka transport).</summary>
    bool IsOpen(IActorRef worker);

    /// <summary>
    /// Sends weights version <paramref name="version"/> (<paramref name="snapshot"/>, read-only until step version + 2 is dispatched) to
    /// <paramref name="worker"/>; returns what ComputeShards.Weights must carry (the snapshot for Akka, null when it went over the channel).
    /// </summary>
    float[]? SendWeights(IActorRef worker, long version, float[] snapshot);

    /// <summary>A channel thread says a connection is up; true when it is now the worker's channel. Not
    /// <paramref name="wanted"/> (the worker is gone): the connection is closed.</summary>
    bool Opened(ChannelOpened message, bool wanted);

    /// <summary>A channel thread says a connection broke; true when it was the worker's current channel (a failed worker).</summary>
    bool Closed(ChannelClosed message);

    /// <summary>The worker is gone: close its channel, if any.</summary>
    void Forget(IActorRef worker);
}

/// <summary>Tensors inside the Akka messages: the transport before the channel, byte for byte.</summary>
public sealed class AkkaCoordinatorTransport : ICoordinatorTransport
{
    public static readonly AkkaCoordinatorTransport Instance = new();

    public TensorChannelEndpoint? Admit(IActorRef worker, string workerId) => null;

    public NodeIdentity? IdentityOf(IActorRef worker) => null;

    public bool IsOpen(IActorRef worker) => true;

    public float[]? SendWeights(IActorRef worker, long version, float[] snapshot) => snapshot;

    public bool Opened(ChannelOpened message, bool wanted) => false;

    public bool Closed(ChannelClosed message) => false;

    public void Forget(IActorRef worker)
    {
    }

    public void Dispose()
    {
    }
}

/// <summary>To the coordinator: <paramref name="Worker"/>'s channel <paramref name="Connection"/> said hello, authenticated as
/// <paramref name="Identity"/> (its TLS client certificate; null on plain TCP).</summary>
public sealed record ChannelOpened(IActorRef Worker, object Connection, NodeIdentity? Identity = null) : INoSerializationVerificationNeeded;

/// <summary>To the coordinator: <paramref name="Worker"/>'s channel <paramref name="Connection"/> broke (socket closed, reset, bad frame);
/// <paramref name="Malformed"/>: the worker sent a frame that is not a valid part of a shard result (counted as a refused result).</summary>
public sealed record ChannelClosed(IActorRef Worker, object Connection, string Reason, bool Malformed = false) : INoSerializationVerificationNeeded;

/// <summary>To the coordinator, with the worker as sender: a whole shard gradient that arrived on the channel (array from the TensorPool).
/// The sender is the actor the channel's Hello was bound to (set by this process, never read from the network), and
/// <paramref name="From"/> the certificate identity the channel was authenticated with (null on plain TCP).</summary>
public sealed record ChannelGradient(ShardComputed Reply, NodeIdentity? From = null, bool Finite = true) : INoSerializationVerificationNeeded;

/// <summary>To a worker: weights version <paramref name="Version"/> arrived on <paramref name="Channel"/> (array from the TensorPool).</summary>
public sealed record WeightsArrived(TcpWorkerChannel Channel, long Version, float[] Weights) : INoSerializationVerificationNeeded;

/// <summary>To a worker: its channel broke; it registers again.</summary>
public sealed record WorkerChannelLost(TcpWorkerChannel Channel, string Reason) : INoSerializationVerificationNeeded;

/// <summary>To a worker: the connection it asked for is up (<paramref name="Channel"/>) or failed (<paramref name="Error"/>).</summary>
public sealed record WorkerChannelConnected(TensorChannelEndpoint For, TcpWorkerChannel? Channel, string? Error) : INoSerializationVerificationNeeded;
