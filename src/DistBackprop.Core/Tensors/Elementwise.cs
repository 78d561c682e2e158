// Fused float32 element-wise kernels around the dense layer's GEMMs, one pass over a (B, Out) block:
//   forward    a = g(z + b)              z: (B, Out) in place   b: (Out)
//   backward   dZ = dA ⊙ g′(A)           a, d: (n) with d in place
//   bias grad  db += Σ_rows dZ           dz: (B, Out)   db: (Out)   (or db = +0 + Σ_rows dZ: BiasGradient, overwriting)
// Each op's per-element math is one small operator struct (the "what"); Apply/Derive hold the vector
// width and tail handling (the "how"). Results equal the generic code in Mlp bit for bit: the same
// operations in the same order, no contraction to FMA; sigmoid/tanh come from TensorPrimitives.
// Leaves out: the output layer's softmax/sigmoid and losses (Mlp.OutputLoss). Naive twins: Elementwise.Reference.cs.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Tensors;

public static partial class Elementwise
{
    /// <summary>z = g(z + b) in place; g = identity when <paramref name="g"/> is null.</summary>
    /// <remarks>Effectively computes z[r, o] = g(z[r, o] + b[o]) for r &lt; rows, o &lt; outputs.</remarks>
    public static void BiasActivation(Span<float> z, ReadOnlySpan<float> bias, int rows, int outputs, Activation? g)
    {
        CheckBlock(z.Length, bias.Length, rows, outputs, nameof(z), nameof(bias));
        var block = z.Slice(0, rows * outputs);
        for (var r = 0; r < rows; r++)
        {
            var row = block.Slice(r * outputs, outputs);
            switch (g)
            {
                case Activation.Relu:
                    Apply<Relu>(row, bias);
                    break;
                case Activation.LeakyRelu:
                    Apply<LeakyRelu>(row, bias);
                    break;
                default:
                    TensorPrimitives.Add(row, bias, row);
                    break;
            }
        }

        // TensorPrimitives' sigmoid/tanh may round an element differently depending on the span length
        // (vector body vs tail), so they run once over the whole block, as the generic code does.
        if (block.IsEmpty)
        {
            return;
        }

        switch (g)
        {
            case null or Activation.Relu or Activation.LeakyRelu:
                break;
            case Activation.Sigmoid:
                TensorPrimitives.Sigmoid(block, block);
                break;
            case Activation.Tanh:
                TensorPrimitives.Tanh(block, block);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(g));
        }
    }

    /// <summary>dZ = dA ⊙ g′, with g′ written in terms of A = g(Z); <paramref name="d"/> holds dA and becomes dZ.</summary>
    /// <remarks>Effectively computes d[i] = d[i]·g′(a[i]) for i &lt; d.Length.</remarks>
    public static void ActivationDerivative(Activation g, ReadOnlySpan<float> a, Span<float> d)
    {
        if (a.Length != d.Length)
        {
            throw new ArgumentException($"has {a.Length} elements, dA has {d.Length}", nameof(a));
        }

        switch (g)
        {
            case Activation.Relu:
                Derive<Relu>(a, d);
                break;
            case Activation.LeakyRelu:
                Derive<LeakyRelu>(a, d);
                break;
            case Activation.Sigmoid:
                Derive<Sigmoid>(a, d);
                break;
            case Activation.Tanh:
                Derive<Tanh>(a, d);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(g));
        }
    }

    /// <summary>db += Σ_rows dZ, adding the rows in order.</summary>
    /// <remarks>Effectively computes db[o] = (…((db[o] + dz[0, o]) + dz[1, o]) …) + dz[rows-1, o].</remarks>
    public static void AccumulateBiasGradient(ReadOnlySpan<float> dz, Span<float> db, int rows, int outputs) =>
        BiasGradient(dz, db, rows, outputs, accumulate: true);

    /// <summary>db = Σ_rows dZ (overwrites <paramref name="db"/>), adding the rows in order to +0.</summary>
    /// <remarks>Effectively computes db[o] = (…((+0 + dz[0, o]) + dz[1, o]) …) + dz[rows-1, o]: bit-identical to clearing
    /// db and calling <see cref="AccumulateBiasGradient"/> (a −0 in dz becomes +0, as it would there).</remarks>
    public static void BiasGradient(ReadOnlySpan<float> dz, Span<float> db, int rows, int outputs) =>
        BiasGradient(dz, db, rows, outputs, accumulate: false);

    // db (+)= Σ_rows dZ: the sums start from the old db, or from +0
    private static void BiasGradient(ReadOnlySpan<float> dz, Span<float> db, int rows, int outputs, bool accumulate)
    {
        CheckBlock(dz.Length, db.Length, rows, outputs, nameof(dz), nameof(db));
        var o = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // four vectors of columns at a time down all rows, then one, then the scalar tail
            for (; o <= outputs - 32; o += 32)
            {
                var s0 = accumulate ? Vector256.Create<float>(db.Slice(o)) : Vector256<float>.Zero;
                var s1 = accumulate ? Vector256.Create<float>(db.Slice(o + 8)) : Vector256<float>.Zero;
                var s2 = accumulate ? Vector256.Create<float>(db.Slice(o + 16)) : Vector256<float>.Zero;
                var s3 = accumulate ? Vector256.Create<float>(db.Slice(o + 24)) : Vector256<float>.Zero;
                for (var r = 0; r < rows; r++)
                {
                    var row = dz.Slice((r * outputs) + o, 32);
                    s0 += Vector256.Create<float>(row);
                    s1 += Vector256.Create<float>(row.Slice(8));
                    s2 += Vector256.Create<float>(row.Slice(16));
                    s3 += Vector256.Create<float>(row.Slice(24));
                }

                s0.CopyTo(db.Slice(o));
                s1.CopyTo(db.Slice(o + 8));
                s2.CopyTo(db.Slice(o + 16));
                s3.CopyTo(db.Slice(o + 24));
            }

            for (; o <= outputs - 8; o += 8)
            {
                var s = accumulate ? Vector256.Create<float>(db.Slice(o)) : Vector256<float>.Zero;
                for (var r = 0; r < rows; r++)
                {
                    s += Vector256.Create<float>(dz.Slice((r * outputs) + o, 8));
                }

                s.CopyTo(db.Slice(o));
            }
        }

        for (; o < outputs; o++)
        {
            var s = accumulate ? db[o] : 0f;
            for (var r = 0; r < rows; r++)
            {
                s += dz[(r * outputs) + o];
            }

            db[o] = s;
        }
    }

    private static void CheckBlock(int blockLength, int vectorLength, int rows, int outputs, string blockName, string vectorName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(outputs);
        if (blockLength < (long)rows * outputs)
        {
            throw new ArgumentException($"span has {blockLength} elements, the shape needs {(long)rows * outputs}", blockName);
        }

        if (vectorLength != outputs)
        {
            throw new ArgumentException($"span has {vectorLength} elements, expected {outputs}", vectorName);
        }
    }

    // z = g(z + b) over one row: vectors of 8, then the scalar tail
    private static void Apply<TOp>(Span<float> row, ReadOnlySpan<float> bias)
        where TOp : IActivationOp
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= row.Length - 8; i += 8)
            {
                var z = Vector256.Create<float>(row.Slice(i)) + Vector256.Create<float>(bias.Slice(i));
                TOp.Forward(z).CopyTo(row.Slice(i));
            }
        }

        for (; i < row.Length; i++)
        {
            row[i] = TOp.Forward(row[i] + bias[i]);
        }
    }

    // d = d·g′(a): vectors of 8, then the scalar tail
    private static void Derive<TOp>(ReadOnlySpan<float> a, Span<float> d)
        where TOp : IActivationOp
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= d.Length - 8; i += 8)
            {
                TOp.Backward(Vector256.Create<float>(a.Slice(i)), Vector256.Create<float>(d.Slice(i))).CopyTo(d.Slice(i));
            }
        }

        for (; i < d.Length; i++)
        {
            d[i] = TOp.Backward(a[i], d[i]);
        }
    }

    /// <summary>One activation's per-element math: forward g(z), and dA·g′ from A.</summary>
    private interface IActivationOp
    {
        static abstract float Forward(float z);

        static abstract Vector256<float> Forward(Vector256<float> z);

        static abstract float Backward(float a, float d);

        static abstract Vector256<float> Backward(Vector256<float> a, Vector256<float> d);
    }

    // a = max(z, 0) written as z > 0 ? z : 0;  g′ = 1 if a > 0 else 0 (g′(0) = 0 as in PyTorch)
    private readonly struct Relu : IActivationOp
    {
        public static float Forward(float z) => z > 0f ? z : 0f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Forward(Vector256<float> z) =>
            Vector256.ConditionalSelect(Vector256.GreaterThan(z, Vector256<float>.Zero), z, Vector256<float>.Zero);

        public static float Backward(float a, float d) => a > 0f ? d : 0f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Backward(Vector256<float> a, Vector256<float> d) =>
            Vector256.ConditionalSelect(Vector256.GreaterThan(a, Vector256<float>.Zero), d, Vector256<float>.Zero);
    }

    // a = z > 0 ? z : 0.01·z;  g′ = 1 if a > 0 else 0.01
    private readonly struct LeakyRelu : IActivationOp
    {
        public static float Forward(float z) => z > 0f ? z : Names.LeakySlope * z;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Forward(Vector256<float> z) =>
            Vector256.ConditionalSelect(Vector256.GreaterThan(z, Vector256<float>.Zero), z, z * Names.LeakySlope);

        public static float Backward(float a, float d) => a > 0f ? d : Names.LeakySlope * d;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Backward(Vector256<float> a, Vector256<float> d) =>
            Vector256.ConditionalSelect(Vector256.GreaterThan(a, Vector256<float>.Zero), d, d * Names.LeakySlope);
    }

    // forward is TensorPrimitives.Sigmoid;  g′ = a·(1 − a), computed as d·((1 − a)·a)
    private readonly struct Sigmoid : IActivationOp
    {
        public static float Forward(float z) => throw new NotSupportedException();

        public static Vector256<float> Forward(Vector256<float> z) => throw new NotSupportedException();

        public static float Backward(float a, float d) => d * ((1f - a) * a);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Backward(Vector256<float> a, Vector256<float> d) => d * ((Vector256<float>.One - a) * a);
    }

    // forward is TensorPrimitives.Tanh;  g′ = 1 − a², computed as d·(1 − a·a)
    private readonly struct Tanh : IActivationOp
    {
        public static float Forward(float z) => throw new NotSupportedException();

        public static Vector256<float> Forward(Vector256<float> z) => throw new NotSupportedException();

        public static float Backward(float a, float d) => d * (1f - (a * a));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Backward(Vector256<float> a, Vector256<float> d) => d * (Vector256<float>.One - (a * a));
    }
}
