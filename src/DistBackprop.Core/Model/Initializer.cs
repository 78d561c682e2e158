// Initial weights from the run seed: He (Kaiming) normal, std √(2/In), for layers followed by
// relu/leaky-relu; Xavier/Glorot uniform, U(−a, a) with a = √(6/(In+Out)), for sigmoid/tanh
// hidden layers and for the output layer. Biases start at zero. Layer by layer, row-major.
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Model;

public static class Initializer
{
    /// <summary>The random stream id used for initialisation ("init").</summary>
    public const ulong Stream = 0x696E6974;

    public static float[] Create(ModelSpec spec, long seed)
    {
        var p = new float[spec.ParameterCount];
        Fill(spec, seed, p);
        return p;
    }

    public static void Fill(ModelSpec spec, long seed, Span<float> parameters)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var rng = DeterministicRandom.For(seed, Stream);
        var layout = spec.Layout;
        parameters.Clear();
        for (var l = 0; l < spec.LayerCount; l++)
        {
            int inputs = layout.InputsOf(l), outputs = layout.OutputsOf(l);
            var w = layout.Weight(parameters, l);
            var he = l < spec.LayerCount - 1 && spec.Hidden is Activation.Relu or Activation.LeakyRelu;
            if (he)
            {
                var std = Math.Sqrt(2.0 / inputs);
                for (var i = 0; i < w.Length; i++)
                {
                    w[i] = (float)(std * rng.NextGaussian());
                }
            }
            else
            {
                var a = Math.Sqrt(6.0 / (inputs + outputs));
                for (var i = 0; i < w.Length; i++)
                {
                    w[i] = (float)rng.NextDouble(-a, a);
                }
            }
        }
    }
}
