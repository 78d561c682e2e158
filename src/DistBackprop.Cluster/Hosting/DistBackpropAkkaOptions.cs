// The node-level settings of DistBackprop's Akka configuration: role, addresses, seed nodes, frame
// size, deadlines. Bound from IConfiguration by the host (section "DistBackprop:Cluster", environment
// DistBackprop__Cluster__…); every mode, local included, goes through WithDistBackprop with one of these.
// Leaves out: training hyperparameters (Core TrainingConfig), making credentials (Security, the Host).
using Akka.Actor;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Security;

namespace DistBackprop.Cluster.Hosting;

/// <summary>What this node is.</summary>
public enum NodeRole
{
    /// <summary>One ActorSystem, coordinator and workers in process, no remoting.</summary>
    Local,
    Coordinator,
    Worker,
    Monitor,
}

/// <summary>Akka settings for a DistBackprop node (SPEC §6–7).</summary>
public sealed class DistBackpropAkkaOptions
{
    /// <summary>The ActorSystem name, so seed nodes read akka.tcp://distbackprop@HOST:PORT.</summary>
    public const string SystemName = "distbackprop";

    public const long DefaultMaxFrameSize = 64L * 1024 * 1024;

    /// <summary>DistBackprop__Cluster__Role: local | coordinator | worker | monitor.</summary>
    public NodeRole Role { get; set; } = NodeRole.Local;

    /// <summary>DistBackprop__Cluster__Host (`--host`): the bind address.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>DistBackprop__Cluster__Port (`--port`): 4053 for a coordinator, 0 (any free port) for others.</summary>
    public int Port { get; set; }

    /// <summary>DistBackprop__Cluster__PublicHost (`--public-host`): the advertised name (containers); null = Host.</summary>
    public string? PublicHost { get; set; }

    /// <summary>DistBackprop__Cluster__SeedNodes__0 … (`--seed-nodes`): akka.tcp://distbackprop@HOST:PORT. A coordinator
    /// with none lists itself (it forms the cluster).</summary>
    public string[] SeedNodes { get; set; } = [];

    /// <summary>DistBackprop__Cluster__MaxFrameSize (`--max-frame-size`, bytes): the largest Akka message. A coordinator whose tensors use
    /// the channel and whose size was not set (<see cref="MaxFrameSizeExplicit"/>) configures Akka smaller, for control messages only
    /// (<see cref="AkkaFrameSize"/>), so an unauthenticated peer can make it buffer little.</summary>
    public long MaxFrameSize { get; set; } = DefaultMaxFrameSize;

    /// <summary>--max-frame-size was given (then Akka uses it as it is).</summary>
    public bool MaxFrameSizeExplicit { get; set; }

    /// <summary>Set by WithDistBackpropCoordinator from the run (batch, shards) when tensors use the channel: FrameBudget.ControlFrameSize.</summary>
    internal long? ControlFrameSize { get; set; }

    /// <summary>The maximum-frame-size Akka is configured with (see <see cref="MaxFrameSize"/>).</summary>
    public long AkkaFrameSize => ControlFrameSize is { } c && !MaxFrameSizeExplicit ? Math.Min(c, MaxFrameSize) : MaxFrameSize;

    /// <summary>
    /// This node's TLS credentials: mutual TLS on Akka.Remote (peers must hold a certificate of the same cluster CA; addresses read
    /// akka.ssl.tcp://) and on the tensor channel. Required for cluster roles unless <see cref="Insecure"/>. Built by the host
    /// (enrolment, the state dir, or --tls-cert/--tls-key/--tls-ca).
    /// </summary>
    public NodeCredentials? Tls { get; set; }

    /// <summary>`--insecure`: plain TCP, no certificates (a closed network only; the host prints a warning).</summary>
    public bool Insecure { get; set; }

    /// <summary>A coordinator's CA: its service port serves enrolment (`worker --join TOKEN`).</summary>
    public ClusterAuthority? Authority { get; set; }

    /// <summary>A coordinator: called once Akka and the service port listen, with the node's address and the service port (the join line).</summary>
    public Action<Address, int>? Listening { get; set; }

