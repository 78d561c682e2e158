// Where each layer's weight and bias live inside the one flat parameter buffer. Gradients and
// optimizer state use the same layout, so averaging, updating and serializing are flat loops.
// Order: layers.0.weight, layers.0.bias, layers.1.weight, … (the safetensors names).
namespace DistBackprop.Core.Model;

/// <summary>Offsets of <c>layers.{i}.weight</c> <c>[out, in]</c> and <c>layers.{i}.bias</c> <c>[out]</c>.</summary>
public sealed class ParameterLayout
{
    private readonly int[] _sizes;
    private readonly int[] _weightOffsets;
    private readonly int[] _biasOffsets;

    public ParameterLayout(int[] sizes)
    {
        _sizes = sizes;
        var layers = sizes.Length - 1;
        _weightOffsets = new int[layers];
        _biasOffsets = new int[layers];
        long offset = 0;
        for (var i = 0; i < layers; i++)
        {
            _weightOffsets[i] = checked((int)offset);
            offset += (long)sizes[i + 1] * sizes[i];
            _biasOffsets[i] = checked((int)offset);
            offset += sizes[i + 1];
        }

        Count = checked((int)offset);
    }

    /// <summary>Total number of parameters.</summary>
    public int Count { get; }

    public int LayerCount => _weightOffsets.Length;

    public int InputsOf(int layer) => _sizes[layer];

    public int OutputsOf(int layer) => _sizes[layer + 1];

    public int WeightOffset(int layer) => _weightOffsets[layer];

    public int WeightLength(int layer) => _sizes[layer + 1] * _sizes[layer];

    public int BiasOffset(int layer) => _biasOffsets[layer];

    public int BiasLength(int layer) => _sizes[layer + 1];

    /// <summary>Number of weights (not biases): the "weights" of SPEC §8's GFLOP formula.</summary>
    public long WeightCount
    {
        get
        {
            long n = 0;
            for (var i = 0; i < LayerCount; i++)
            {
                n += WeightLength(i);
            }

            return n;
        }
    }

    public Span<T> Weight<T>(Span<T> flat, int layer) => flat.Slice(_weightOffsets[layer], WeightLength(layer));

    public ReadOnlySpan<T> Weight<T>(ReadOnlySpan<T> flat, int layer) => flat.Slice(_weightOffsets[layer], WeightLength(layer));

    public Span<T> Bias<T>(Span<T> flat, int layer) => flat.Slice(_biasOffsets[layer], BiasLength(layer));

    public ReadOnlySpan<T> Bias<T>(ReadOnlySpan<T> flat, int layer) => flat.Slice(_biasOffsets[layer], BiasLength(layer));

    /// <summary>The safetensors tensor name of layer <paramref name="layer"/>'s weight.</summary>
    public static string WeightName(int layer) => $"layers.{layer}.weight";

    /// <summary>The safetensors tensor name of layer <paramref name="layer"/>'s bias.</summary>
    public static string BiasName(int layer) => $"layers.{layer}.bias";
}
