// One `train` run from resolved options to files on disk:
//   1. data (DatasetLoader), 2. architecture (--layers, else --init's shapes, else [F,128,K]) checked
//   against the data, 3. initial weights (--init or the seeded initializer), 4. resume point,
//   5. the engine's steps → metrics row, the console view (live or plain lines), at each epoch end the
//   validation set (--val-split: early stopping's observation, --best-out when it improved) and the test set
//   (→ the --metrics sidecar <name>.epochs.csv), the "DistBackprop" meter from the coordinator's events; resume
//   checkpoints are the engine's (its coordinator's CheckpointWriter: periodic, epoch ends, final — written after
//   this step's observer call, so an epoch-end checkpoint holds early stopping's state of that epoch),
//   6. --out and --onnx — also after Ctrl+C and after early stopping; never after divergence (the last good
//   checkpoint is kept and named instead); --plot from the steps and epochs kept in memory.
// --tensorboard is one more observer of steps and epochs, called where the metrics and epochs files are written.
// Leaves out: option parsing (Configuration/*) and the shard computation (ITrainingEngine).
using System.Globalization;
using DistBackprop.Cluster.Monitoring;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;
using DistBackprop.Host.Commands;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Output;
using DistBackprop.Host.Plotting;

namespace DistBackprop.Host.Training;

public sealed class TrainRun : ITrainingObserver, ITrainingEventObserver
{
    /// <summary>Hidden width when --layers is omitted.</summary>
    public const int DefaultHidden = 128;

    private readonly CliContext _context;
    private readonly Bound<TrainingOptions> _bound;
    private readonly ResolvedTraining _resolved;
    private readonly IRunView _progress;
    private readonly string _title;
    private readonly EpochAccumulator _epoch = new();
    private readonly List<MetricsRow> _rows = new();
    private readonly TrainingMeter _meter = new();
    private TrainingOptions O => _bound.Value;
    private DataSplit? _data;
    private Evaluator? _evaluator;
    private Evaluator? _validator;
    private MetricsWriter? _metrics;
    private EpochsFile? _epochsFile;
    private TensorBoardWriter? _tensorBoard;
    private EpochEvaluated? _epochEvent;
    private string? _lastCheckpoint;
    private TrainingState? _state;
    private readonly string _command;

    /// <param name="command">The command name for the first log line ("train", "coordinator").</param>
    public TrainRun(CliContext context, Bound<TrainingOptions> bound, ResolvedTraining resolved, string command = "train")
    {
        _command = command;
        _title = $"distbackprop {command}";
        _context = context;
        _bound = bound;
        _resolved = resolved;
        _progress = ViewFactory.Create(context, bound.Value.Plain);
    }

    /// <summary>The epoch just evaluated (once: the next call returns null until another epoch ends). A cluster coordinator
    /// publishes it to monitors (CoordinatorSettings.AfterStepEvent) right after the step's OnStep.</summary>
    public EpochEvaluated? TakeEpochEvent()
    {
        var e = _epochEvent;
        _epochEvent = null;
        return e;
    }

    public int Execute()
    {
        try
        {
            return Run();
        }
        finally
        {
            _progress.Dispose();
            _meter.Dispose();
        }
    }