    /// <summary>A coordinator: lines worth showing the user from outside the actors (e.g. "enrolled worker-3fa2c1").</summary>
    public Action<string>? Notice { get; set; }

    /// <summary>The coordinator's service port once ClusterCoordinatorHost opened it (the tensor channel shares it).</summary>
    internal ServicePort? SharedServicePort { get; set; }

    /// <summary>Limits of the coordinator's service port (caps on unauthenticated connections, the handshake deadline).</summary>
    public ServicePortOptions? ServicePortLimits { get; set; }

    /// <summary>Limits of every cluster node's Akka port (AkkaPortGate: caps on connections that sent nothing yet, their deadline);
    /// null: 64 overall, 8 per remote address, 10 s.</summary>
    public AkkaPortLimits? AkkaPortLimits { get; set; }

    /// <summary>DistBackprop__Cluster__TensorTransport (`--tensor-transport tcp|akka`), read by the coordinator, which tells its workers:
    /// Tcp moves weights and gradients over a TCP connection per worker (docs/tensor-channel.md), Akka inside the Akka messages.
    /// Local mode always passes arrays in process.</summary>
    public TensorTransportKind TensorTransport { get; set; } = TensorTransportKind.Tcp;

    /// <summary>DistBackprop__Cluster__TensorPort (`--tensor-port`): where the coordinator listens for tensor channels;
    /// null = <see cref="Port"/> + 1 (0 when Port is 0), 0 = any free port. Advertised to workers at registration.</summary>
    public int? TensorPort { get; set; }

    /// <summary>The tensor port in effect (see <see cref="TensorPort"/>).</summary>
    public int EffectiveTensorPort => TensorPort ?? (Port == 0 ? 0 : Port + 1);

