// What the coordinator tells the outside world: one StepReport per step, then TrainingCompleted
// or TrainingFailed. Given to a callback in-process, and to subscribed actors (a monitor node).
// Leaves out: how the host displays them (console, metrics file).
namespace DistBackprop.Cluster.Protocol;

/// <summary>An event published by the coordinator.</summary>
public interface ITrainingEvent : IControlMessage
{
}

/// <summary>
/// One completed step (the `--metrics` row). <paramref name="ReassignedShards"/> / <paramref name="TimedOutShards"/> count this
/// step's shards given to another worker (of which past the deadline); <paramref name="StaleReplies"/>,
/// <paramref name="DuplicateReplies"/> and <paramref name="ReassignedTotal"/> are totals since the coordinator started. Loss is the batch mean, accuracy in [0, 1], epochs 0-based.
/// <paramref name="LearningRate"/> is the rate the step's update used; <paramref name="GradNorm"/> ‖ḡ‖₂ of its mean gradient before clipping
/// (both from Core's StepOutcome; NaN from a coordinator that did not send them).
/// Time split (best effort): <paramref name="ComputeMs"/> the slowest worker's compute, <paramref name="SerializeMs"/>
/// tensor serialization on the coordinator plus the slowest worker's, <paramref name="TransportMs"/> the rest of the
/// critical worker's round trip, <paramref name="WaitMs"/> what is left of the step (stragglers, reassignment).
/// <paramref name="StepMs"/>: dispatch to the last shard's arrival; <paramref name="EpochCompleted"/>: this step ended an epoch;
/// <paramref name="ForeignReplies"/>: replies dropped since the start because their sender did not hold the shard;
/// <paramref name="RefusedReplies"/>: malformed or non-finite results of the shard's own worker, computed again elsewhere.
/// </summary>
public sealed record StepReport(
    long Step,
    int Epoch,
    double Loss,
    double Accuracy,
    double SamplesPerSecond,
    int Workers,
    double ComputeMs,
    double SerializeMs,
    double TransportMs,
    double WaitMs,
    int Samples,
    int ReassignedShards,
    long StaleReplies,
    long DuplicateReplies,
    int TimedOutShards = 0,
    long ReassignedTotal = 0,
    double StepMs = 0,
    bool EpochCompleted = false,
    long ForeignReplies = 0,
    double LearningRate = double.NaN,
    double GradNorm = double.NaN,
    long RefusedReplies = 0) : ITrainingEvent;

/// <summary>Counters over a whole run (this coordinator's part of it); <paramref name="ShardsByWorker"/>: shards each worker id delivered first.</summary>
public sealed record TrainingSummary(
    long Steps,
    int Epoch,
    double LastLoss,
    double LastAccuracy,
    double ElapsedSeconds,
    long ReassignedShards,
    long TimedOutShards,
    long StaleReplies,
    long DuplicateReplies,
    bool Stopped,
    WorkerShardCount[]? ShardsByWorker = null,
    long ForeignReplies = 0,
    long RefusedReplies = 0) : IControlMessage;

/// <summary>How many shard results of a run came first from worker <paramref name="WorkerId"/> (and entered a sum).</summary>
public sealed record WorkerShardCount(string WorkerId, long Shards) : IControlMessage;

/// <summary>The run ended (or was stopped): the final weights, ParameterLayout order.</summary>
public sealed record TrainingCompleted(float[] Parameters, TrainingSummary Summary) : ITrainingEvent;

/// <summary>The run failed. <paramref name="ExitCode"/> 3 = diverged at <paramref name="Step"/> (then <paramref name="Divergence"/>
/// says what), 1 = other runtime failure.</summary>
public sealed record TrainingFailed(string Reason, int ExitCode, long Step, TrainingDivergence? Divergence = null) : ITrainingEvent;

/// <summary>What diverged: at step <paramref name="Step"/>, <paramref name="Detail"/> (e.g. "non-finite gradient in layers.1.weight …").</summary>
public sealed record TrainingDivergence(long Step, string Detail) : IControlMessage;

/// <summary>A line worth showing the user (workers joining, leaving, training paused): level "info" or "warning".</summary>
public sealed record TrainingNotice(string Level, string Message, int LiveWorkers) : ITrainingEvent;

