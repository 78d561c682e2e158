// The engine `train` uses by default: the Akka.NET actor trainer in local mode (DistBackprop.Cluster's
// LocalTraining: one ActorSystem, a coordinator and N worker actors). Maps its per-step reports onto
// ITrainingObserver (called on the coordinator after each step, between steps) and its failures onto
// the Host's exceptions. Akka's own warnings go to standard error; its errors only with --verbose
// (a failure reaches the user once, through TrainingFailedException).
// Leaves out: cluster mode (coordinator/worker commands, a later issue).
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
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
        var state = new TrainingState(job.Config, job.Train.Count, job.InitialParameters.ToArray());
        if (job.Resume is { } point)
        {
            CheckpointStore.Apply(point, state);
        }

        observer.OnStart(state);
        if (state.IsFinished || cancellation.IsCancellationRequested)
        {
            return state;
        }

        using var loggers = LoggerFactory.Create(b => b
            .SetMinimumLevel(LogLevel.Warning)
            .AddProvider(new TextWriterLoggerProvider(_log, LogLevel.Warning, errors: _verbose)));
        var options = new LocalTrainingOptions
        {
            Workers = job.Workers,
            ThreadsPerWorker = job.Threads,
            DataSource = job.Train.Name,
            LoggerFactory = loggers,
            AfterStep = (s, r) => observer.OnStep(s, Outcome(s, r), Timings(r)),
            Notices = observer is ITrainingEventObserver ? null : n => _notice?.Invoke($"{n.Level}: {n.Message}"),
            Events = observer is ITrainingEventObserver events ? events.OnEvent : null,
        };
        try
        {
            var result = await LocalTraining.RunLocalAsync(state, job.Train, options, progress: null, cancellation).ConfigureAwait(false);
            if (!ReferenceEquals(result.Parameters, state.Parameters))
            {
                result.Parameters.CopyTo(state.Parameters, 0);
            }
        }
        catch (TrainingFailedException e) when (e.ExitCode == ExitCodes.Diverged)
        {
            var prefix = $"training diverged at step {e.Step}: ";
            throw new TrainingDivergedException(e.Step, e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message);
        }

        return state;
    }

    // After CompleteStep the position returns to 0 exactly when the step finished an epoch.
    private static StepOutcome Outcome(TrainingState s, StepReport r) =>
        new(r.Step, r.Epoch, r.Loss, r.Accuracy, r.Samples, EpochCompleted: s.Position == 0, r.LearningRate, r.GradNorm);

    private static StepTimings Timings(StepReport r) =>
        new(r.SamplesPerSecond > 0 ? r.Samples * 1000.0 / r.SamplesPerSecond : 0, r.Workers, r.ComputeMs, r.SerializeMs, r.TransportMs, r.WaitMs);
}
