// The model file (--out, --init): the MLP's weights as safetensors that PyTorch reads as they are
// (SPEC §5). Written: layers.{i}.weight [out, in] and layers.{i}.bias [out], F32, and nothing else,
// plus string metadata. Read: only the layers.{i}.* tensors matter; the architecture comes from
// their shapes, metadata is optional and foreign keys are ignored.
// Leaves out: optimizer state and data position (CheckpointStore).
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.RegularExpressions;
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Checkpoints;

/// <summary>
/// A model read from a file. <see cref="Parameters"/> is flat in <see cref="ParameterLayout"/> order for
/// <see cref="Sizes"/>; <see cref="Activation"/> and <see cref="Loss"/> come from the metadata when it names them.
/// </summary>
public sealed record LoadedModel(int[] Sizes, float[] Parameters, Activation? Activation, LossKind? Loss, IReadOnlyDictionary<string, string> Metadata);

public static partial class ModelFile
{
    /// <summary>The "format" metadata value of files this project writes.</summary>
    public const string Format = "distbackprop";

    /// <summary>
    /// Writes the parameters as layers.{i}.weight/bias with metadata format, layers, activation, loss, then
    /// <paramref name="metadata"/> (step, epoch, seed, optimizer… as the caller sees fit). Atomic.
    /// </summary>
    /// <exception cref="ArgumentException">wrong parameter count, or metadata that contradicts the spec or uses a key loaders misread.</exception>
    /// <exception cref="CheckpointException">the file could not be written.</exception>
    public static void Save(string path, ModelSpec spec, ReadOnlySpan<float> parameters, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (parameters.Length != spec.ParameterCount)
        {
            throw new ArgumentException($"{parameters.Length} parameters, the model {spec} has {spec.ParameterCount}", nameof(parameters));
        }

        var copy = parameters.ToArray();
        SafeTensors.Write(path, LayerTensors(spec, copy), MergeMetadata(ModelMetadata(spec), metadata));
    }

    /// <summary>Reads the layers.{i}.* tensors; the architecture is whatever their shapes chain into.</summary>
    /// <exception cref="CheckpointException">unreadable, corrupt, no layers, or shapes that do not chain.</exception>
    public static LoadedModel Load(string path)
    {
        var content = SafeTensors.Read(path, IsLayerTensor);
        VerifyChecksumIfOurs(content);
        var (sizes, parameters) = ReadLayers(content);
        Activation? activation = content.Metadata.TryGetValue("activation", out var a) && Names.TryParseActivation(a, out var av) ? av : null;
        LossKind? loss = content.Metadata.TryGetValue("loss", out var l) && Names.TryParseLoss(l, out var lv) ? lv : null;
        return new LoadedModel(sizes, parameters, activation, loss, content.Metadata);
    }

    /// <summary>Reads the parameters for <paramref name="expected"/>; any size difference is an error that names the tensor and both shapes.</summary>
    public static float[] LoadFor(string path, ModelSpec expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var model = Load(path);
        CheckSizes(path, model.Sizes, expected);
        return model.Parameters;
    }

    internal static bool IsLayerTensor(string name) => name.StartsWith("layers.", StringComparison.Ordinal);

    /// <summary>The tensors of the flat parameters, in ParameterLayout order (views, no copies).</summary>
    internal static List<TensorToWrite> LayerTensors(ModelSpec spec, float[] parameters)
    {
        var layout = spec.Layout;
        var tensors = new List<TensorToWrite>(2 * layout.LayerCount);
        for (var l = 0; l < layout.LayerCount; l++)
        {
            tensors.Add(new(ParameterLayout.WeightName(l), [layout.OutputsOf(l), layout.InputsOf(l)], parameters.AsMemory(layout.WeightOffset(l), layout.WeightLength(l))));
            tensors.Add(new(ParameterLayout.BiasName(l), [layout.OutputsOf(l)], parameters.AsMemory(layout.BiasOffset(l), layout.BiasLength(l))));
        }

        return tensors;
    }

