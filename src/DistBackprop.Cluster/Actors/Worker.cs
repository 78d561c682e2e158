// A worker actor: holds its dataset, an Mlp<float> workspace and a KernelPool, and computes the shards the
// coordinator deals it, one GradientSum per shard (never pre-added), with the same Core call as the reference loop.
// Its connection to the coordinator is a small state machine, one Become() behaviour per state:
//   Joining  → (RegistrationAccepted) → Loading → (data loaded, tensor channel open, WorkerReady sent) → Serving
//   Serving  → (channel lost) → Joining;   any → (coordinator terminated) → Joining (in process: stop)
//   any      → (node shutting down) → Leaving (hand the shards back) ;  any → (refused) → Refused (terminal)
// Computing is not a state of its own: ShardQueue holds the one running shard (a compute task can outlive the
// registration it was dealt under), WorkerBuffers the lent buffers, IWorkerTransport how results travel.
// Small shards (InlineWork) and every shard in process run on the actor's thread (in local mode a dedicated one);
// larger ones on a task piped back to Self, so the mailbox keeps answering. Leaves out: math (Core), joining the
// cluster (Hosting), and deciding anything about the run (the coordinator decides).
using System.Diagnostics;
using Akka;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Cluster.Actors;

/// <summary>A worker; see the states at the top of the file.</summary>
public sealed partial class Worker : ReceiveActor, IWithTimers
{
    public const string CoordinatorRole = "coordinator";

    /// <summary>The actor name under /user on a worker node (aggregating workers relay to each other there).</summary>
    public const string ActorName = "worker";

    /// <summary>
    /// Shards of at most this many rows × parameters (≈ 3 multiply-adds each, ~0.1 ms on one core) are computed on the
    /// actor's own thread: for them, handing the work to a task and the result back costs more than the work.
    /// </summary>
    public const long InlineWork = 1L << 21;

    private readonly WorkerSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<Address> _coordinatorNodes = new();
    private readonly TensorSerializer? _serializer;
    private readonly KernelPool _pool;
    private readonly ShardQueue _jobs = new();
    private readonly WorkerBuffers _buffers;
    private readonly List<ComputeShards> _parked = new(); // work waiting for its weights version (tensor channel)

    private IActorRef? _coordinator;
    private RegistrationAccepted? _accepted;
    private IWorkerTransport? _transport;
    private Dataset? _data;
    private Mlp<float>? _mlp;
    private GradientStreamer? _streamer;
    private float[]? _weights;
    private long _weightsVersion = -1;
    private bool _finished;
    private long _searchSince = Stopwatch.GetTimestamp();
    private IActorRef? _leaveRequester;
    private Aggregation? _aggregation; // this step's place in the aggregation tree (Worker.Aggregate.cs)
    private bool _leaving;

    public Worker(WorkerSettings settings)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _pool = new KernelPool(Math.Max(1, settings.Threads));
        _serializer = TensorSerializer.For(Context.System);
        _buffers = new WorkerBuffers(_serializer?.Pool);
        Joining();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(WorkerSettings settings) => Akka.Actor.Props.Create(() => new Worker(settings));

    protected override void PreStart()
    {
        _log.Info("worker {0}: {1} thread(s), kernels {2}, model {3}, data {4}", _settings.WorkerId, _pool.Threads, _settings.KernelPath,
            _settings.Model?.ToString() ?? "from the coordinator", _settings.Dataset?.Name ?? "from the coordinator");
        if (_settings.Coordinator is null)
        {
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
            HandBackOnShutdown();
        }

        Timers.StartPeriodicTimer("register", RetryTick.Instance, _settings.RegisterRetry);
        Retry();
    }

    protected override void PostStop()
    {
        if (_settings.Coordinator is null)
        {
            Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        }

        _transport?.Dispose();
        _pool.Dispose();
    }

    // ---- states ---------------------------------------------------------------------------------

    /// <summary>Looking for the coordinator: registration is (re)sent on every retry tick until it answers.</summary>
    private void Joining()
    {
        Receive<RegistrationAccepted>(HandleAccepted);
        Receive<RegistrationRefused>(m => Refused(m.Reason));
        Receive<RetryTick>(_ => Retry());
        Common();
    }

    /// <summary>Accepted: loading the dataset, then opening the tensor channel; WorkerReady when both are done.</summary>
    private void Loading()
    {
        Receive<DataLoaded>(HandleDataLoaded);
        Receive<WorkerChannelConnected>(HandleChannelConnected);
        Receive<RegistrationRefused>(m => Sender.Equals(_coordinator), m => Refused(m.Reason));
        Common();
    }