    private int Run()
    {
        var o = O;
        _progress.Line($"{_title}: kernels {KernelInfo.Describe()}");
        var data = _data = DatasetLoader.Load(o.Data, new DataOptions(o.Seed, o.TestSplit, _context.Environment.DataDirectory, o.ValSplit));
        var train = data.Train;
        var spec = ResolveSpec(train);
        if (o.Batch > train.Count)
        {
            throw new UsageException($"{_bound.Name(nameof(o.Batch))} {o.Batch} is larger than the training set ({train.Count} samples)");
        }

        var initial = o.Init is not null ? ModelFile.LoadFor(o.Init, spec) : Initializer.Create(spec, o.Seed);
        var r = _resolved;
        var config = new TrainingConfig(spec, r.Optimizer, o.Batch, r.Epochs, r.MaxSteps, o.Seed, !o.NoShuffle, r.Shards, r.Schedule, r.ClipGradNorm, r.EarlyStop);
        if (config.Validate(train.Count) is { } problem)
        {
            throw new UsageException(problem);
        }

        var resume = o.Resume is not null ? CheckpointStore.LoadNewestValid(o.Resume, spec, w => _context.Err.WriteLine($"warning: {w}")) : null;
        var job = new TrainingJob(config, train, initial, resume, _resolved.Workers, _resolved.Threads)
        {
            Checkpoints = o.CheckpointDir is { } dir ? new CheckpointPlan(dir, o.CheckpointEvery ?? 0, Metadata) : null,
        };
        var engine = _context.EngineFactory(EngineContext());

        var held = data.Validation is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v.Count} validation samples (held out), ") : string.Empty;
        _progress.Line(string.Create(CultureInfo.InvariantCulture,
            $"data {train.Name}: {train.Count} training samples, {held}{data.Test?.Count ?? 0} test samples, {train.FeatureCount} features, {train.Classes} classes"));
        _progress.Line($"model {spec}, {spec.ParameterCount} parameters; {Describe(config)}");
        _progress.Line($"engine: {engine.Describe(job)}");
        if (resume is not null)
        {
            _progress.Line($"resuming from {resume.Path} at step {resume.Step}");
        }

        _evaluator = data.Test is not null ? new Evaluator(spec) : null;
        _validator = data.Validation is not null ? new Evaluator(spec) : null;
        try
        {
            _metrics = o.Metrics is not null ? OpenMetrics(o.Metrics) : null;
            _epochsFile = o.Metrics is not null ? OpenEpochs(o.Metrics, data.Test is not null, data.Validation is not null) : null;
            _tensorBoard = o.Tensorboard is not null ? OpenTensorBoard(o.Tensorboard) : null;
            TrainingState state;
            try
            {
                state = engine.RunAsync(job, this, _context.Cancellation).GetAwaiter().GetResult();
            }
            catch (TrainingDivergedException e)
            {
                _progress.Finish();
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
            _epochsFile?.Dispose();
            _tensorBoard?.Dispose();
        }
    }

    void ITrainingObserver.OnStart(TrainingState state)
    {
        _state = state;
        var c = state.Config;
        _progress.Start(RunInfo.From(_title, state.TotalSteps == long.MaxValue ? 0 : state.TotalSteps, state.StepsPerEpoch, c.Epochs ?? 0, c.Spec.ToString(), c.BatchSize));
    }

    void ITrainingEventObserver.OnLine(string text) => _progress.Line(text);

    void ITrainingEventObserver.OnEvent(ITrainingEvent e)
    {
        _meter.Record(e);
        switch (e)
        {
            case ClusterStatus s:
                _progress.Members(s.Members);
                break;
            case CheckpointWritten c:
                _lastCheckpoint = c.Path; // named if the run diverges later
                break;
            case TrainingNotice n:
                _progress.Line($"{n.Level}: {n.Message}");
                break;
        }
    }

    void ITrainingObserver.OnStep(TrainingState state, StepOutcome outcome, StepTimings timings)
    {
        _metrics?.Write(outcome, timings);
        _tensorBoard?.Step(outcome, timings, outcome.LearningRate);
        _progress.Step(new StepSample(outcome.Step, outcome.Epoch, outcome.Loss, outcome.Accuracy, outcome.Samples, timings.StepMs, timings.Workers,
            outcome.LearningRate, outcome.GradNorm));
        _epoch.Add(outcome.Loss, outcome.Accuracy, outcome.Samples);
        if (O.Plot is not null)
        {
            _rows.Add(new MetricsRow(outcome.Step, outcome.Epoch + 1, outcome.Loss, outcome.Accuracy));
        }

        if (outcome.EpochCompleted)
        {
            EndOfEpoch(state, outcome);
        }
    }

