// Naive loops: the specification the fused kernels in Elementwise.cs are tested against (bit for bit).
// Shapes as in Elementwise.cs. Nothing here is optimised on purpose.
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Tensors;

public static partial class Elementwise
{
    /// <summary>Plain loops, one element at a time, in the same operation order as the fast kernels.</summary>
    public static class Reference
    {
        // z = g(z + b)   z: (B, Out)  b: (Out)
        public static void BiasActivation(Span<float> z, ReadOnlySpan<float> bias, int rows, int outputs, Activation? g)
        {
            for (var r = 0; r < rows; r++)
            {
                for (var o = 0; o < outputs; o++)
                {
                    var v = z[(r * outputs) + o] + bias[o];
                    z[(r * outputs) + o] = g switch
                    {
                        null => v,
                        Activation.Relu => v > 0f ? v : 0f,
                        Activation.LeakyRelu => v > 0f ? v : Names.LeakySlope * v,
                        Activation.Sigmoid => 1f / (1f + MathF.Exp(-v)),
                        Activation.Tanh => MathF.Tanh(v),
                        _ => throw new ArgumentOutOfRangeException(nameof(g)),
                    };
                }
            }
        }

        // dZ = dA ⊙ g′(A)   a, d: (n)
        public static void ActivationDerivative(Activation g, ReadOnlySpan<float> a, Span<float> d)
        {
            for (var i = 0; i < d.Length; i++)
            {
                d[i] = g switch
                {
                    Activation.Relu => a[i] > 0f ? d[i] : 0f,
                    Activation.LeakyRelu => a[i] > 0f ? d[i] : Names.LeakySlope * d[i],
                    Activation.Sigmoid => d[i] * ((1f - a[i]) * a[i]),
                    Activation.Tanh => d[i] * (1f - (a[i] * a[i])),
                    _ => throw new ArgumentOutOfRangeException(nameof(g)),
                };
            }
        }

        // db += Σ_rows dZ   dz: (B, Out)  db: (Out)
        public static void AccumulateBiasGradient(ReadOnlySpan<float> dz, Span<float> db, int rows, int outputs)
        {
            for (var r = 0; r < rows; r++)
            {
                for (var o = 0; o < outputs; o++)
                {
                    db[o] += dz[(r * outputs) + o];
                }
            }
        }

        // db = +0 + Σ_rows dZ   dz: (B, Out)  db: (Out)
        public static void BiasGradient(ReadOnlySpan<float> dz, Span<float> db, int rows, int outputs)
        {
            db.Slice(0, outputs).Clear();
            AccumulateBiasGradient(dz, db, rows, outputs);
        }
    }
}
