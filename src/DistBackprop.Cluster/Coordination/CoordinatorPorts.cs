// The edges of the coordinator's state machine: how it names a worker (an opaque handle the actor shell maps to
// an actor, a simulation to a simulated worker) and the commands it gives (ICoordinatorOutbox: send this, watch
// that, publish an event, return a buffer). The machine never touches an actor, a socket or a clock of its own.
// Leaves out: the machine itself (CoordinatorMachine) and the translation to Akka (Actors/Coordinator).
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Coordination;

/// <summary>A worker as the state machine knows it: a number the shell gives each registering sender. 0 = nobody.</summary>
public readonly record struct WorkerHandle(int Value)
{
    public static readonly WorkerHandle None = default;

    public bool IsNone => Value == 0;

    public override string ToString() => IsNone ? "none" : $"#{Value}";
}

/// <summary>How a shard's reply reached the coordinator: from a worker in this process, inside an Akka message from
/// another node, or over that worker's (authenticated) tensor channel.</summary>
public enum ReplyPath
{
    InProcess,
    Akka,
    Channel,
}

/// <summary>How serious a log line is.</summary>
public enum LogSeverity
{
    Debug,
    Info,
    Warning,
    Error,
}

/// <summary>
/// The commands of the coordinator's state machine, carried out by whoever drives it (the actor shell; the simulation).
/// All are called on the machine's thread, inside one of its event methods; none may call back into the machine.
/// </summary>
public interface ICoordinatorOutbox
{
    /// <summary>Sends a control message to a worker (RegistrationRefused, TrainingFinished).</summary>
    void Tell(WorkerHandle worker, IDistBackpropMessage message);

    /// <summary>Accepts a registration of the worker named <paramref name="workerId"/>; the shell adds what its transport needs
    /// (the tensor channel endpoint, bound to that name).</summary>
    void Accept(WorkerHandle worker, string workerId, RegistrationAccepted message);

    /// <summary>
    /// Sends a step's work. <paramref name="weights"/> is non-null when the worker does not hold version
    /// <c>work.WeightsVersion</c> yet: the shell sends it by its transport (inside the message, or over the tensor channel).
    /// The array is the state's current weights buffer: read-only until the step after <c>work.Step</c> completes.
    /// </summary>
    void SendWork(WorkerHandle worker, ComputeShards work, float[]? weights);

    /// <summary>
    /// Tells a worker its role in step <paramref name="step"/>'s aggregation tree, just before its ComputeShards: piece
    /// <paramref name="piece"/> of the <paramref name="shards"/>-shard reduction tree, the shell naming the parent and
    /// children (handles) by the actor paths they reach each other at.
    /// </summary>
    void Plan(WorkerHandle worker, long step, int piece, int shards, GroupRole role);

    /// <summary>Starts watching the worker for death (its termination comes back as <see cref="CoordinatorMachine.Terminated"/>).</summary>
    void Watch(WorkerHandle worker);

    /// <summary>The machine has forgotten the worker (refused, left, dead): stop watching it, drop its channel and its handle.</summary>
    void Forget(WorkerHandle worker);

    /// <summary>An event for the host's callback and every subscriber.</summary>
    void Publish(ITrainingEvent e);

    /// <summary>A gradient array the machine is done with (reduced, or dropped unread): back to the pool it came from, if any.</summary>
    void Return(float[] gradient);

    void Log(LogSeverity severity, string message);
}
