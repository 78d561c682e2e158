// What every engine does around its trainer, in one place: the state from the job (and its resume point), the
// observer's start, the step report turned into the observer's outcome and timings, the coordinator's failure
// turned into the Host's exceptions (a typed divergence, no message parsing). ActorEngine and ClusterEngine differ
// only in how they run the coordinator. Leaves out: the trainers themselves.
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Training;

namespace DistBackprop.Host.Training;

internal static class EngineRun
{
    /// <summary>The run's state (the resume point applied), after the observer's OnStart. <paramref name="train"/>: false
    /// when there is nothing to train (the run is over already, or cancelled): return the state as it is.</summary>
    public static TrainingState Start(TrainingJob job, ITrainingObserver observer, CancellationToken cancellation, out bool train)
    {
        var state = new TrainingState(job.Config, job.Train.Count, job.InitialParameters.ToArray());
        if (job.Resume is { } point)
        {
            CheckpointStore.Apply(point, state);
        }

        observer.OnStart(state);
        train = !state.IsFinished && !cancellation.IsCancellationRequested;
        return state;
    }

    /// <summary>
    /// Nothing to train (see <see cref="Start"/>): a run stopped before its first step still ends with its final checkpoint,
    /// written by the same CheckpointWriter the coordinator uses.
    /// </summary>
    public static TrainingState Skipped(TrainingJob job, TrainingState state, ITrainingObserver observer, DatasetDescriptor dataset)
    {
        if (job.Checkpoints is { } plan && new CheckpointWriter(plan.Directory, plan.Every, dataset, plan.Metadata, job.Resume?.Step ?? 0).Final(state) is { } written)
        {
            (observer as ITrainingEventObserver)?.OnEvent(written);
        }

        return state;
    }

    /// <summary>The coordinator's after-step hook: the observer sees each step as the report describes it.</summary>
    public static Action<TrainingState, StepReport> AfterStep(ITrainingObserver observer) =>
        (s, r) => observer.OnStep(s, new StepOutcome(r.Step, r.Epoch, r.Loss, r.Accuracy, r.Samples, r.EpochCompleted, r.LearningRate, r.GradNorm),
            new StepTimings(r.StepMs, r.Workers, r.ComputeMs, r.SerializeMs, r.TransportMs, r.WaitMs));

    /// <summary>Runs the trainer, copies its final weights into <paramref name="state"/>, and throws TrainingDivergedException on divergence.</summary>
    public static async Task<TrainingState> Finish(TrainingState state, Task<TrainingResult> run)
    {
        try
        {
            var result = await run.ConfigureAwait(false);
            if (!ReferenceEquals(result.Parameters, state.Parameters))
            {
                result.Parameters.CopyTo(state.Parameters, 0);
            }

            return state;
        }
        catch (TrainingFailedException e) when (e.Divergence is { } d)
        {
            throw new TrainingDivergedException(d.Step, d.Detail);
        }
    }
}