    internal static List<KeyValuePair<string, string>> ModelMetadata(ModelSpec spec)
    {
        List<KeyValuePair<string, string>> m =
        [
            new("format", Format),
            new("layers", spec.SizesText),
            new("activation", Names.Of(spec.Hidden)),
            new("loss", Names.Of(spec.Loss)),
        ];

        // train-time regularization, only when used (the weights of such a model are used without it)
        var g = CultureInfo.InvariantCulture;
        if (spec.Regularization.Dropout > 0)
        {
            m.Add(new("dropout", spec.Regularization.Dropout.ToString("R", g)));
        }

        if (spec.Regularization.LabelSmoothing > 0)
        {
            m.Add(new("label_smoothing", spec.Regularization.LabelSmoothing.ToString("R", g)));
        }

        return m;
    }

    /// <summary>Ours first, then the caller's; a caller key may repeat one of ours only with the same value.</summary>
    internal static List<KeyValuePair<string, string>> MergeMetadata(List<KeyValuePair<string, string>> ours, IEnumerable<KeyValuePair<string, string>>? theirs)
    {
        var merged = new List<KeyValuePair<string, string>>(ours);
        var known = ours.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        foreach (var (key, value) in theirs ?? [])
        {
            if (known.TryGetValue(key, out var existing))
            {
                if (existing != value)
                {
                    throw new ArgumentException($"metadata \"{key}\" = \"{value}\" contradicts the computed \"{existing}\"", nameof(theirs));
                }

                continue;
            }

            known.Add(key, value);
            merged.Add(new(key, value));
        }

        return merged;
    }

