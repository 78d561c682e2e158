// The coordinator actor (at /user/coordinator): a thin shell around Coordination/CoordinatorMachine, where the
// round protocol and every rule live. It translates Akka messages, cluster events and timers into the machine's
// event calls, and the machine's commands (ICoordinatorOutbox) into Tells, DeathWatch, tensor-channel sends and
// events for the host and subscribers. It maps each registering actor to a WorkerHandle. Leaves out: every
// decision (the machine), all arithmetic (Core), Akka configuration (Hosting).
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

/// <summary>The training coordinator actor. See CoordinatorMachine for the protocol.</summary>
public sealed class Coordinator : ReceiveActor, IWithTimers, ICoordinatorOutbox
{
    /// <summary>The actor name under /user, where workers look for it.</summary>
    public const string ActorName = "coordinator";

    private readonly CoordinatorSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, WorkerHandle> _handles = new();
    private readonly Dictionary<WorkerHandle, IActorRef> _refs = new();
    private readonly HashSet<IActorRef> _subscribers = new();
    private readonly TensorSerializer? _serializer;
    private readonly KernelPool _updatePool;
    private readonly CoordinatorMachine _machine;
    private ICoordinatorTransport _transport = AkkaCoordinatorTransport.Instance;
    private int _nextHandle;

    public Coordinator(CoordinatorSettings settings)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _serializer = TensorSerializer.For(Context.System);
        _updatePool = settings.UpdateThreads > 1 ? new KernelPool(settings.UpdateThreads) : KernelPool.Single;
        var serializer = _serializer;
        _machine = new CoordinatorMachine(settings, this, TimeProvider.System, _updatePool, usesChannel: settings.TensorChannel is not null && serializer is not null,
            serializer is null ? null : () => serializer.Elapsed);

