// The engine `train` uses by default: the Akka.NET actor trainer in local mode (DistBackprop.Cluster's
// LocalTraining: one ActorSystem, a coordinator and N worker actors). Maps its per-step reports onto
// ITrainingObserver (called on the coordinator after each step, between steps) and its failures onto
// the Host's exceptions. Akka's own warnings go to standard error; its errors only with --verbose
// (a failure reaches the user once, through TrainingFailedException).
// Leaves out: cluster mode (coordinator/worker commands, a later issue).
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Training;
using DistBackprop.Host.Output;
using Microsoft.Extensions.Logging;

namespace DistBackprop.Host.Training;

public sealed class ActorEngine : ITrainingEngine
{
    private readonly TextWriter _log;
    private readonly bool _verbose;
    private readonly Action<string>? _notice;

    /// <param name="log">Where Akka's warnings go (standard error).</param>
    /// <param name="verbose">Also Akka's errors.</param>
    /// <param name="notice">Workers joining/leaving, pauses: one line each.</param>
    public ActorEngine(TextWriter log, bool verbose, Action<string>? notice = null)
    {
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _verbose = verbose;
        _notice = notice;
    }

    public string Describe(TrainingJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return $"actors, local mode ({job.Workers} worker actors × {job.Threads} kernel threads, {job.Config.Shards} shards per step)";
    }

    public async Task<TrainingState> RunAsync(TrainingJob job, ITrainingObserver observer, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(observer);
        var dataset = new DatasetDescriptor(job.Train.Name, job.Config.Seed, 0, job.Train.Fingerprint, job.Train.Count); // as LocalTraining describes it
        var state = EngineRun.Start(job, observer, cancellation, out var train);
        if (!train)
        {
            return EngineRun.Skipped(job, state, observer, dataset);
        }

        using var loggers = NodeLog.Factory(_log, _verbose);
        var options = new LocalTrainingOptions
        {
            Workers = job.Workers,
            ThreadsPerWorker = job.Threads,
            DataSource = job.Train.Name,
            DataSeed = job.Config.Seed,
            LoggerFactory = loggers,
            AfterStep = EngineRun.AfterStep(observer),
            CheckpointDirectory = job.Checkpoints?.Directory,
            CheckpointEvery = job.Checkpoints?.Every ?? 0,
            CheckpointMetadata = job.Checkpoints?.Metadata,
            Notices = observer is ITrainingEventObserver ? null : n => _notice?.Invoke($"{n.Level}: {n.Message}"),
            Events = observer is ITrainingEventObserver events ? events.OnEvent : null,
        };
        return await EngineRun.Finish(state, LocalTraining.RunLocalAsync(state, job.Train, options, progress: null, cancellation)).ConfigureAwait(false);
    }
}