    /// <summary>DistBackprop__Cluster__ShardDeadline: a shard not back by then goes to another worker.</summary>
    public TimeSpan ShardDeadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>DistBackprop__Cluster__DowningStableAfter: how long membership must be stable before the split brain
    /// resolver downs unreachable nodes (akka.cluster.split-brain-resolver.stable-after).</summary>
    public TimeSpan DowningStableAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>DistBackprop__Cluster__HeartbeatInterval: how often cluster members heartbeat each other
    /// (akka.cluster.failure-detector.heartbeat-interval; gossip runs at the same pace, at most 1 s).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>DistBackprop__Cluster__AcceptableHeartbeatPause: silence tolerated before a member is marked unreachable
    /// (akka.cluster.failure-detector.acceptable-heartbeat-pause). A dead node is unreachable after about
    /// this long, and downed (then removed, so DeathWatch fires) <see cref="DowningStableAfter"/> later.</summary>
    public TimeSpan AcceptableHeartbeatPause { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>DistBackprop__Cluster__JoinRetry: how often a node that is not in a cluster retries its seed nodes
    /// (akka.cluster.retry-unsuccessful-join-after; also the seed-node timeout).</summary>
    public TimeSpan JoinRetry { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>DistBackprop__Cluster__LeaveTimeout: on shutdown, how long a worker waits for the coordinator to take
    /// back its shards before leaving the cluster anyway.</summary>
    public TimeSpan LeaveTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Tests only: put Akka's throttler transport adapter under TCP so a test can black-hole a node (its
    /// addresses then read akka.trttl.tcp://…), see <see cref="Protocol"/>.</summary>
    internal bool TestThrottler { get; set; }

    /// <summary>Tests only: called with the node's ActorSystem once it is up (ClusterCoordinatorHost / ClusterWorkerHost).</summary>
    internal Action<ActorSystem>? SystemStarted { get; set; }

    /// <summary>The address protocol of this node: akka.ssl.tcp with TLS, akka.tcp without (akka.trttl.… under the test throttler).</summary>
    public string Protocol => (TestThrottler, Tls is not null) switch
    {
        (true, true) => "akka.trttl.ssl.tcp",
        (true, false) => "akka.trttl.tcp",
        (false, true) => "akka.ssl.tcp",
        _ => "akka.tcp",
    };

    /// <summary>This node's address as others give it in --seed-nodes: PROTOCOL://distbackprop@PUBLIC-HOST:PORT.</summary>
    public string SeedAddress => $"{Protocol}://{SystemName}@{PublicHost ?? Host}:{Port}";

    /// <summary>Serialize every message, even local ones (tests: proves every message crosses a serializer).</summary>
    public bool SerializeMessages { get; set; }

    /// <summary>Akka's log level.</summary>
    public Akka.Event.LogLevel LogLevel { get; set; } = Akka.Event.LogLevel.WarningLevel;

    /// <summary>The seed nodes in effect: the given ones, or, for a coordinator without any, its own address.</summary>
    /// <summary>Seeds given as akka.tcp:// or akka.ssl.tcp:// are rewritten to this node's protocol (with TLS every node speaks akka.ssl.tcp).</summary>
    public string[] EffectiveSeedNodes() =>
        SeedNodes.Length > 0 || Role != NodeRole.Coordinator ? SeedNodes.Select(WithProtocol).ToArray() : [SeedAddress];

    private string WithProtocol(string seed)
    {
        var i = seed.IndexOf("://", StringComparison.Ordinal);
        return i > 0 && seed[..i] is "akka.tcp" or "akka.ssl.tcp" or "akka.trttl.tcp" or "akka.trttl.ssl.tcp" ? Protocol + seed[i..] : seed;
    }

    /// <summary>Checks what can be checked before starting; returns a message naming the option, or null.</summary>
    public string? Validate()
    {
        if (Port is < 0 or > 65535)
        {
            return $"--port must be in 0..65535 (got {Port})";
        }

        if (EffectiveTensorPort is < 0 or > 65535)
        {
            return $"--tensor-port must be in 0..65535 (got {EffectiveTensorPort}{(TensorPort is null ? ", the Akka port + 1" : "")})";
        }

        if (TensorTransport == TensorTransportKind.Tcp && !FrameCodec.Supported)
        {
            return "--tensor-transport tcp needs a little-endian machine; use --tensor-transport akka";
        }

        if (MaxFrameSize < 32 * 1024)
        {
            return $"--max-frame-size must be at least 32 KiB (got {MaxFrameSize} bytes)";
        }

        if (ShardDeadline <= TimeSpan.Zero)
        {
            return $"the shard deadline must be positive (got {ShardDeadline})";
        }

        if (HeartbeatInterval <= TimeSpan.Zero || AcceptableHeartbeatPause < HeartbeatInterval)
        {
            return $"the failure detector needs a positive heartbeat interval and a pause at least that long (got {HeartbeatInterval} and {AcceptableHeartbeatPause})";
        }

        if (DowningStableAfter <= TimeSpan.Zero || JoinRetry <= TimeSpan.Zero || LeaveTimeout < TimeSpan.Zero)
        {
            return $"downing stable-after, join retry and leave timeout must be positive (got {DowningStableAfter}, {JoinRetry}, {LeaveTimeout})";
        }

        foreach (var seed in SeedNodes)
        {
            if (!TryParseSeed(seed, out var error))
            {
                return $"--seed-nodes: '{seed}' is not a valid address ({error}); expected akka.tcp://{SystemName}@HOST:PORT";
            }
        }

        if (Role is NodeRole.Worker or NodeRole.Monitor && SeedNodes.Length == 0)
        {
            return "--seed-nodes is required for a worker or monitor (e.g. akka.tcp://distbackprop@127.0.0.1:4053)";
        }

        return null;
    }

    /// <summary>Cluster mode is secure by default: a cluster role needs <see cref="Tls"/> unless <see cref="Insecure"/>; returns why not, or null.</summary>
    public string? ValidateSecurity() => Role != NodeRole.Local && Tls is null && !Insecure
        ? "cluster mode is secure by default: this node needs TLS credentials (enrol with --join TOKEN, or --tls-cert/--tls-key/--tls-ca), or --insecure for plain TCP"
        : null;

    private static bool TryParseSeed(string seed, out string error)
    {
        error = "";
        try
        {
            var a = Address.Parse(seed);
            if (a.Host is null || a.Port is null or <= 0)
            {
                error = "it needs a host and a port";
                return false;
            }

            if (a.System != SystemName)
            {
                error = $"the actor system must be named '{SystemName}'";
                return false;
            }

            return true;
        }
        catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException)
        {
            error = e.Message;
            return false;
        }
    }
}
