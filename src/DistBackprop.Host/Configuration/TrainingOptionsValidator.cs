// Checks every training option that can be checked before any data is loaded, and turns the
// strings into Core types. One message per bad value, naming the option (and where it came from
// when not the command line); all of them are reported together (exit code 2).
// Leaves out: checks that need the data (batch vs training set, --layers vs features/classes: TrainRun).
using System.Globalization;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;

namespace DistBackprop.Host.Configuration;

/// <summary>Training options in Core terms. <see cref="Layers"/> is null when it must come from the data or --init.
/// <see cref="Dropout"/> and <see cref="LabelSmoothing"/> become the spec's Regularization (with the run seed).</summary>
public sealed record ResolvedTraining(
    Activation Activation,
    LossKind Loss,
    OptimizerSettings Optimizer,
    int[]? Layers,
    int? Epochs,
    long? MaxSteps,
    int Workers,
    int Shards,
    int Threads,
    LrSchedule? Schedule = null,
    float? ClipGradNorm = null,
    int? EarlyStop = null,
    float Dropout = 0,
    float LabelSmoothing = 0);

public static class TrainingOptionsValidator
{
    /// <summary>Returns the resolved options or throws <see cref="UsageException"/> with every problem found.</summary>
    public static ResolvedTraining Resolve(Bound<TrainingOptions> bound, int processorCount)
    {
        ArgumentNullException.ThrowIfNull(bound);
        var o = bound.Value;
        var errors = new List<string>();
        string N(string property) => bound.Name(property);
        string G(double v) => v.ToString("R", CultureInfo.InvariantCulture);

        if (!Names.TryParseActivation(o.Activation, out var activation))
        {
            errors.Add($"{N(nameof(o.Activation))}: unknown activation '{o.Activation}' (expected relu, leaky-relu, sigmoid or tanh)");
        }

        if (!Names.TryParseLoss(o.Loss, out var loss))
        {
            errors.Add($"{N(nameof(o.Loss))}: unknown loss '{o.Loss}' (expected softmax-ce, sigmoid-ce or mse)");
        }

        if (!OptimizerSettings.TryParseKind(o.Optimizer, out var kind))
        {
            errors.Add($"{N(nameof(o.Optimizer))}: unknown optimizer '{o.Optimizer}' (expected sgd, momentum, nesterov or adam)");
        }

        int[]? layers = null;
        if (o.Layers is not null)
        {
            layers = Names.TryParseLayers(o.Layers, out var why);
            if (layers is null)
            {
                errors.Add($"{N(nameof(o.Layers))}: '{o.Layers}' is malformed: {why} (expected sizes like 784,128,10)");
            }
        }

        // --lr has no upper bound, but it must be a number ≥ 0 that float32 can hold.
        if (double.IsNaN(o.Lr) || o.Lr < 0)
        {
            errors.Add($"{N(nameof(o.Lr))} must be a number ≥ 0 (got {G(o.Lr)})");
        }
        else if (!float.IsFinite((float)o.Lr))
        {
            errors.Add($"{N(nameof(o.Lr))} {G(o.Lr)} is too large for float32 (at most {float.MaxValue:R})");
        }

        if (!(o.Momentum >= 0 && o.Momentum < 1))
        {
            errors.Add($"{N(nameof(o.Momentum))} must be in [0, 1) (got {G(o.Momentum)})");
        }

        if (!(o.WeightDecay >= 0) || !float.IsFinite((float)o.WeightDecay))
        {
            errors.Add($"{N(nameof(o.WeightDecay))} must be a finite number ≥ 0 (got {G(o.WeightDecay)})");
        }

        if (o.Batch < 1)
        {
            errors.Add($"{N(nameof(o.Batch))} must be at least 1 (got {o.Batch})");
        }

        if (o.Epochs is < 1)
        {
            errors.Add($"{N(nameof(o.Epochs))} must be at least 1 (got {o.Epochs})");
        }

        if (o.MaxSteps is < 1)
        {
            errors.Add($"{N(nameof(o.MaxSteps))} must be at least 1 (got {o.MaxSteps})");
        }

        if (!(o.TestSplit >= 0 && o.TestSplit < 1))
        {
            errors.Add($"{N(nameof(o.TestSplit))} must be in [0, 1) (got {G(o.TestSplit)})");
        }

        var schedule = ResolveSchedule(bound, errors);
        if (o.ClipGradNorm is double clip && !(clip > 0 && float.IsFinite((float)clip)))
        {
            errors.Add($"{N(nameof(o.ClipGradNorm))} must be a finite number > 0 (got {G(clip)})");
        }

        if (!(o.ValSplit >= 0 && o.ValSplit < 1))
        {
            errors.Add($"{N(nameof(o.ValSplit))} must be in [0, 1) (got {G(o.ValSplit)})");
        }

        if (o.EarlyStop is < 1)
        {
            errors.Add($"{N(nameof(o.EarlyStop))} must be at least 1 (got {o.EarlyStop})");
        }
        else if (o.EarlyStop is not null && !(o.ValSplit > 0))
        {
            errors.Add($"{N(nameof(o.EarlyStop))} needs a validation set: give --val-split F (e.g. 0.1)");
        }

        if (o.BestOut is not null && !(o.ValSplit > 0))
        {
            errors.Add($"{N(nameof(o.BestOut))} needs a validation set: give --val-split F (e.g. 0.1)");
        }
        else if (o.BestOut is not null && o.Out is not null && Path.GetFullPath(o.BestOut) == Path.GetFullPath(o.Out))
        {
            errors.Add($"{N(nameof(o.BestOut))} and {N(nameof(o.Out))} name the same file '{o.Out}'");
        }

        if (!(o.Dropout >= 0 && o.Dropout < 1))
        {
            errors.Add($"{N(nameof(o.Dropout))} must be in [0, 1) (got {G(o.Dropout)})");
        }

        if (!(o.LabelSmoothing >= 0 && o.LabelSmoothing < 1))
        {
            errors.Add($"{N(nameof(o.LabelSmoothing))} must be in [0, 1) (got {G(o.LabelSmoothing)})");
        }
        else if (o.LabelSmoothing > 0 && loss != LossKind.SoftmaxCrossEntropy && Names.TryParseLoss(o.Loss, out _))
        {
            errors.Add($"{N(nameof(o.LabelSmoothing))} needs --loss softmax-ce (got {N(nameof(o.Loss))} {o.Loss})");
        }

        if (o.Workers is < 1)
        {
            errors.Add($"{N(nameof(o.Workers))} must be at least 1 (got {o.Workers})");
        }

        if (o.Shards is < 1)
        {
            errors.Add($"{N(nameof(o.Shards))} must be at least 1 (got {o.Shards})");
        }

        if (o.Threads is < 1)
        {
            errors.Add($"{N(nameof(o.Threads))} must be at least 1 (got {o.Threads})");
        }

        if (o.CheckpointEvery is < 1)
        {
            errors.Add($"{N(nameof(o.CheckpointEvery))} must be at least 1 (got {o.CheckpointEvery})");
        }
        else if (o.CheckpointEvery is not null && string.IsNullOrWhiteSpace(o.CheckpointDir))
        {
            errors.Add($"{N(nameof(o.CheckpointEvery))} needs --checkpoint-dir");
        }

        if (o.Init is not null && !File.Exists(o.Init))
        {
            errors.Add($"{N(nameof(o.Init))}: cannot read '{o.Init}': {(Directory.Exists(o.Init) ? "it is a directory" : "no such file")}");
        }

        if (o.Resume is not null && !File.Exists(o.Resume) && !Directory.Exists(o.Resume))
        {
            errors.Add($"{N(nameof(o.Resume))}: '{o.Resume}' is neither a checkpoint file nor a directory");
        }

        if (o.Metrics is not null && !Output.MetricsWriter.IsSupported(o.Metrics))
        {
            errors.Add($"{N(nameof(o.Metrics))}: '{o.Metrics}' must end in .csv or .jsonl");
        }

        if (o.Plot is not null && !(o.Plot.EndsWith(".svg", StringComparison.OrdinalIgnoreCase) || o.Plot.EndsWith(".png", StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add($"{N(nameof(o.Plot))}: '{o.Plot}' must end in .svg or .png");
        }

        if (o.Onnx is not null && !o.Onnx.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{N(nameof(o.Onnx))}: '{o.Onnx}' must end in .onnx");
        }

        if (o.Tensorboard is not null && File.Exists(o.Tensorboard))
        {
            errors.Add($"{N(nameof(o.Tensorboard))}: '{o.Tensorboard}' is a file; it must be a directory (created if missing) for the event files");
        }

        if (errors.Count > 0)
        {
            throw new UsageException(errors);
        }

        var workers = o.Workers ?? Math.Max(1, processorCount);
        var settings = new OptimizerSettings(kind, (float)o.Lr, (float)o.Momentum, (float)o.WeightDecay);

        // --max-steps alone: epochs unbounded; both: whichever ends first; neither: 10 epochs.
        int? epochs = o.Epochs ?? (o.MaxSteps is null ? 10 : null);
        return new ResolvedTraining(
            activation,
            loss,
            settings,
            layers,
            epochs,
            o.MaxSteps,
            workers,
            o.Shards ?? workers,
            o.Threads ?? Math.Max(1, processorCount / workers),
            schedule is { IsConstant: true } ? null : schedule,
            o.ClipGradNorm is double c ? (float)c : null,
            o.EarlyStop,
            (float)o.Dropout,
            (float)o.LabelSmoothing);
    }

    /// <summary>
    /// --lr-schedule and its settings. A setting that the chosen schedule does not use is an error (it would be silently ignored):
    /// --lr-step-size/--lr-gamma need step, --lr-min needs cosine, --warmup-start-factor needs --warmup-steps.
    /// </summary>
    private static LrSchedule? ResolveSchedule(Bound<TrainingOptions> bound, List<string> errors)
    {
        var o = bound.Value;
        string N(string property) => bound.Name(property);
        string G(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var before = errors.Count;
        if (!LrSchedule.TryParseKind(o.LrSchedule, out var kind))
        {
            errors.Add($"{N(nameof(o.LrSchedule))}: unknown schedule '{o.LrSchedule}' (expected constant, step or cosine)");
            return null;
        }

        var name = $"{N(nameof(o.LrSchedule))} {LrSchedule.NameOf(kind)}";
        if (kind == LrScheduleKind.Step && o.LrStepSize is null)
        {
            errors.Add($"{name} needs --lr-step-size N (the rate is multiplied by --lr-gamma every N steps)");
        }

        if (o.LrStepSize is < 1)
        {
            errors.Add($"{N(nameof(o.LrStepSize))} must be at least 1 (got {o.LrStepSize})");
        }

        if (kind != LrScheduleKind.Step && (o.LrStepSize is not null || bound.IsSet(nameof(o.LrGamma))))
        {
            errors.Add($"{(o.LrStepSize is not null ? N(nameof(o.LrStepSize)) : N(nameof(o.LrGamma)))} applies to --lr-schedule step only (this run: {name})");
        }

        if (!(o.LrGamma > 0) || double.IsInfinity(o.LrGamma))
        {
            errors.Add($"{N(nameof(o.LrGamma))} must be a finite number > 0 (got {G(o.LrGamma)})");
        }

        if (!(o.LrMin >= 0) || !float.IsFinite((float)o.LrMin))
        {
            errors.Add($"{N(nameof(o.LrMin))} must be a finite number ≥ 0 (got {G(o.LrMin)})");
        }
        else if (kind != LrScheduleKind.Cosine && bound.IsSet(nameof(o.LrMin)))
        {
            errors.Add($"{N(nameof(o.LrMin))} applies to --lr-schedule cosine only (this run: {name})");
        }
        else if (kind == LrScheduleKind.Cosine && o.LrMin > o.Lr)
        {
            errors.Add($"{N(nameof(o.LrMin))} {G(o.LrMin)} is above {N(nameof(o.Lr))} {G(o.Lr)}: the cosine schedule decays from --lr to --lr-min");
        }

        if (o.WarmupSteps < 0)
        {
            errors.Add($"{N(nameof(o.WarmupSteps))} must be 0 or more (got {o.WarmupSteps})");
        }

        if (!(o.WarmupStartFactor > 0 && o.WarmupStartFactor <= 1))
        {
            errors.Add($"{N(nameof(o.WarmupStartFactor))} must be in (0, 1] (got {G(o.WarmupStartFactor)})");
        }
        else if (o.WarmupSteps == 0 && bound.IsSet(nameof(o.WarmupStartFactor)))
        {
            errors.Add($"{N(nameof(o.WarmupStartFactor))} needs --warmup-steps W ≥ 1");
        }

        return errors.Count > before ? null : new LrSchedule(kind, o.LrStepSize ?? 0, o.LrGamma, o.LrMin, o.WarmupSteps, o.WarmupStartFactor);
    }
}
