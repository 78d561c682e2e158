// Resume checkpoints (SPEC §5, §7): everything TrainingState needs to continue a run so that it
// ends with the same weights as an uninterrupted one. One file per save, <dir>/ckpt-{step:D8}.safetensors:
//   tensors   layers.{i}.weight [out, in], layers.{i}.bias [out]   (the model, as ModelFile writes it)
//             optimizer.momentum_buffer [P] | optimizer.exp_avg [P], optimizer.exp_avg_sq [P]   (flat, ParameterLayout order)
//   metadata  format, layers, activation, loss, step, epoch, position, seed, optimizer_steps, batch, shards, shuffle,
//             optimizer, lr, momentum, weight_decay, beta1, beta2, eps; when used: dropout, label_smoothing,
//             lr_schedule (+ its settings), clip_grad_norm, early_stop_patience and the early-stopping state
//             early_stop_best_loss, early_stop_best_epoch, early_stop_bad_epochs, early_stop_observed; the caller's keys, and
//             checksum = SHA-256 (lowercase hex) of the whole data section, i.e. every tensor byte in file order.
//             The checksum does not cover the header; the header is checked by parsing and by the shape checks.
// The newest valid file wins; corrupt ones are skipped with a warning. Leaves out: pruning old files.
using System.Globalization;
using System.Text.RegularExpressions;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;

namespace DistBackprop.Core.Checkpoints;

/// <summary>
/// A checkpoint read back: where training stood after <see cref="Step"/> steps (epoch in progress, rows of it done),
/// the flat parameters, and the optimizer's update count and state tensors ("optimizer.*", flat [P]).
/// </summary>
public sealed record ResumePoint(
    string Path,
    long Step,
    int Epoch,
    int Position,
    float[] Parameters,
    long OptimizerSteps,
    IReadOnlyDictionary<string, float[]> OptimizerState,
    IReadOnlyDictionary<string, string> Metadata);

public static partial class CheckpointStore
{
    /// <summary>The file name of the checkpoint after <paramref name="step"/> steps.</summary>
    public static string FileName(long step) => $"ckpt-{step:D8}.safetensors";

    /// <summary>
    /// Writes <c>ckpt-{step:D8}.safetensors</c> for the state as it is now (between steps) into
    /// <paramref name="directory"/>, creating it if needed. Atomic; returns the path.
    /// </summary>
    /// <exception cref="ArgumentException">metadata that contradicts the computed keys or uses a key loaders misread.</exception>
    /// <exception cref="CheckpointException">the directory or file could not be written.</exception>
    public static string Save(string directory, TrainingState state, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(state);
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(directory, $"could not be created: {e.Message}", e);
        }

        var config = state.Config;
        var tensors = ModelFile.LayerTensors(config.Spec, state.Parameters);
        foreach (var (name, data) in state.Optimizer.State)
        {
            tensors.Add(new(name, [data.Length], data));
        }

        var ours = ModelFile.ModelMetadata(config.Spec);
        ours.AddRange(
        [
            new("step", Invariant(state.Step)),
            new("epoch", Invariant(state.Epoch)),
            new("position", Invariant(state.Position)),
            new("seed", Invariant(config.Seed)),
            new("optimizer_steps", Invariant(state.Optimizer.StepCount)),
            new("batch", Invariant(config.BatchSize)),
            new("shards", Invariant(config.Shards)),
            new("shuffle", config.Shuffle ? "true" : "false"),
        ]);
        ours.AddRange(state.Optimizer.Settings.ToMetadata());
        ours.AddRange(TrainingMetadata(state));
        var all = ModelFile.MergeMetadata(ours, metadata);
        if (all.Any(p => p.Key == "checksum"))
        {
            throw new ArgumentException("\"checksum\" is computed by the store", nameof(metadata));
        }

