// One `train` run from resolved options to files on disk:
//   1. data (DatasetLoader), 2. architecture (--layers, else --init's shapes, else [F,128,K]) checked
//   against the data, 3. initial weights (--init or the seeded initializer), 4. resume point,
//   5. the engine's steps → metrics row, progress line, periodic checkpoint, test evaluation per epoch,
//   6. --out and a final checkpoint — also after Ctrl+C; never after divergence (the last good
//   checkpoint is kept and named instead).
// Leaves out: option parsing (Configuration/*) and the shard computation (ITrainingEngine).
using System.Globalization;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;
using DistBackprop.Host.Commands;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Output;

namespace DistBackprop.Host.Training;

public sealed class TrainRun : ITrainingObserver
{
    /// <summary>Hidden width when --layers is omitted.</summary>
    public const int DefaultHidden = 128;

    private readonly CliContext _context;
    private readonly Bound<TrainingOptions> _bound;
    private readonly ResolvedTraining _resolved;
    private readonly PlainProgress _progress;
    private TrainingOptions O => _bound.Value;
    private DataSplit? _data;
    private Evaluator? _evaluator;
    private MetricsWriter? _metrics;
    private string? _lastCheckpoint;
    private long _lastCheckpointStep = -1;
    private TrainingState? _state;
    private readonly string _command;

    /// <param name="command">The command name for the first log line ("train", "coordinator").</param>
    public TrainRun(CliContext context, Bound<TrainingOptions> bound, ResolvedTraining resolved, string command = "train")
    {
        _command = command;
        _context = context;
        _bound = bound;
        _resolved = resolved;
        _progress = new PlainProgress(context.Out);
    }

    public int Execute()
    {
        var o = O;
        _progress.Line($"distbackprop {_command}: kernels {KernelInfo.Describe()}");
        var data = _data = DatasetLoader.Load(o.Data, new DataOptions(o.Seed, o.TestSplit, _context.Environment.DataDirectory));
        var train = data.Train;
        var spec = ResolveSpec(train);
        if (o.Batch > train.Count)
        {
            throw new UsageException($"{_bound.Name(nameof(o.Batch))} {o.Batch} is larger than the training set ({train.Count} samples)");
        }

        var initial = o.Init is not null ? ModelFile.LoadFor(o.Init, spec) : Initializer.Create(spec, o.Seed);
        var config = new TrainingConfig(spec, _resolved.Optimizer, o.Batch, _resolved.Epochs, _resolved.MaxSteps, o.Seed, !o.NoShuffle, _resolved.Shards);
        if (config.Validate() is { } problem)
        {
            throw new UsageException(problem);
        }

        var resume = o.Resume is not null ? CheckpointStore.LoadNewestValid(o.Resume, spec, w => _context.Err.WriteLine($"warning: {w}")) : null;
        var job = new TrainingJob(config, train, initial, resume, _resolved.Workers, _resolved.Threads);
        var engine = _context.EngineFactory(_context);

        _progress.Line(string.Create(CultureInfo.InvariantCulture,
            $"data {train.Name}: {train.Count} training samples, {data.Test?.Count ?? 0} test samples, {train.FeatureCount} features, {train.Classes} classes"));
        _progress.Line($"model {spec}, {spec.ParameterCount} parameters; {Describe(config)}");
        _progress.Line($"engine: {engine.Describe(job)}");
        if (resume is not null)
        {
            _progress.Line($"resuming from {resume.Path} at step {resume.Step}");
        }

        if (o.Plot is not null)
        {
            _context.Err.WriteLine($"note: --plot {o.Plot}: plots are not drawn by this version yet; use --metrics");
        }

        _evaluator = data.Test is not null ? new Evaluator(spec) : null;
        try
        {
            _metrics = o.Metrics is not null ? OpenMetrics(o.Metrics) : null;
            TrainingState state;
            try
            {
                state = engine.RunAsync(job, this, _context.Cancellation).GetAwaiter().GetResult();
            }
            catch (TrainingDivergedException e)
            {
                var kept = _lastCheckpoint is not null ? $"; the last good checkpoint is kept: {_lastCheckpoint}"
                    : o.CheckpointDir is not null ? "; no checkpoint had been written yet" : string.Empty;
                _context.Err.WriteLine($"error: {e.Message}{LargestWeight(e)}{kept}");
                return ExitCodes.Diverged;
            }

            Finish(state);
            return ExitCodes.Ok;
        }
        finally
        {
            _metrics?.Dispose();
        }
    }

    void ITrainingObserver.OnStart(TrainingState state)
    {
        _state = state;
        if (state.Step > 0)
        {
            _lastCheckpointStep = state.Step;
        }
    }

    void ITrainingObserver.OnStep(TrainingState state, StepOutcome outcome, StepTimings timings)
    {
        _metrics?.Write(outcome, timings);
        _progress.Step(state, outcome, timings);
        var every = O.CheckpointEvery;
        if (O.CheckpointDir is not null && ((every is int n && state.Step % n == 0) || (every is null && outcome.EpochCompleted)))
        {
            SaveCheckpoint(state);
        }

        if (outcome.EpochCompleted)
        {
            var test = _evaluator is not null && _data?.Test is { } t ? _evaluator.Evaluate(state.Parameters, t) : null;
            _progress.Epoch(state, outcome.Epoch, test);
        }
    }