/// <summary>No live worker: step <paramref name="Step"/> waits until one registers (also logged, and sent as a <see cref="TrainingNotice"/>).</summary>
public sealed record TrainingPaused(long Step, string Reason) : ITrainingEvent;

/// <summary>A worker is back after a pause: step <paramref name="Step"/> goes on with <paramref name="Workers"/> worker(s)
/// after <paramref name="PausedSeconds"/> s.</summary>
public sealed record TrainingResumed(long Step, int Workers, double PausedSeconds) : ITrainingEvent;

/// <summary>The coordinator wrote a resume checkpoint after step <paramref name="Step"/> (atomically, CheckpointStore).</summary>
public sealed record CheckpointWritten(long Step, string Path, double Milliseconds) : ITrainingEvent;

/// <summary>What the coordinator sends its subscribers.</summary>
public static class TrainingEvents
{
    /// <summary><paramref name="e"/> as <paramref name="subscriber"/> may see it: a subscriber on another node gets TrainingCompleted without
    /// the weights (the final model stays on the coordinator's host: its --out file); local subscribers get everything.</summary>
    public static ITrainingEvent ForSubscriber(ITrainingEvent e, Akka.Actor.IActorRef subscriber) =>
        e is TrainingCompleted c && subscriber.Path.Address.HasGlobalScope ? c with { Parameters = [] } : e;
}

/// <summary>Sent to the coordinator by an actor that wants every <see cref="ITrainingEvent"/> (e.g. a monitor). An actor of this
/// process is subscribed at once; a remote one (in the secure default) gets a <see cref="ProgressChallenge"/> first.</summary>
public sealed record SubscribeProgress : IControlMessage
{
    public static readonly SubscribeProgress Instance = new();
}

/// <summary>
/// The coordinator's answer to a remote <see cref="SubscribeProgress"/>: prove on its service port <paramref name="ServicePort"/> (on the
/// coordinator's host), over TLS with a `monitor` certificate, that you hold <paramref name="Nonce"/> (32 random bytes, single use,
/// bound to the subscribing actor's path); only then does the coordinator send progress (Monitoring/ProgressProof, docs/security.md).
/// </summary>
public sealed record ProgressChallenge(byte[] Nonce, int ServicePort) : IControlMessage;

/// <summary>
/// One worker as the coordinator sees it, for a members table. <paramref name="State"/>: "ready", "joining" (registered,
/// loading data or opening its channel), "reconnecting" (its channel broke), "unreachable", "left" (graceful), "dead"
/// (terminated, or removed from the cluster). <paramref name="Shards"/>: shard sums it delivered first; <paramref name="MeanShardMs"/>
/// their mean compute time; <paramref name="SecondsSinceReply"/>: since its last message (−1: none yet);
/// <paramref name="Failures"/>: shards taken back from it (deadline, unreachable, left) plus times it became unreachable.
/// </summary>
public sealed record WorkerStatus(string WorkerId, string Address, string State, long Shards, double MeanShardMs, double SecondsSinceReply, int Failures) : IControlMessage;

/// <summary>
/// The coordinator's periodic view (about once a second, on membership changes, and to a new subscriber): steps done,
/// the run's length (<paramref name="TotalSteps"/> 0 = unbounded; <paramref name="Epochs"/> 0 = unbounded), and the workers,
/// live ones first, then up to a few that left.
/// </summary>
public sealed record ClusterStatus(long Step, int Epoch, long TotalSteps, long StepsPerEpoch, int Epochs, int BatchSize, string Model, WorkerStatus[] Members) : ITrainingEvent;

/// <summary>An epoch ended at step <paramref name="Step"/> (epoch 0-based): mean train loss/accuracy over its steps and, when
/// the run has a test set, the test figures (NaN and 0 samples otherwise); with --val-split the validation figures likewise, and
/// <paramref name="BestValEpoch"/> the 0-based epoch of the lowest validation loss so far (−1: none). Published by the host through
/// CoordinatorSettings.AfterStepEvent, so a monitor sees what the coordinator's console shows.</summary>
public sealed record EpochEvaluated(int Epoch, long Step, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy, int TestSamples,
    double ValLoss = double.NaN, double ValAccuracy = double.NaN, int ValSamples = 0, int BestValEpoch = -1) : ITrainingEvent;
