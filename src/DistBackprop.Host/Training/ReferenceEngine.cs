// The engine on Core's ReferenceTrainer: the S shards of each step computed one after another on
// this thread, kernels split over workers × threads threads. Kept as the oracle the actor engine
// is tested against; its checkpoints come from the same CheckpointWriter the coordinator uses.
// Leaves out: actors, messages, timing splits beyond "compute".
using System.Diagnostics;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Host.Training;

public sealed class ReferenceEngine : ITrainingEngine
{
    private static int KernelThreads(TrainingJob job) => Math.Max(1, job.Workers * job.Threads);

    public string Describe(TrainingJob job) =>
        $"reference loop, test oracle ({job.Config.Shards} shards in turn, {KernelThreads(job)} kernel threads)";

    public Task<TrainingState> RunAsync(TrainingJob job, ITrainingObserver observer, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(observer);
        using var pool = new KernelPool(KernelThreads(job));
        var trainer = new ReferenceTrainer(job.Config, job.Train, job.InitialParameters, pool);
        if (job.Resume is { } point)
        {
            CheckpointStore.Apply(point, trainer.State);
        }

        observer.OnStart(trainer.State);
        var events = observer as ITrainingEventObserver;
        var plan = job.Checkpoints;
        var checkpoints = new CheckpointWriter(plan?.Directory, plan?.Every ?? 0, new DatasetDescriptor(job.Train.Name, job.Config.Seed, 0, job.Train.Fingerprint, job.Train.Count),
            plan?.Metadata, trainer.State.Step);
        var clock = new Stopwatch();
        while (!cancellation.IsCancellationRequested)
        {
            clock.Restart();
            if (trainer.RunStep() is not { } outcome)
            {
                break;
            }

            var ms = clock.Elapsed.TotalMilliseconds;
            observer.OnStep(trainer.State, outcome, new StepTimings(ms, Workers: 1, ComputeMs: ms));
            if (checkpoints.AfterStep(trainer.State, outcome.EpochCompleted) is { } written) // after OnStep, as the coordinator does
            {
                events?.OnEvent(written);
            }
        }

        if (checkpoints.Final(trainer.State) is { } last)
        {
            events?.OnEvent(last);
        }

        return Task.FromResult(trainer.State);
    }
}