        all.Add(new("checksum", SafeTensors.DataSha256(tensors)));
        var path = Path.Combine(directory, FileName(state.Step));
        SafeTensors.Write(path, tensors, all);
        return path;
    }

    /// <summary>
    /// What the training options beyond the optimizer add to a checkpoint, only when used: the schedule (its position is the step),
    /// clipping, and early stopping's settings and state (best validation loss, its epoch, epochs since).
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> TrainingMetadata(TrainingState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var config = state.Config;
        if (!config.LrSchedule.IsConstant)
        {
            foreach (var pair in config.LrSchedule.ToMetadata())
            {
                yield return pair;
            }
        }

        if (config.ClipGradNorm is float clip)
        {
            yield return new("clip_grad_norm", clip.ToString("R", CultureInfo.InvariantCulture));
        }

        if (config.EarlyStopPatience is int patience)
        {
            yield return new("early_stop_patience", Invariant(patience));
        }

        if (state.EarlyStopping.Observed > 0)
        {
            foreach (var pair in state.EarlyStopping.ToMetadata())
            {
                yield return pair;
            }
        }
    }

    /// <summary>
    /// A file: loads it (it must be valid). A directory: loads the newest valid ckpt-*.safetensors, newest step first;
    /// each invalid one (truncated, bad header, checksum mismatch, shapes not <paramref name="expected"/>) is reported
    /// through <paramref name="warn"/> as "ignoring {file}: {problem}" and the previous one is tried.
    /// </summary>
    /// <exception cref="CheckpointException">the file is invalid, or the directory holds no valid checkpoint.</exception>
    public static ResumePoint LoadNewestValid(string directoryOrFile, ModelSpec expected, Action<string>? warn = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directoryOrFile);
        ArgumentNullException.ThrowIfNull(expected);
        if (File.Exists(directoryOrFile))
        {
            return Load(directoryOrFile, expected);
        }

        if (!Directory.Exists(directoryOrFile))
        {
            throw new CheckpointException(directoryOrFile, "no such checkpoint file or directory");
        }

        var candidates = new List<(long Step, string Path)>();
        try
        {
            foreach (var file in Directory.EnumerateFiles(directoryOrFile))
            {
                var match = CheckpointName().Match(Path.GetFileName(file));
                if (match.Success && long.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var step))
                {
                    candidates.Add((step, file));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(directoryOrFile, $"could not be listed: {e.Message}", e);
        }

        if (candidates.Count == 0)
        {
            throw new CheckpointException(directoryOrFile, "holds no checkpoint (ckpt-*.safetensors)");
        }

        foreach (var (_, file) in candidates.OrderByDescending(c => c.Step))
        {
            try
            {
                return Load(file, expected);
            }
            catch (CheckpointException e)
            {
                warn?.Invoke($"ignoring {file}: {e.Problem}");
            }
        }

        throw new CheckpointException(directoryOrFile, $"holds no valid checkpoint: all {candidates.Count} ckpt-*.safetensors files are corrupt or do not fit {expected.SizesText}");
    }

    /// <summary>
    /// Puts <paramref name="point"/> into <paramref name="state"/>: parameters, optimizer state and step count, data position.
    /// Everything is checked first, so a refused point leaves the state untouched.
    /// </summary>
    /// <exception cref="CheckpointException">the point was saved with another optimizer, activation or loss, or does not fit the state.</exception>
    public static void Apply(ResumePoint point, TrainingState state)
    {
        ArgumentNullException.ThrowIfNull(point);
        ArgumentNullException.ThrowIfNull(state);
        var config = state.Config;
        var kind = config.Optimizer.Kind;
        if (!point.Metadata.TryGetValue("optimizer", out var savedKind) || !OptimizerSettings.TryParseKind(savedKind, out var saved))
        {
            throw new CheckpointException(point.Path, "names no optimizer in its metadata; it is not a resume checkpoint");
        }

        if (saved != kind)
        {
            throw new CheckpointException(point.Path, $"was saved with optimizer {OptimizerSettings.NameOf(saved)}, this run uses {OptimizerSettings.NameOf(kind)}; resume with --optimizer {OptimizerSettings.NameOf(saved)}");
        }

        if (point.Metadata.TryGetValue("activation", out var a) && Names.TryParseActivation(a, out var activation) && activation != config.Spec.Hidden)
        {
            throw Differs(point, "activation", Names.Of(activation), Names.Of(config.Spec.Hidden), "--activation");
        }

        if (point.Metadata.TryGetValue("loss", out var l) && Names.TryParseLoss(l, out var loss) && loss != config.Spec.Loss)
        {
            throw Differs(point, "loss", Names.Of(loss), Names.Of(config.Spec.Loss), "--loss");
        }
        if (point.Parameters.Length != state.Parameters.Length)
        {
            throw new CheckpointException(point.Path, $"holds {point.Parameters.Length} parameters, the model {config.Spec.SizesText} has {state.Parameters.Length}");
        }

        foreach (var (name, data) in state.Optimizer.State)
        {
            if (!point.OptimizerState.TryGetValue(name, out var values))
            {
                throw new CheckpointException(point.Path, $"has no tensor {name}, which optimizer {OptimizerSettings.NameOf(kind)} needs");
            }

            if (values.Length != data.Length)
            {
                throw new CheckpointException(point.Path, $"tensor {name} is [{values.Length}], optimizer {OptimizerSettings.NameOf(kind)} needs [{data.Length}]");
            }
        }

        if (point.Position >= state.SampleCount)
        {
            throw new CheckpointException(point.Path, $"stopped at row {point.Position} of epoch {point.Epoch}, but the training set has only {state.SampleCount} rows (is it the same data?)");
        }

        var earlyStopping = new EarlyStopping(config.EarlyStopPatience);
        if (earlyStopping.Restore(point.Metadata) is { } problem)
        {
            throw new CheckpointException(point.Path, problem);
        }

        point.Parameters.CopyTo(state.Parameters, 0);
        state.Optimizer.Restore(point.OptimizerSteps, point.OptimizerState);
        state.RestorePosition(point.Step, point.Epoch, point.Position);
        state.EarlyStopping.Restore(point.Metadata);
    }

    private static ResumePoint Load(string path, ModelSpec expected)
    {
        var content = SafeTensors.Read(path, name => ModelFile.IsLayerTensor(name) || IsOptimizerTensor(name));
        if (!content.Metadata.TryGetValue("checksum", out var checksum))
        {
            throw new CheckpointException(path, "has no checksum in its metadata; it is not a resume checkpoint");
        }

        if (!string.Equals(checksum, content.DataSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new CheckpointException(path, $"checksum mismatch: the metadata says {checksum}, the data hashes to {content.DataSha256} (the file is corrupt)");
        }

        var (sizes, parameters) = ModelFile.ReadLayers(content);
        ModelFile.CheckSizes(path, sizes, expected);
        var optimizerState = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, values) in content.Values)
        {
            if (!IsOptimizerTensor(name))
            {
                continue;
            }

            var shape = content.Tensors[name].Shape;
            if (shape.Length != 1 || shape[0] != expected.ParameterCount)
            {
                throw new CheckpointException(path, $"tensor {name} is {content.Tensors[name].ShapeText}, the architecture {expected.SizesText} needs [{expected.ParameterCount}]");
            }

            optimizerState[name] = values;
        }

        var step = ReadInteger(content, "step", long.MaxValue);
        var epoch = (int)ReadInteger(content, "epoch", int.MaxValue);
        var position = (int)ReadInteger(content, "position", int.MaxValue);
        var optimizerSteps = ReadInteger(content, "optimizer_steps", long.MaxValue);
        return new ResumePoint(path, step, epoch, position, parameters, optimizerSteps, optimizerState, content.Metadata);
    }

    private static bool IsOptimizerTensor(string name) => name.StartsWith("optimizer.", StringComparison.Ordinal);

    private static long ReadInteger(SafeTensorsContent content, string key, long max)
    {
        if (!content.Metadata.TryGetValue(key, out var text))
        {
            throw new CheckpointException(content.Path, $"has no \"{key}\" in its metadata; it is not a resume checkpoint");
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > max)
        {
            throw new CheckpointException(content.Path, $"has metadata \"{key}\" = \"{text}\", not a non-negative integer");
        }

        return value;
    }

    private static CheckpointException Differs(ResumePoint point, string what, string saved, string current, string option) =>
        new(point.Path, $"was saved with {what} {saved}, this run uses {current}; resume with {option} {saved}");

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^ckpt-([0-9]{8,18})\.safetensors$", RegexOptions.CultureInvariant)]
    private static partial Regex CheckpointName();
}
