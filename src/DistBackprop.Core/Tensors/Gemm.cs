// The three matrix products backprop needs, without materialising transposes:
//   forward   Y  = X·Wᵀ      x: (B, In)  w: (Out, In)  y: (B, Out)
//   weights   dW += dYᵀ·X    dy: (B, Out) x: (B, In)  dw: (Out, In)
//   inputs    dX = dY·W      dy: (B, Out) w: (Out, In) dx: (B, In)
// Dimension letters: B = rows of the batch (shard), In = layer inputs, Out = layer outputs.
// Work is split over output rows/columns only, never over the summed dimension (SPEC §3).
// The naive twins live in Gemm.Reference.cs; tests compare the two.
using System.Numerics;

namespace DistBackprop.Core.Tensors;

public static partial class Gemm
{
    /// <summary>Y = X·Wᵀ (overwrites <paramref name="y"/>).</summary>
    /// <remarks>Effectively computes y[b, o] = Σ_i x[b, i]·w[o, i].</remarks>
    public static void XWt<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, Span<T> y, int rows, int inputs, int outputs, KernelPool? pool = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(x.Length, (long)rows * inputs, nameof(x), w.Length, (long)outputs * inputs, nameof(w), y.Length, (long)rows * outputs, nameof(y));
        Reference.XWt(x, w, y, rows, inputs, outputs);
    }

    /// <summary>dW += dYᵀ·X (accumulates into <paramref name="dw"/>).</summary>
    /// <remarks>Effectively computes dw[o, i] += Σ_b dy[b, o]·x[b, i].</remarks>
    public static void AccumulateDyTX<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dw, int rows, int inputs, int outputs, KernelPool? pool = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(dy.Length, (long)rows * outputs, nameof(dy), x.Length, (long)rows * inputs, nameof(x), dw.Length, (long)outputs * inputs, nameof(dw));
        Reference.AccumulateDyTX(dy, x, dw, rows, inputs, outputs);
    }

    /// <summary>dX = dY·W (overwrites <paramref name="dx"/>).</summary>
    /// <remarks>Effectively computes dx[b, i] = Σ_o dy[b, o]·w[o, i].</remarks>
    public static void DyW<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> w, Span<T> dx, int rows, int inputs, int outputs, KernelPool? pool = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShapes(dy.Length, (long)rows * outputs, nameof(dy), w.Length, (long)outputs * inputs, nameof(w), dx.Length, (long)rows * inputs, nameof(dx));
        Reference.DyW(dy, w, dx, rows, inputs, outputs);
    }

    internal static void CheckShapes(int aLen, long aNeed, string aName, int bLen, long bNeed, string bName, int cLen, long cNeed, string cName)
    {
        if (aLen < aNeed)
        {
            throw new ArgumentException($"span has {aLen} elements, the shape needs {aNeed}", aName);
        }

        if (bLen < bNeed)
        {
            throw new ArgumentException($"span has {bLen} elements, the shape needs {bNeed}", bName);
        }

        if (cLen < cNeed)
        {
            throw new ArgumentException($"span has {cLen} elements, the shape needs {cNeed}", cName);
        }
    }
}