    private void Finish(TrainingState state)
    {
        var o = O;
        var stopped = _context.Cancellation.IsCancellationRequested && !state.IsFinished;
        if (stopped)
        {
            _progress.Line($"stopped at step {state.Step} (Ctrl+C / SIGTERM); writing files");
        }

        if (o.CheckpointDir is not null && _lastCheckpointStep != state.Step)
        {
            SaveCheckpoint(state);
        }

        if (o.Out is not null)
        {
            EnsureDirectory(o.Out);
            ModelFile.Save(o.Out, state.Config.Spec, state.Parameters, Metadata(state));
            _progress.Line($"model written to {o.Out}");
        }

        if (_evaluator is not null && _data?.Test is { } test && (stopped || !(state.Step > 0 && state.Position == 0)))
        {
            // the run ended mid-epoch: report the test figures of the final weights too
            var r = _evaluator.Evaluate(state.Parameters, test);
            _progress.Line(string.Create(CultureInfo.InvariantCulture, $"final test loss {r.Loss:F4}  acc {r.Accuracy:F4} ({r.Samples} samples)"));
        }

        _progress.Line(string.Create(CultureInfo.InvariantCulture, $"done: {state.Step} steps in {_progress.Elapsed.TotalSeconds:F1} s"));
    }

    /// <summary>When the divergence message names no tensor (a non-finite loss), name the tensor holding the largest |weight|.</summary>
    private string LargestWeight(TrainingDivergedException e)
    {
        if (_state is not { } state || e.Message.Contains("layers.", StringComparison.Ordinal))
        {
            return string.Empty;
        }

        var layout = state.Config.Spec.Layout;
        var (name, largest) = (string.Empty, -1f);
        for (var l = 0; l < layout.LayerCount; l++)
        {
            Check(layout.Weight<float>(state.Parameters, l), ParameterLayout.WeightName(l));
            Check(layout.Bias<float>(state.Parameters, l), ParameterLayout.BiasName(l));
        }

        return string.Create(CultureInfo.InvariantCulture, $" (largest |weight| before step {e.Step}: {largest:G4} in {name})");

        void Check(ReadOnlySpan<float> values, string tensor)
        {
            foreach (var v in values)
            {
                var a = float.IsNaN(v) ? float.PositiveInfinity : Math.Abs(v);
                if (a > largest)
                {
                    (name, largest) = (tensor, a);
                }
            }
        }
    }

    private ModelSpec ResolveSpec(Dataset train)
    {
        var o = O;
        int[] sizes;
        string from;
        if (_resolved.Layers is { } layers)
        {
            sizes = layers;
            from = _bound.Name(nameof(o.Layers));
        }
        else if (o.Init is not null)
        {
            sizes = ModelFile.Load(o.Init).Sizes;
            from = $"the tensors of {_bound.Name(nameof(o.Init))} {o.Init}";
        }
        else
        {
            sizes = [train.FeatureCount, DefaultHidden, train.Classes];
            from = string.Empty;
        }

        var problems = new List<string>();
        if (sizes[0] != train.FeatureCount)
        {
            problems.Add($"{from}: input size {sizes[0]} does not match the data's {train.FeatureCount} features ({train.Name})");
        }

        if (!OutputsFit(sizes[^1], train.Classes))
        {
            problems.Add($"{from}: output size {sizes[^1]} does not match the data's {train.Classes} classes ({train.Name})");
        }

        if (problems.Count > 0)
        {
            throw new UsageException(problems);
        }

        return new ModelSpec(sizes, _resolved.Activation, _resolved.Loss);
    }

    /// <summary>K outputs for K classes; one output (sigmoid/threshold 0.5) also fits two classes.</summary>
    internal static bool OutputsFit(int outputs, int classes) => outputs == classes || (outputs == 1 && classes == 2);

    private MetricsWriter OpenMetrics(string path)
    {
        try
        {
            return MetricsWriter.Open(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{_bound.Name(nameof(O.Metrics))}: cannot write '{path}': {e.Message}");
        }
    }

    private void SaveCheckpoint(TrainingState state)
    {
        _lastCheckpoint = CheckpointStore.Save(O.CheckpointDir!, state, Metadata(state));
        _lastCheckpointStep = state.Step;
    }

    private List<KeyValuePair<string, string>> Metadata(TrainingState state)
    {
        var c = CultureInfo.InvariantCulture;
        var m = new List<KeyValuePair<string, string>>
        {
            new("step", state.Step.ToString(c)),
            new("epoch", state.Epoch.ToString(c)),
            new("seed", state.Config.Seed.ToString(c)),
            new("batch", state.Config.BatchSize.ToString(c)),
            new("shards", state.Config.Shards.ToString(c)),
            new("shuffle", state.Config.Shuffle ? "true" : "false"),
            new("data", _data?.Train.Name ?? string.Empty),
            new("data_fingerprint", _data?.Train.Fingerprint ?? string.Empty),
        };
        m.AddRange(state.Config.Optimizer.ToMetadata());
        return m;
    }

    private static string Describe(TrainingConfig c)
    {
        var inv = CultureInfo.InvariantCulture;
        var opt = c.Optimizer;
        var lr = opt.LearningRate.ToString("R", inv);
        var extra = opt.Kind is OptimizerKind.Momentum or OptimizerKind.Nesterov ? $" momentum {opt.Momentum.ToString("R", inv)}" : string.Empty;
        var wd = opt.WeightDecay != 0 ? $" weight decay {opt.WeightDecay.ToString("R", inv)}" : string.Empty;
        var length = (c.Epochs, c.MaxSteps) switch
        {
            (int e, long s) => $"{e} epochs or {s} steps",
            (int e, null) => $"{e} epochs",
            (null, long s) => $"{s} steps",
            _ => "unbounded",
        };
        return $"{OptimizerSettings.NameOf(opt.Kind)} lr {lr}{extra}{wd}, batch {c.BatchSize}, {length}, seed {c.Seed}{(c.Shuffle ? string.Empty : ", no shuffle")}";
    }

    private static void EnsureDirectory(string file)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(file));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }
    }
}
