// The engine of `distbackprop coordinator`: the same TrainRun as `train` (data, architecture, --init,
// --resume, --out, --metrics, checkpoints, test evaluation per epoch, exit codes), with the shards
// computed by worker processes that join over Akka.Cluster (ClusterCoordinatorHost). Checks the frame
// size before anything starts (exit 2 naming --max-frame-size), prints the seed address workers should
// use, and one line per membership change (through NodeLog and the coordinator's notices).
// Leaves out: option parsing (CoordinatorCommand) and the actors (DistBackprop.Cluster).
using System.Net.Sockets;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;
using DistBackprop.Core.Training;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Output;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Cluster;

public sealed class ClusterEngine : ITrainingEngine
{
    private readonly DistBackpropAkkaOptions _akka;
    private readonly int _minWorkers;
    private readonly int _fanIn;
    private readonly Func<Dataset, DatasetDescriptor> _describeData;
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly bool _verbose;
    private readonly string _frameSizeName;
    private ITrainingEventObserver? _events;

    /// <param name="akka">Node options (role, host, port, frame size, timings).</param>
    /// <param name="minWorkers">Workers that must be ready before step 1.</param>
    /// <param name="fanIn">--fan-in: aggregation groups per step when more workers are live (0: off).</param>
    /// <param name="describeData">How workers find the training set (source, data seed, test split, fingerprint).</param>
    /// <param name="output">Plain lines: address, workers joining and leaving (the coordinator's notices).</param>
    /// <param name="error">Warnings (NodeLog).</param>
    /// <param name="verbose">Akka's info lines, stack traces and errors too.</param>
    /// <param name="frameSizeName">"--max-frame-size" as the user should see it (with its source).</param>
    public ClusterEngine(DistBackpropAkkaOptions akka, int minWorkers, int fanIn, Func<Dataset, DatasetDescriptor> describeData, TextWriter output, TextWriter error,
        bool verbose, string frameSizeName)
    {
        _akka = akka ?? throw new ArgumentNullException(nameof(akka));
        _minWorkers = minWorkers;
        _fanIn = fanIn;
        _describeData = describeData ?? throw new ArgumentNullException(nameof(describeData));
        _out = output ?? throw new ArgumentNullException(nameof(output));
        _err = error ?? throw new ArgumentNullException(nameof(error));
        _verbose = verbose;
        _frameSizeName = frameSizeName;
    }

    /// <summary>akka.tcp://distbackprop@HOST:PORT, the address workers give as --seed-nodes.</summary>
    public string SeedAddress => _akka.SeedAddress;

    public string Describe(TrainingJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return $"cluster coordinator at {SeedAddress} (bound to {_akka.Host}:{_akka.Port}), {job.Config.Shards} shards per step, " +
            $"starts with {_minWorkers} worker(s), {(_fanIn > 0 ? $"fan-in {_fanIn}" : "no aggregation (star)")}, max frame size {ByteSize.Format(_akka.MaxFrameSize)}";
    }

    public async Task<TrainingState> RunAsync(TrainingJob job, ITrainingObserver observer, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(observer);
        var config = job.Config;
        try
        {
            FrameBudget.Check(config.Spec, config.BatchSize, config.Shards, _akka.MaxFrameSize);
        }
        catch (FrameSizeException e)
        {
            throw new UsageException(_frameSizeName == "--max-frame-size" ? e.Message : e.Message.Replace("--max-frame-size", _frameSizeName, StringComparison.Ordinal));
        }

        var state = EngineRun.Start(job, observer, cancellation, out var train);
        if (!train)
        {
            return EngineRun.Skipped(job, state, observer, _describeData(job.Train));
        }

        _events = observer as ITrainingEventObserver; // the console view, the meter, the monitors' epoch events
        var shown = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var over = false;
        using var loggers = NodeLog.Factory(_err, _verbose, m => over || shown.ContainsKey(m));
        var settings = new CoordinatorSettings
        {
            State = state,
            Dataset = _describeData(job.Train),
            MinWorkers = _minWorkers,
            FanIn = _fanIn,
            UpdateThreads = Environment.ProcessorCount, // the workers wait for the new weights meanwhile
            AfterStep = EngineRun.AfterStep(observer),
            CheckpointDirectory = job.Checkpoints?.Directory,
            CheckpointEvery = job.Checkpoints?.Every ?? 0,
            CheckpointMetadata = job.Checkpoints?.Metadata,
            AfterStepEvent = _events is { } events ? (_, _) => events.TakeEpochEvent() : null,
            Events = e =>
            {
                if (e is not TrainingNotice)
                {
                    _events?.OnEvent(e);
                }

                switch (e)
                {
                    case TrainingCompleted or TrainingFailed:
                        over = true; // later notices are the coordinator's own shutdown (workers removed)
                        break;
                    case TrainingNotice n when !over:
                        shown[n.Message] = true;
                        Line(n.Level == "warning" ? $"warning: {n.Message}" : n.Message);
                        break;
                }
            },
        };
        _akka.Notice = Line; // enrolments and the join line (docs/security.md)
        try
        {
            return await EngineRun.Finish(state, ClusterCoordinatorHost.RunAsync(_akka, settings, progress: null, loggers,
                started: a => Line($"coordinator up at {a}; waiting for {_minWorkers} worker(s)"),
                cancellation)).ConfigureAwait(false);
        }
        catch (TrainingFailedException) when (cancellation.IsCancellationRequested)
        {
            // SIGTERM / Ctrl+C: Akka's own shutdown hook may stop the actor system (leaving the cluster) before the
            // coordinator reports; the state holds the last completed step, which TrainRun writes as usual.
        }
        catch (Exception e) when (Find<SocketException>(e) is { } s)
        {
            throw new UsageException($"--port {_akka.Port}: cannot listen on {_akka.Host}:{_akka.Port}: {s.Message}");
        }

        return state;
    }

    private void Line(string text)
    {
        if (_events is { } events)
        {
            events.OnLine(text);
            return;
        }

        lock (_out)
        {
            _out.WriteLine(text);
        }
    }

    private static T? Find<T>(Exception? e)
        where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T t)
            {
                return t;
            }

            if (e is AggregateException a && a.InnerExceptions.Select(Find<T>).FirstOrDefault(x => x is not null) is { } inner)
            {
                return inner;
            }
        }

        return null;
    }
}
