// What `train` needs from a trainer, whoever computes the shards: run a prepared configuration
// from initial (or resumed) weights, report every completed step, stop after the current step
// when cancelled. Implementations: ReferenceEngine (Core's plain loop; the test oracle) and,
// when the actor trainer lands, an actor engine. Leaves out: files, metrics and console output
// (TrainRun does those through ITrainingObserver).
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Training;

namespace DistBackprop.Host.Training;

/// <summary>Everything an engine needs to start. <paramref name="Resume"/> is applied by the engine before step 1.</summary>
public sealed record TrainingJob(TrainingConfig Config, Dataset Train, float[] InitialParameters, ResumePoint? Resume, int Workers, int Threads)
{
    /// <summary>Resume checkpoints, written by the engine's coordinator (CheckpointWriter); null: none.</summary>
    public CheckpointPlan? Checkpoints { get; init; }
}

/// <summary>`--checkpoint-dir` and `--checkpoint-every` (0: at each epoch's end), and the run's metadata for every file.</summary>
public sealed record CheckpointPlan(string Directory, int Every, Func<TrainingState, IEnumerable<KeyValuePair<string, string>>> Metadata);

/// <summary>Where the time of one step went, in milliseconds (zeros where an engine has no such phase).</summary>
public readonly record struct StepTimings(double StepMs, int Workers, double ComputeMs, double SerializeMs = 0, double TransportMs = 0, double WaitMs = 0);

/// <summary>Called on the engine's thread; the state is consistent (between steps) during each call.</summary>
public interface ITrainingObserver
{
    /// <summary>Before the first step, after any resume point was applied.</summary>
    void OnStart(TrainingState state);

    /// <summary>After each completed step.</summary>
    void OnStep(TrainingState state, StepOutcome outcome, StepTimings timings);
}

/// <summary>An observer that also wants the coordinator's events (notices, members status, step reports), on the engine's thread.
/// When the observer implements it, the engine hands its notices and lines to it instead of printing them (the console view
/// may be drawing), and publishes its epoch events to the coordinator's subscribers (monitors).</summary>
public interface ITrainingEventObserver
{
    void OnEvent(DistBackprop.Cluster.Protocol.ITrainingEvent e);

    /// <summary>A line the engine would print (addresses, workers joining).</summary>
    void OnLine(string text);

    /// <summary>The epoch event made by the last OnStep, once (null when that step ended no epoch).</summary>
    DistBackprop.Cluster.Protocol.EpochEvaluated? TakeEpochEvent();
}

public interface ITrainingEngine
{
    /// <summary>One line for the log, e.g. "reference loop (2 kernel threads)".</summary>
    string Describe(TrainingJob job);

    /// <summary>
    /// Trains until the configuration's end or until <paramref name="cancellation"/> fires (then after the
    /// current step) and returns the final state. Throws <see cref="TrainingDivergedException"/> on a
    /// non-finite loss, gradient or weight.
    /// </summary>
    Task<TrainingState> RunAsync(TrainingJob job, ITrainingObserver observer, CancellationToken cancellation);
}
