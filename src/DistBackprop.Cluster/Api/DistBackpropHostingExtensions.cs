// Akka.Hosting extensions for running a DistBackprop coordinator or worker inside an application's own generic
// host and ActorSystem (cluster mode), without the CLI:
//   services.AddAkka("distbackprop", (b, _) => b.WithDistBackpropCoordinator(node, config, train, onEvent));
//   services.AddAkka("distbackprop", (b, _) => b.WithDistBackpropWorker(node, train));
// They fill CoordinatorSettings / WorkerSettings with the CLI's defaults and call the same WithDistBackpropCoordinator /
// WithDistBackpropWorker (Cluster/Hosting/AkkaBuilderExtensions) the `coordinator` and `worker` commands use. The
// ActorSystem must be named "distbackprop" (DistBackpropAkkaOptions.SystemName) so seed addresses match the CLI's.
// Leaves out: restarting a worker's ActorSystem when its coordinator is gone (ClusterWorkerHost does that for the CLI).
using Akka.Hosting;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;

namespace DistBackprop;

public static class DistBackpropHostingExtensions
{
    /// <summary>
    /// A coordinator node: role "coordinator" on <paramref name="node"/>.Host:Port (set <c>Role</c> to Coordinator), waits for
    /// <paramref name="minWorkers"/> workers, trains <paramref name="config"/> on <paramref name="train"/> from
    /// <paramref name="initialParameters"/> (default: the seeded initialisation) and reports every event to <paramref name="events"/>
    /// (StepReport per step, TrainingCompleted with the final weights, TrainingFailed) on the coordinator's thread.
    /// Workers started without data load it by <paramref name="dataSource"/> (a synthetic name, mnist, a path), or are given it.
    /// </summary>
    /// <exception cref="FrameSizeException">the model's messages do not fit node.MaxFrameSize (the message names --max-frame-size).</exception>
    public static AkkaConfigurationBuilder WithDistBackpropCoordinator(this AkkaConfigurationBuilder builder, DistBackpropAkkaOptions node,
        TrainingConfig config, Dataset train, Action<ITrainingEvent> events, float[]? initialParameters = null, int minWorkers = 1, string? dataSource = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(events);
        node.Role = NodeRole.Coordinator;
        var settings = new CoordinatorSettings
        {
            State = new TrainingState(config, train.Count, (initialParameters ?? Initializer.Create(config.Spec, config.Seed)).ToArray()),
            Dataset = new DatasetDescriptor(dataSource ?? train.Name, config.Seed, 0, train.Fingerprint, train.Count),
            MinWorkers = minWorkers,
            ShardDeadline = node.ShardDeadline,
            UpdateThreads = Environment.ProcessorCount,
            Events = events,
        };
        return builder.WithDistBackpropCoordinator(node, settings);
    }

    /// <summary>
    /// A worker node: role "worker", joins node.SeedNodes and computes shards for the coordinator it finds there with
    /// <paramref name="threads"/> kernel threads. With <paramref name="train"/> null it adopts the coordinator's data,
    /// loading it with <paramref name="loadDataset"/> (default: Core's DatasetLoader with the coordinator's source and seed).
    /// The architecture always comes from the coordinator.
    /// </summary>
    public static AkkaConfigurationBuilder WithDistBackpropWorker(this AkkaConfigurationBuilder builder, DistBackpropAkkaOptions node,
        Dataset? train = null, int threads = 1, string? workerId = null, Func<DatasetDescriptor, Dataset>? loadDataset = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        node.Role = NodeRole.Worker;
        return builder.WithDistBackpropWorker(node, new WorkerSettings
        {
            WorkerId = workerId ?? $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}",
            Threads = threads,
            Dataset = train,
            LoadDataset = loadDataset ?? (d => DatasetLoader.Load(d.Source, new DataOptions(d.DataSeed, d.TestSplit)).Train),
        });
    }
}
