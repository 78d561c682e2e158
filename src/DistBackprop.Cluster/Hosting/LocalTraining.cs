// Local mode as one call: a generic host with Akka.Hosting, one ActorSystem holding the coordinator
// and N workers (configured by WithDistBackpropLocal), trains to the end, returns the final weights and
// the per-step reports, and shuts everything down. The Host's `train` command calls this.
// Leaves out: loading data, checkpoint files and console output (the caller's, via the hooks).
using Akka.Actor;
using Akka.Hosting;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;
using DistBackprop.Core.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DistBackprop.Cluster.Hosting;

/// <summary>The outcome of a run: final weights (ParameterLayout order), one report per step, the counters.</summary>
public sealed record TrainingResult(float[] Parameters, IReadOnlyList<StepReport> Steps, TrainingSummary Summary);

/// <summary>The run failed; <see cref="ExitCode"/> is 3 for divergence (non-finite loss, gradient or weight; then
/// <see cref="Divergence"/> says what), else 1 (2: the coordinator could not start, e.g. its port is taken).</summary>
public sealed class TrainingFailedException(string message, int exitCode, long step, TrainingDivergence? divergence = null) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public long Step { get; } = step;

    public TrainingDivergence? Divergence { get; } = divergence;

    /// <summary>The failure a TrainingFailed event reports.</summary>
    public static TrainingFailedException From(TrainingFailed f)
    {
        ArgumentNullException.ThrowIfNull(f);
        return new TrainingFailedException(f.Reason, f.ExitCode, f.Step, f.Divergence);
    }
}

/// <summary>Options of <see cref="LocalTraining"/> beyond the training config.</summary>
public sealed class LocalTrainingOptions
{
    public int Workers { get; init; } = Environment.ProcessorCount;

    public int ThreadsPerWorker { get; init; } = 1;

    /// <summary>How the training set was named (recorded in logs and events; local workers share the loaded set).</summary>
    public string? DataSource { get; init; }

    public long DataSeed { get; init; } = 1;

    public double TestSplit { get; init; }

    /// <summary>Node options; Role is forced to Local.</summary>
    public DistBackpropAkkaOptions Akka { get; init; } = new();

    /// <summary>Where Akka logs go; null = Akka's own standard-output logger at Akka.LogLevel.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Runs on the coordinator after each step (checkpoints, metrics rows).</summary>
    public Action<TrainingState, StepReport>? AfterStep { get; init; }

    /// <summary>`--checkpoint-dir`: resume checkpoints written by the coordinator (see CoordinatorSettings.CheckpointDirectory).</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>`--checkpoint-every`: steps between checkpoints; 0 = at epoch ends.</summary>
    public int CheckpointEvery { get; init; }

    /// <summary>Extra checkpoint metadata (see CoordinatorSettings.CheckpointMetadata).</summary>
    public Func<TrainingState, IEnumerable<KeyValuePair<string, string>>>? CheckpointMetadata { get; init; }

    /// <summary>Every coordinator event (step reports, notices, pauses, checkpoints, the end), on the coordinator's thread.</summary>
    public Action<ITrainingEvent>? Events { get; init; }

    /// <summary>Aggregation groups per step when more workers than this are live (CoordinatorSettings.FanIn); 0: the star. In process
    /// it saves nothing (arrays travel by reference); the tests use it to run the aggregation protocol through real actors.</summary>
    public int FanIn { get; init; }

    /// <summary>Workers joining/leaving, pauses.</summary>
    public Action<TrainingNotice>? Notices { get; init; }
}

public static class LocalTraining
{
    /// <summary>
    /// Trains <paramref name="config"/> on <paramref name="train"/> from <paramref name="initialParameters"/> (copied) with
    /// <paramref name="workers"/> in-process workers of <paramref name="threadsPerWorker"/> kernel threads each.
    /// Cancelling stops after the step in progress and returns the weights so far (Summary.Stopped).
    /// Throws <see cref="TrainingFailedException"/> (ExitCode 3 on divergence).
    /// </summary>
    public static Task<TrainingResult> RunLocalAsync(TrainingConfig config, Dataset train, float[] initialParameters, int workers, int threadsPerWorker,
        IProgress<StepReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(initialParameters);
        var state = new TrainingState(config, train.Count, initialParameters.ToArray());
        return RunLocalAsync(state, train, new LocalTrainingOptions { Workers = workers, ThreadsPerWorker = threadsPerWorker }, progress, cancellationToken);
    }

    /// <summary>As above, from a prepared state (e.g. restored from a checkpoint); the run owns <paramref name="state"/>.</summary>
    public static async Task<TrainingResult> RunLocalAsync(TrainingState state, Dataset train, LocalTrainingOptions options,
        IProgress<StepReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        var akka = options.Akka;
        akka.Role = NodeRole.Local;

        var done = new TaskCompletionSource<TrainingResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var steps = new List<StepReport>();
        var settings = new CoordinatorSettings
        {
            State = state,
            Dataset = new DatasetDescriptor(options.DataSource, options.DataSeed, options.TestSplit, train.Fingerprint, train.Count),
            MinWorkers = options.Workers,
            UpdateThreads = options.Workers * options.ThreadsPerWorker, // the workers are idle during the update: it gets their cores
            ShardDeadline = akka.ShardDeadline,
            AfterStep = options.AfterStep,
            CheckpointDirectory = options.CheckpointDirectory,
            CheckpointEvery = options.CheckpointEvery,
            CheckpointMetadata = options.CheckpointMetadata,
            FanIn = options.FanIn,
            Events = e =>
            {
                options.Events?.Invoke(e);
                switch (e)
                {
                    case StepReport r:
                        steps.Add(r);
                        progress?.Report(r);
                        break;
                    case TrainingNotice n:
                        options.Notices?.Invoke(n);
                        break;
                    case TrainingCompleted c:
                        done.TrySetResult(new TrainingResult(c.Parameters, steps, c.Summary));
                        break;
                    case TrainingFailed f:
                        done.TrySetException(TrainingFailedException.From(f));
                        break;
                }
            },
        };

        // The caller owns Ctrl+C/SIGTERM (cancellation stops after the current step): Akka's own SIGTERM hook would
        // run CoordinatedShutdown under the running coordinator, and the run would never return.
        using var host = BuildHost(options.LoggerFactory, akka.LogLevel, b => b
            .WithDistBackpropLocal(akka, settings, train, options.Workers, options.ThreadsPerWorker)
            .AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend));
        await host.StartAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            var coordinator = await ActorRegistry.For(host.Services.GetRequiredService<ActorSystem>()).GetAsync<Coordinator>(CancellationToken.None).ConfigureAwait(false);
            using var stop = cancellationToken.Register(() => coordinator.Tell(StopTraining.Instance));
            return await done.Task.ConfigureAwait(false);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>A bare generic host running one ActorSystem named "distbackprop" configured by <paramref name="configure"/>.</summary>
    internal static IHost BuildHost(ILoggerFactory? loggerFactory, Akka.Event.LogLevel logLevel, Action<AkkaConfigurationBuilder> configure)
    {
        var hb = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (loggerFactory is not null)
        {
            hb.Services.AddSingleton(loggerFactory);
        }

        hb.Services.AddAkka(DistBackpropAkkaOptions.SystemName, (b, _) =>
        {
            configure(b);
            if (loggerFactory is not null)
            {
                b.ConfigureLoggers(l =>
                {
                    l.LogLevel = logLevel;
                    l.ClearLoggers();
                    l.AddLoggerFactory(loggerFactory);
                });
            }
        });
        return hb.Build();
    }
}