    /// <summary>Files we wrote with a "checksum" carry the SHA-256 of their data section; check it.</summary>
    internal static void VerifyChecksumIfOurs(SafeTensorsContent content)
    {
        if (content.Metadata.TryGetValue("format", out var format) && format == Format &&
            content.Metadata.TryGetValue("checksum", out var checksum) &&
            !string.Equals(checksum, content.DataSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new CheckpointException(content.Path, $"checksum mismatch: the metadata says {checksum}, the data hashes to {content.DataSha256} (the file is corrupt)");
        }
    }

    /// <summary>Derives the layer sizes from layers.{i}.weight [out, in] / layers.{i}.bias [out] and flattens them.</summary>
    internal static (int[] Sizes, float[] Parameters) ReadLayers(SafeTensorsContent content)
    {
        var path = content.Path;
        var weights = new SortedDictionary<int, TensorEntry>();
        var biases = new SortedDictionary<int, TensorEntry>();
        foreach (var t in content.Tensors.Values)
        {
            if (!IsLayerTensor(t.Name))
            {
                continue;
            }

            var match = LayerName().Match(t.Name);
            if (!match.Success || !int.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                throw new CheckpointException(path, $"has an unexpected tensor {t.Name}: a model has only layers.{{i}}.weight and layers.{{i}}.bias");
            }

            (match.Groups[2].Value == "weight" ? weights : biases)[index] = t;
        }

        if (weights.Count == 0)
        {
            throw new CheckpointException(path, "holds no layers.0.weight tensor: it is not a model file (tensors named layers.{i}.weight [out, in] and layers.{i}.bias [out] are needed)");
        }

        // Indices must run 0..L−1 with a weight and a bias each; name the first hole.
        var layers = Math.Max(weights.Count, biases.Count);
        for (var l = 0; l <= layers; l++)
        {
            var hasWeight = weights.ContainsKey(l);
            if (hasWeight != biases.ContainsKey(l) || (!hasWeight && l < layers))
            {
                var missing = hasWeight ? ParameterLayout.BiasName(l) : ParameterLayout.WeightName(l);
                var highest = Math.Max(weights.Keys.Max(), biases.Count == 0 ? 0 : biases.Keys.Max());
                throw new CheckpointException(path, $"has no tensor {missing}, but has layer tensors up to index {highest}");
            }
        }

        var sizes = new int[layers + 1];
        for (var l = 0; l < layers; l++)
        {
            var (w, b) = (weights[l], biases[l]);

            if (w.Shape.Length != 2 || w.Shape[0] < 1 || w.Shape[1] < 1 || w.Shape[0] > int.MaxValue || w.Shape[1] > int.MaxValue)
            {
                throw new CheckpointException(path, $"{w.Name} has shape {w.ShapeText}, expected [out, in] with positive sizes");
            }

            var (outputs, inputs) = ((int)w.Shape[0], (int)w.Shape[1]);
            if (l == 0)
            {
                sizes[0] = inputs;
            }
            else if (inputs != sizes[l])
            {
                throw new CheckpointException(path, $"layers do not chain: {w.Name} is {w.ShapeText}, so it takes {inputs} inputs, but {ParameterLayout.WeightName(l - 1)} gives {sizes[l]} outputs");
            }

            if (b.Shape.Length != 1 || b.Shape[0] != outputs)
            {
                throw new CheckpointException(path, $"{b.Name} has shape {b.ShapeText}, {w.Name} {w.ShapeText} needs [{outputs}]");
            }

            sizes[l + 1] = outputs;
        }

        if (ModelSpec.SizeProblem(sizes, rows: 1) is { } tooLarge)
        {
            throw new CheckpointException(path, $"its tensors make {tooLarge}");
        }

        var spec = new ModelSpec(sizes, Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var parameters = new float[spec.ParameterCount];
        var layout = spec.Layout;
        for (var l = 0; l < layers; l++)
        {
            content.Values[ParameterLayout.WeightName(l)].CopyTo(layout.Weight(parameters.AsSpan(), l));
            content.Values[ParameterLayout.BiasName(l)].CopyTo(layout.Bias(parameters.AsSpan(), l));
            CheckFinite(path, layout.Weight<float>(parameters, l), ParameterLayout.WeightName(l), layout.InputsOf(l));
            CheckFinite(path, layout.Bias<float>(parameters, l), ParameterLayout.BiasName(l), 0);
        }

        return (sizes, parameters);
    }

    // a NaN or an infinity in a model to start from or evaluate is bad input (exit 2), named by its tensor and place
    private static void CheckFinite(string path, ReadOnlySpan<float> values, string tensor, int columns)
    {
        if (TensorPrimitives.IsFiniteAll(values))
        {
            return;
        }

        var i = 0;
        while (float.IsFinite(values[i]))
        {
            i++;
        }

        var at = columns > 0 ? $"[{i / columns}, {i % columns}]" : $"[{i}]";
        var count = CountNonFinite(values);
        throw new CheckpointException(path, string.Create(CultureInfo.InvariantCulture,
            $"tensor {tensor} holds {values[i]} at {at} ({count} non-finite value(s) in it): a model's weights must be finite numbers"));
    }

    private static int CountNonFinite(ReadOnlySpan<float> values)
    {
        var n = 0;
        foreach (var v in values)
        {
            n += float.IsFinite(v) ? 0 : 1;
        }

        return n;
    }

    /// <summary>Throws naming every tensor whose shape differs between the file and <paramref name="expected"/>.</summary>
    internal static void CheckSizes(string path, int[] sizes, ModelSpec expected)
    {
        if (sizes.AsSpan().SequenceEqual(expected.Sizes))
        {
            return;
        }

        var found = string.Join(',', sizes);
        if (sizes.Length != expected.Sizes.Length)
        {
            throw new CheckpointException(path, $"holds {sizes.Length - 1} layers ({found}), the architecture {expected.SizesText} has {expected.LayerCount}");
        }

        var differences = new List<string>();
        for (var l = 0; l < expected.LayerCount; l++)
        {
            if (sizes[l + 1] != expected.Sizes[l + 1] || sizes[l] != expected.Sizes[l])
            {
                differences.Add($"{ParameterLayout.WeightName(l)} is [{sizes[l + 1]}, {sizes[l]}], the architecture {expected.SizesText} needs [{expected.Sizes[l + 1]}, {expected.Sizes[l]}]");
            }

            if (sizes[l + 1] != expected.Sizes[l + 1])
            {
                differences.Add($"{ParameterLayout.BiasName(l)} is [{sizes[l + 1]}], the architecture {expected.SizesText} needs [{expected.Sizes[l + 1]}]");
            }
        }

        throw new CheckpointException(path, $"does not fit the architecture ({found} in the file): {string.Join("; ", differences)}");
    }

    [GeneratedRegex(@"^layers\.(0|[1-9][0-9]{0,8})\.(weight|bias)$", RegexOptions.CultureInvariant)]
    private static partial Regex LayerName();
}