    /// <summary>Ready: computing whatever the coordinator deals.</summary>
    private void Serving()
    {
        Receive<ComputeShards>(HandleCompute);
        Receive<WeightsArrived>(HandleWeightsArrived);
        Receive<WorkerChannelLost>(HandleChannelLost);
        Receive<AggregateRole>(_ => Sender.Equals(_coordinator), HandleRole);
        Receive<RelayedWeights>(HandleRelayed);
        Receive<PartialComputed>(HandlePartial);
        Receive<TrainingFinished>(m =>
        {
            _finished = true;
            _jobs.Clear();
            _log.Info("worker {0}: training finished after {1} steps", _settings.WorkerId, m.Steps);
        });
        Receive<RegistrationRefused>(m => Sender.Equals(_coordinator), m => Refused(m.Reason));
        Common();
    }

    /// <summary>The node is shutting down: the shards were handed back; new work is handed back too, until acknowledged.</summary>
    private void Leaving()
    {
        Receive<ComputeShards>(m => Sender.Tell(new WorkerLeaving(_settings.WorkerId, m.Step, m.Shards.Select(s => s.Shard).ToArray())));
        Receive<LeaveAcknowledged>(_ => LeaveDone());
        Receive<LeaveTimeout>(_ => LeaveDone());
        Receive<LeaveRequest>(_ => _leaveRequester = Sender);
        Common();
    }

    /// <summary>Refused by the coordinator (the host exits with code 2): nothing more to do.</summary>
    private void RefusedState()
    {
        Receive<LeaveRequest>(_ => Sender.Tell(Done.Instance));
        Receive<ShardDone>(d => _jobs.Finished());
        ReceiveAny(_ => { });
    }

    /// <summary>What every live state handles the same way.</summary>
    private void Common()
    {
        Receive<ShardDone>(HandleShardDone);
        Receive<Terminated>(HandleTerminated);
        Receive<ComputeShards>(m =>
        {
            _buffers.ReleaseBefore(m.Step);
            _log.Debug("worker {0}: work for step {1} while not serving; dropped (the coordinator takes it back)", _settings.WorkerId, m.Step);
        });
        Receive<LeaveRequest>(_ => StartLeaving());
        Receive<WeightsArrived>(m => _serializer?.Pool.Return(m.Weights));
        Receive<ClusterEvent.MemberUp>(m => MemberSeen(m.Member));
        Receive<ClusterEvent.MemberRemoved>(m => _coordinatorNodes.Remove(m.Member.Address));
        Receive<ClusterEvent.CurrentClusterState>(s =>
        {
            foreach (var m in s.Members.Where(m => m.Status == MemberStatus.Up))
            {
                MemberSeen(m);
            }
        });
        ReceiveAny(_ => { }); // answers to retries, events of no interest in this state
    }

    private void HandleTerminated(Terminated t)
    {
        if (!t.ActorRef.Equals(_coordinator))
        {
            return;
        }

        Disconnect();
        _coordinator = null;
        _buffers.ReleaseAll(); // nobody reads our replies any more
        _jobs.Reset();
        if (_leaving)
        {
            LeaveDone(); // nobody to hand shards back to
            return;
        }

        if (_settings.Coordinator is not null)
        {
            _log.Info("worker {0}: coordinator stopped; stopping", _settings.WorkerId);
            Context.Stop(Self);
            return;
        }

        _coordinatorNodes.Remove(t.ActorRef.Path.Address);
        _searchSince = Stopwatch.GetTimestamp();
        _log.Warning("worker {0}: the coordinator is gone; waiting for the next one", _settings.WorkerId);
        Become(Joining);
        _settings.OnCoordinatorLost?.Invoke();
    }

    /// <summary>Drops the registration, the transport, queued and parked work and the weights (back to Joining's starting point).</summary>
    private void Disconnect()
    {
        if (_aggregation is { } a)
        {
            Abandon(a);
        }

        _accepted = null;
        _transport?.Dispose();
        _transport = null;
        _jobs.Clear();
        _parked.Clear();
        if (_early is { } early)
        {
            _serializer?.Pool.Return(early.Relayed.Weights);
            _early = null;
        }

        _buffers.Retire(_weights);
        (_weights, _weightsVersion) = (null, -1);
        _buffers.ReturnRetired(_jobs, _weights);
    }

    private void Refused(string reason)
    {
        Disconnect();
        Timers.CancelAll();
        _log.Error("{0}", reason);
        Become(RefusedState);
        _settings.OnRefused?.Invoke(reason);
    }

    private sealed record DataLoaded(DatasetDescriptor For, Dataset? Data, string? Error) : INoSerializationVerificationNeeded;

    private sealed class RetryTick : INoSerializationVerificationNeeded
    {
        public static readonly RetryTick Instance = new();
    }
}