    // validation (early stopping, --best-out), test figures, the epoch line, event, sidecar row
    private void EndOfEpoch(TrainingState state, StepOutcome outcome)
    {
        var validation = _validator is not null && _data?.Validation is { } v ? _validator.Evaluate(state.Parameters, v) : null;
        var decision = default(EarlyStopDecision);
        if (validation is not null)
        {
            decision = state.ObserveValidation(outcome.Epoch, validation.Loss);
            if (decision.Improved && O.BestOut is { } best)
            {
                EnsureDirectory(best);
                ModelFile.Save(best, state.Config.Spec, state.Parameters, BestMetadata(state, outcome.Epoch, validation));
            }
        }

        var test = _evaluator is not null && _data?.Test is { } t ? _evaluator.Evaluate(state.Parameters, t) : null;
        var (loss, accuracy) = _epoch.Take();
        var epoch = new EpochSample(outcome.Epoch, outcome.Step, loss, accuracy);
        if (test is not null)
        {
            epoch = epoch with { TestLoss = test.Loss, TestAccuracy = test.Accuracy, TestSamples = test.Samples };
        }

        if (validation is not null)
        {
            epoch = epoch with { ValLoss = validation.Loss, ValAccuracy = validation.Accuracy, ValSamples = validation.Samples, BestValEpoch = state.EarlyStopping.BestEpoch };
        }

        _progress.Epoch(epoch);
        _epochEvent = epoch.ToEvent();
        _tensorBoard?.Epoch(epoch);
        _meter.Record(_epochEvent);
        if (test is not null || validation is not null)
        {
            _epochsFile?.Write(epoch);
        }

        if (test is not null && _rows.Count > 0)
        {
            _rows[^1] = _rows[^1] with { TestLoss = test.Loss, TestAccuracy = test.Accuracy };
        }

        if (decision.Stop)
        {
            var es = state.EarlyStopping;
            _progress.Line(string.Create(CultureInfo.InvariantCulture,
                $"early stopping after epoch {outcome.Epoch + 1}: the validation loss has not improved for {es.EpochsWithoutImprovement} epochs (best {es.BestLoss:F4} at epoch {es.BestEpoch + 1})"));
        }
    }

    /// <summary>--best-out's metadata: the run's, with the epoch (1-based) and validation figures of the best model.</summary>
    private List<KeyValuePair<string, string>> BestMetadata(TrainingState state, int epoch, EvaluationResult validation)
    {
        var c = CultureInfo.InvariantCulture;
        var m = Metadata(state);
        m.Add(new("best_epoch", (epoch + 1).ToString(c)));
        m.Add(new("val_loss", validation.Loss.ToString("R", c)));
        m.Add(new("val_accuracy", validation.Accuracy.ToString("R", c)));
        return m;
    }

