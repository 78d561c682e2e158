// The actor of a `monitor` node: finds the coordinator through cluster membership (members with role
// "coordinator", actor /user/coordinator, asked with Identify), watches it, subscribes to its progress
// (SubscribeProgress; in the secure default the coordinator answers with a challenge, which this actor proves with its
// monitor certificate on the coordinator's service port: ProgressProof) and hands every ITrainingEvent to a callback.
// When the coordinator goes away it looks for the next one (a restarted coordinator at the same seed address). Takes no shards.
// Leaves out: displaying the events (the Host's view) and the node's lifecycle (ClusterMonitorHost).
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Monitoring;

/// <summary>What a <see cref="ProgressMonitor"/> reports: every coordinator event, and one line when it connects or loses the coordinator.</summary>
public sealed record MonitorSettings(Action<ITrainingEvent> OnEvent, Action<string>? OnConnection = null)
{
    /// <summary>How often it asks the known coordinator nodes until one answers.</summary>
    public TimeSpan LookupInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>This node's credentials, to prove a progress challenge (null: --insecure, where no challenge comes).</summary>
    public Security.NodeCredentials? Tls { get; init; }

    /// <summary>After a refused or failed proof, when to subscribe again.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(5);
}

public sealed class ProgressMonitor : ReceiveActor, IWithTimers
{
    private readonly MonitorSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<Address> _coordinatorNodes = new();
    private IActorRef? _coordinator;
    private bool _receiving; // an event came from the coordinator since it was found
    private bool _proving;

    public ProgressMonitor(MonitorSettings settings)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        Receive<ClusterEvent.MemberUp>(m => MemberSeen(m.Member));
        Receive<ClusterEvent.MemberRemoved>(m => _coordinatorNodes.Remove(m.Member.Address));
        Receive<ClusterEvent.CurrentClusterState>(s =>
        {
            foreach (var m in s.Members.Where(m => m.Status == MemberStatus.Up))
            {
                MemberSeen(m);
            }
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<Lookup>(_ => Identify());
        Receive<ActorIdentity>(Identified);
        Receive<ProgressChallenge>(Prove);
        Receive<ProofDone>(OnProofDone);
        Receive<Resubscribe>(_ => _coordinator?.Tell(SubscribeProgress.Instance));
        Receive<ITrainingEvent>(e => Deliver(e));
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_coordinator))
            {
                _coordinator = null;
                _receiving = false;
                _settings.OnConnection?.Invoke($"the coordinator at {t.ActorRef.Path.Address} is gone; waiting for the next one");
                Timers.StartPeriodicTimer("lookup", Lookup.Instance, _settings.LookupInterval);
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(MonitorSettings settings) => Akka.Actor.Props.Create(() => new ProgressMonitor(settings));

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("lookup", Lookup.Instance, _settings.LookupInterval);
    }

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void MemberSeen(Member m)
    {
        if (m.HasRole(Worker.CoordinatorRole) && _coordinatorNodes.Add(m.Address))
        {
            Identify();
        }
    }

    private void Identify()
    {
        if (_coordinator is not null)
        {
            Timers.Cancel("lookup");
            return;
        }

        foreach (var address in _coordinatorNodes)
        {
            // the id as a string (a primitive serializer): an Address would need a JSON serializer, and none crosses the wire
            Context.ActorSelection(new RootActorPath(address) / "user" / Coordinator.ActorName).Tell(new Identify(address.ToString()));
        }
    }

    private void Identified(ActorIdentity id)
    {
        if (_coordinator is not null || id.Subject is not { } coordinator)
        {
            return;
        }

        _coordinator = coordinator;
        Timers.Cancel("lookup");
        Context.Watch(coordinator);
        coordinator.Tell(SubscribeProgress.Instance);
        _log.Info("monitor: subscribing to the coordinator at {0}", coordinator.Path);
    }

    /// <summary>The coordinator wants proof of a monitor certificate: give it on its service port, off the actor's thread.</summary>
    private void Prove(ProgressChallenge challenge)
    {
        if (_coordinator is not { } coordinator || _receiving || _proving || coordinator.Path.Address.Host is not { } host)
        {
            return; // not ours to prove (a challenge from anyone else, or one we are already subscribed or proving for)
        }

        if (_settings.Tls is not { } tls)
        {
            _settings.OnConnection?.Invoke("the coordinator asks for a monitor certificate and this node has none (join with `monitor --join TOKEN`)");
            return;
        }

        _proving = true;
        var self = Self;
        var path = self.Path.ToStringWithAddress(Akka.Cluster.Cluster.Get(Context.System).SelfAddress);
        ProgressProof.ProveAsync(host, challenge, path, tls, TimeSpan.FromSeconds(15))
            .ContinueWith(t => new ProofDone(coordinator, t.IsCompletedSuccessfully ? null : t.Exception?.GetBaseException().Message ?? "cancelled"), TaskScheduler.Default)
            .PipeTo(self);
    }

    private void OnProofDone(ProofDone p)
    {
        _proving = false;
        if (p.Error is null || !p.Coordinator.Equals(_coordinator))
        {
            return; // the coordinator sends its status next, and the first event says we are connected
        }

        _log.Warning("monitor: progress subscription at {0} refused: {1}", p.Coordinator.Path, p.Error);
        _settings.OnConnection?.Invoke($"progress subscription at {p.Coordinator.Path.Address} failed: {p.Error}; trying again in {_settings.RetryInterval.TotalSeconds:0} s");
        Timers.StartSingleTimer("resubscribe", Resubscribe.Instance, _settings.RetryInterval);
    }

    private void Deliver(ITrainingEvent e)
    {
        if (!_receiving && _coordinator is { } c && Sender.Equals(c))
        {
            _receiving = true;
            _settings.OnConnection?.Invoke($"connected to the coordinator at {c.Path.Address}");
        }

        try
        {
            _settings.OnEvent(e);
        }
        catch (Exception ex)
        {
            _log.Error(ex, "monitor: event callback failed on {0}", e.GetType().Name);
        }
    }

    private sealed class Lookup : INoSerializationVerificationNeeded
    {
        public static readonly Lookup Instance = new();
    }

    private sealed class Resubscribe : INoSerializationVerificationNeeded
    {
        public static readonly Resubscribe Instance = new();
    }

    private sealed record ProofDone(IActorRef Coordinator, string? Error) : INoSerializationVerificationNeeded;
}
