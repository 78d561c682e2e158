// The actor of a `monitor` node: finds the coordinator through cluster membership (members with role
// "coordinator", actor /user/coordinator, asked with Identify), watches it, subscribes to its progress
// (SubscribeProgress) and hands every ITrainingEvent to a callback. When the coordinator goes away it
// looks for the next one (a restarted coordinator at the same seed address). Takes no shards.
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
}

public sealed class ProgressMonitor : ReceiveActor, IWithTimers
{
    private readonly MonitorSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<Address> _coordinatorNodes = new();
    private IActorRef? _coordinator;

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
        Receive<ITrainingEvent>(e => Deliver(e));
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_coordinator))
            {
                _coordinator = null;
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
        _log.Info("monitor: subscribed to the coordinator at {0}", coordinator.Path);
        _settings.OnConnection?.Invoke($"connected to the coordinator at {coordinator.Path.Address}");
    }

    private void Deliver(ITrainingEvent e)
    {
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
}