    private void Finish(TrainingState state)
    {
        var o = O;
        var stopped = _context.Cancellation.IsCancellationRequested && !state.IsFinished;
        _progress.Finish();
        if (stopped)
        {
            _progress.Line($"stopped at step {state.Step} (Ctrl+C / SIGTERM); writing files");
        }

        if (o.Out is not null)
        {
            EnsureDirectory(o.Out);
            ModelFile.Save(o.Out, state.Config.Spec, state.Parameters, Metadata(state));
            _progress.Line($"model written to {o.Out}");
        }

        if (o.Onnx is not null)
        {
            Core.Interchange.OnnxExport.Save(o.Onnx, state.Config.Spec, state.Parameters, Metadata(state));
            _progress.Line($"ONNX model written to {o.Onnx}");
        }

        if (O.BestOut is { } bestOut && state.EarlyStopping.BestEpoch >= 0)
        {
            _progress.Line($"best model (epoch {state.EarlyStopping.BestEpoch + 1}) in {bestOut}");
        }

        if (_evaluator is not null && _data?.Test is { } test && (stopped || !(state.Step > 0 && state.Position == 0)))
        {
            // the run ended mid-epoch: report the test figures of the final weights too
            var r = _evaluator.Evaluate(state.Parameters, test);
            _progress.Line(string.Create(CultureInfo.InvariantCulture, $"final test loss {r.Loss:F4}  acc {r.Accuracy:F4} ({r.Samples} samples)"));
        }

        if (o.Plot is not null && _rows.Count > 0)
        {
            PlotRenderer.Write(new MetricsSeries(Path.GetFileName(o.Metrics ?? o.Plot), _rows), o.Plot, _bound.Name(nameof(o.Plot)));
            _progress.Line($"plot written to {o.Plot}");
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

        if (!ModelSpec.OutputsFit(sizes[^1], train.Classes))
        {
            problems.Add($"{from}: output size {sizes[^1]} does not match the data's {train.Classes} classes ({train.Name})");
        }

        if (ModelSpec.SizeProblem(sizes, Math.Clamp(o.Batch, 1, train.Count)) is { } tooLarge) // a batch beyond the data is refused after this
        {
            problems.Add(from.Length > 0
                ? $"{from}: {tooLarge}"
                : $"{_bound.Name(nameof(o.Data))} {train.Name}: the default model for its {train.FeatureCount:N0} features is too large: {tooLarge}; pass {_bound.Name(nameof(o.Layers))} with smaller layers");
        }

        if (problems.Count > 0)
        {
            throw new UsageException(problems);
        }

        var regularization = new Regularization(_resolved.Dropout, _resolved.LabelSmoothing, o.Seed);
        return new ModelSpec(sizes, _resolved.Activation, _resolved.Loss) { Regularization = regularization.IsNone ? Regularization.None : regularization };
    }

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

    /// <summary>The context the engine gets: with the live view, its warnings go to the view's log area, not across the frame.</summary>
    private CliContext EngineContext()
    {
        var err = ViewFactory.ErrorFor(_progress, _context.Err);
        return ReferenceEquals(err, _context.Err) ? _context : new CliContext(_context.Out, err, _context.Environment, _context.Cancellation)
        {
            ProcessorCount = _context.ProcessorCount,
            IsTerminal = _context.IsTerminal,
            EngineFactory = _context.EngineFactory,
            Verbose = _context.Verbose,
        };
    }

    private EpochsFile? OpenEpochs(string metricsPath, bool hasTest, bool hasValidation)
    {
        var path = EpochsFile.PathFor(metricsPath);
        try
        {
            if (hasTest || hasValidation)
            {
                return EpochsFile.Open(path, hasValidation);
            }

            File.Delete(path); // a stale one from an earlier run would lend this run its test figures
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{_bound.Name(nameof(O.Metrics))}: cannot write '{path}': {e.Message}");
        }
    }

    private TensorBoardWriter OpenTensorBoard(string directory)
    {
        try
        {
            var writer = TensorBoardWriter.Open(directory);
            _progress.Line($"TensorBoard events: {writer.Path}");
            return writer;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{_bound.Name(nameof(O.Tensorboard))}: cannot write into '{directory}': {e.Message}");
        }
    }

    /// <summary>The run's description in every checkpoint and in --out.</summary>
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
        if (O.ValSplit > 0)
        {
            m.Add(new("val_split", O.ValSplit.ToString("R", c)));
        }

        m.AddRange(state.Config.Optimizer.ToMetadata());
        m.AddRange(CheckpointStore.TrainingMetadata(state));
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
        var more = new List<string>();
        if (c.LrSchedule.Describe() is { Length: > 0 } schedule)
        {
            more.Add(schedule);
        }

        if (c.ClipGradNorm is float clip)
        {
            more.Add($"gradient norm clipped at {clip.ToString("R", inv)}");
        }

        var reg = c.Spec.Regularization;
        if (reg.Dropout > 0)
        {
            more.Add($"dropout {reg.Dropout.ToString("R", inv)}");
        }

        if (reg.LabelSmoothing > 0)
        {
            more.Add($"label smoothing {reg.LabelSmoothing.ToString("R", inv)}");
        }

        if (c.EarlyStopPatience is int patience)
        {
            more.Add($"early stop after {patience} epochs without a better validation loss");
        }

        var tail = more.Count > 0 ? "; " + string.Join(", ", more) : string.Empty;
        return $"{OptimizerSettings.NameOf(opt.Kind)} lr {lr}{extra}{wd}, batch {c.BatchSize}, {length}, seed {c.Seed}{(c.Shuffle ? string.Empty : ", no shuffle")}{tail}";
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