        Receive<RegisterWorker>(m => _machine.Register(HandleOf(Sender, create: true), m, Sender.Path.Address.HasLocalScope ? "in process" : Sender.Path.Address.ToString()));
        Receive<WorkerReady>(m => _machine.Ready(HandleOf(Sender), m));
        Receive<ShardComputed>(m => _machine.ShardComputed(HandleOf(Sender), m, Sender.Path.Address.HasLocalScope ? ReplyPath.InProcess : ReplyPath.Akka,
            Sender.Path.Address.HasLocalScope ? null : GradientSum.AllFinite(m.Gradient, m.LossSum))); // in process: our own worker's buffer
        Receive<ChannelGradient>(m => _machine.ShardComputed(HandleOf(Sender), m.Reply, ReplyPath.Channel, m.Finite)); // sender: the channel's worker
        Receive<ChannelOpened>(m =>
        {
            if (_transport.Opened(m, wanted: _handles.ContainsKey(m.Worker)))
            {
                _machine.ChannelOpened(HandleOf(m.Worker));
            }
        });
        Receive<ChannelClosed>(m =>
        {
            if (_transport.Closed(m))
            {
                _machine.ChannelClosed(HandleOf(m.Worker), m.Reason, m.Malformed);
            }
        });
        Receive<Terminated>(t =>
        {
            if (!_subscribers.Remove(t.ActorRef))
            {
                _machine.Terminated(HandleOf(t.ActorRef), removed: false);
            }
        });
        Receive<WorkerLeaving>(m =>
        {
            Sender.Tell(new LeaveAcknowledged(_machine.CurrentStep));
            _machine.Leaving(HandleOf(Sender), m);
        });
        Receive<WorkDeclined>(m => _machine.Declined(HandleOf(Sender), m));
        Receive<DeadlineTick>(_ => _machine.Tick());
        Receive<StatusTick>(_ => Publish(_machine.Status()));
        Receive<StopTraining>(m => m.IsLocal, _ => _machine.Stop()); // only this process's own StopTraining.Instance
        Receive<SubscribeProgress>(_ =>
        {
            if (Sender.Path.Address.HasLocalScope || _settings.TrustRemoteSubscribers)
            {
                Subscribe(Sender);
            }
            else if (_settings.ProgressGate is { } gate)
            {
                Sender.Tell(gate.Challenge(Sender, Self)); // subscribed once a monitor certificate proves it (Monitoring/ProgressGate)
            }
            else
            {
                _log.Warning("progress subscription from {0} refused: no service port here to prove a monitor certificate on", Sender.Path);
            }
        });
        Receive<Monitoring.SubscriberProven>(m => m.Gate == _settings.ProgressGate, m => Subscribe(m.Subscriber));
        Receive<ClusterEvent.UnreachableMember>(m => OnNode(m.Member.Address, h => _machine.Reachability(h, reachable: false)));
        Receive<ClusterEvent.ReachableMember>(m => OnNode(m.Member.Address, h => _machine.Reachability(h, reachable: true)));
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            _log.Info("member removed: {0} (was {1})", m.Member.Address, m.PreviousStatus);
            // normally DeathWatch says so too; removed after Exiting: the node left on purpose
            OnNode(m.Member.Address, h => _machine.Terminated(h, removed: true, graceful: m.PreviousStatus == MemberStatus.Exiting));
        });
        Receive<ClusterEvent.MemberUp>(m => _log.Info("member up: {0} roles [{1}]", m.Member.Address, string.Join(',', m.Member.Roles)));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private static bool IsClustered => ((ExtendedActorSystem)Context.System).Provider is ClusterActorRefProvider;

    /// <summary>Props for a coordinator with these settings.</summary>
    public static Props Props(CoordinatorSettings settings) => Akka.Actor.Props.Create(() => new Coordinator(settings));

    protected override void PreStart()
    {
        var tick = TimeSpan.FromTicks(Math.Clamp(_settings.ShardDeadline.Ticks / 4, TimeSpan.FromMilliseconds(20).Ticks, TimeSpan.FromSeconds(1).Ticks));
        Timers.StartPeriodicTimer("deadline", DeadlineTick.Instance, tick);
        Timers.StartPeriodicTimer("status", StatusTick.Instance, TimeSpan.FromSeconds(1));
        if (IsClustered)
        {
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.IMemberEvent));
        }

        if (StartTensorChannel())
        {
            _machine.Start();
        }
    }

    protected override void PostStop()
    {
        _transport.Dispose();
        if (_updatePool != KernelPool.Single)
        {
            _updatePool.Dispose();
        }

        if (IsClustered)
        {
            Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        }
    }

    // ---- the machine's commands (ICoordinatorOutbox) ----------------------------------------------

    void ICoordinatorOutbox.Tell(WorkerHandle worker, IDistBackpropMessage message)
    {
        if (_refs.TryGetValue(worker, out var r))
        {
            r.Tell(message);
        }
    }

    void ICoordinatorOutbox.Accept(WorkerHandle worker, string workerId, RegistrationAccepted message)
    {
        if (_refs.TryGetValue(worker, out var r))
        {
            r.Tell(message with { TensorChannel = _transport.Admit(r, workerId) });
        }
    }

    void ICoordinatorOutbox.SendWork(WorkerHandle worker, ComputeShards work, float[]? weights)
    {
        if (_refs.TryGetValue(worker, out var r))
        {
            // null when the weights went over the tensor channel
            r.Tell(weights is null ? work : work with { Weights = _transport.SendWeights(r, work.WeightsVersion, weights) });
        }
    }

    void ICoordinatorOutbox.Plan(WorkerHandle worker, long step, int piece, int shards, GroupRole role)
    {
        if (_refs.TryGetValue(worker, out var r))
        {
            r.Tell(new AggregateRole(step, piece, shards, role.Node.Start, role.Node.End, role.Parent.IsNone ? null : PathOf(role.Parent),
                [.. role.Children.Select(c => new AggregateChild(PathOf(c.Worker), c.Node.Start, c.Node.End))]));
        }
    }

    /// <summary>Where other workers reach this one (its actor path with its node's address).</summary>
    private string PathOf(WorkerHandle worker) => _refs.TryGetValue(worker, out var r) ? r.Path.ToString() : string.Empty;

    void ICoordinatorOutbox.Watch(WorkerHandle worker)
    {
        if (_refs.TryGetValue(worker, out var r))
        {
            Context.Watch(r);
        }
    }

    void ICoordinatorOutbox.Forget(WorkerHandle worker)
    {
        if (_refs.Remove(worker, out var r))
        {
            _handles.Remove(r);
            Context.Unwatch(r);
            _transport.Forget(r);
        }
    }

    void ICoordinatorOutbox.Publish(ITrainingEvent e) => Publish(e);

    void ICoordinatorOutbox.Return(float[] gradient) => _serializer?.Pool.Return(gradient);

    void ICoordinatorOutbox.Log(LogSeverity severity, string message) => _log.Log(severity switch
    {
        LogSeverity.Debug => LogLevel.DebugLevel,
        LogSeverity.Info => LogLevel.InfoLevel,
        LogSeverity.Warning => LogLevel.WarningLevel,
        _ => LogLevel.ErrorLevel,
    }, message);

    // ---- translation helpers -----------------------------------------------------------------------

    /// <summary>The handle of <paramref name="actor"/>; a new one for a registering sender; None for anyone else unknown.</summary>
    private WorkerHandle HandleOf(IActorRef actor, bool create = false)
    {
        if (_handles.TryGetValue(actor, out var h) || !create)
        {
            return h;
        }

        h = new WorkerHandle(++_nextHandle);
        _handles[actor] = h;
        _refs[h] = actor;
        return h;
    }

    private void Subscribe(IActorRef subscriber)
    {
        _subscribers.Add(subscriber);
        Context.Watch(subscriber);
        subscriber.Tell(_machine.Status());
        if (_machine.LastReport is { } last)
        {
            subscriber.Tell(last);
        }
    }

    /// <summary>Every worker on the node at <paramref name="address"/>.</summary>
    private void OnNode(Address address, Action<WorkerHandle> apply)
    {
        foreach (var (actor, handle) in _handles.Where(p => p.Key.Path.Address.Equals(address)).ToList())
        {
            apply(handle);
        }
    }

    private void Publish(ITrainingEvent e)
    {
        try
        {
            _settings.Events?.Invoke(e);
        }
        catch (Exception ex)
        {
            _log.Error(ex, "event callback failed on {0}", e.GetType().Name);
        }

        foreach (var s in _subscribers)
        {
            s.Tell(TrainingEvents.ForSubscriber(e, s)); // the final weights stay on this node
        }
    }

    /// <summary>Cluster mode with the tcp tensor transport: listen for workers' channels (docs/tensor-channel.md). False: failed (exit 2).</summary>
    private bool StartTensorChannel()
    {
        if (_settings.TensorChannel is not { } options || _serializer is null)
        {
            return true;
        }

        try
        {
            var publicHost = options.PublicHost ?? (IsClustered ? Akka.Cluster.Cluster.Get(Context.System).SelfAddress.Host : null) ?? options.BindHost;
            var channel = new TcpCoordinatorChannel(options with { PublicHost = publicHost }, _settings.State.Config.Spec.ParameterCount, _serializer.Pool, Self, _log);
            _transport = channel;
            _log.Info("coordinator {0}: tensor channel listening on {1}:{2} (advertised as {3})", _settings.CoordinatorId, options.BindHost, channel.Port, publicHost);
            return true;
        }
        catch (IOException e)
        {
            _machine.Abort(e.Message, 2);
            return false;
        }
    }

    private sealed class StatusTick : INoSerializationVerificationNeeded
    {
        public static readonly StatusTick Instance = new();
    }

    private sealed class DeadlineTick : INoSerializationVerificationNeeded
    {
        public static readonly DeadlineTick Instance = new();
    }
}
