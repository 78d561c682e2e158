// The three matrix products backprop needs, without materialising transposes:
//   forward   Y  = X·Wᵀ      x: (B, In)  w: (Out, In)  y: (B, Out)
//   weights   dW += dYᵀ·X    dy: (B, Out) x: (B, In)  dw: (Out, In)   (or dW = dYᵀ·X: DyTX, overwriting)
//   inputs    dX = dY·W      dy: (B, Out) w: (Out, In) dx: (B, In)
// Dimension letters: B = rows of the batch (shard), In = layer inputs, Out = layer outputs.
// Work is split over output rows/columns only, never over the summed dimension (SPEC §3).
// float32 runs the packed, register-tiled kernels of Gemm.Blocked.cs; other float types (float64 for
// gradient checks) run the naive twins in Gemm.Reference.cs, which the tests compare against.
using System.Numerics;
using System.Runtime.InteropServices;

namespace DistBackprop.Core.Tensors;

public static partial class Gemm
{
    /// <summary>The float32 kernel path on this machine ("avx512", "avx2", "vector128" or "scalar"); log it next to results.</summary>
    /// <remarks>All paths give bit-identical results (each output is one fused multiply-add chain in a fixed
    /// order), so this is informational.</remarks>
    public static string KernelPath => DefaultPath switch
    {
        GemmPath.Avx512 => "avx512",
        GemmPath.Avx2 => "avx2",
        GemmPath.Vector128 => "vector128",
        _ => "scalar",
    };

    /// <summary>Y = X·Wᵀ (overwrites <paramref name="y"/>).</summary>
    /// <remarks>Effectively computes y[b, o] = Σ_i x[b, i]·w[o, i].</remarks>
    public static void XWt<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, Span<T> y, int rows, int inputs, int outputs, KernelPool? pool = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckDims(rows, inputs, outputs);
        CheckShapes(x.Length, (long)rows * inputs, nameof(x), w.Length, (long)outputs * inputs, nameof(w), y.Length, (long)rows * outputs, nameof(y));
        if (typeof(T) == typeof(float))
        {
            Blocked.XWt(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(w), MemoryMarshal.Cast<T, float>(y), rows, inputs, outputs, pool, DefaultPath);
            return;
        }

        Reference.XWt(x, w, y, rows, inputs, outputs);
    }

    /// <summary>dW += dYᵀ·X (accumulates into <paramref name="dw"/>).</summary>
    /// <remarks>Effectively computes dw[o, i] += Σ_b dy[b, o]·x[b, i]. In float32 the sum is a fused
    /// multiply-add chain that starts from the old dw[o, i] and runs over b = 0..B-1 in order.</remarks>
    public static void AccumulateDyTX<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dw, int rows, int inputs, int outputs, KernelPool? pool = null)
        where T : unmanaged, IFloatingPointIeee754<T> => DyTX(dy, x, dw, rows, inputs, outputs, pool, accumulate: true);

    /// <summary>dW = dYᵀ·X (overwrites <paramref name="dw"/>): the first chunk of a fresh sum, without clearing dw first.</summary>
    /// <remarks>Effectively computes dw[o, i] = Σ_b dy[b, o]·x[b, i]. Bit-identical to clearing dw to +0 and calling
    /// <see cref="AccumulateDyTX{T}"/>: the float32 chain starts from +0 instead of a loaded +0, and with no rows every
    /// element becomes +0.</remarks>
    public static void DyTX<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dw, int rows, int inputs, int outputs, KernelPool? pool = null)
        where T : unmanaged, IFloatingPointIeee754<T> => DyTX(dy, x, dw, rows, inputs, outputs, pool, accumulate: false);

    private static void DyTX<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dw, int rows, int inputs, int outputs, KernelPool? pool, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckDims(rows, inputs, outputs);
        CheckShapes(dy.Length, (long)rows * outputs, nameof(dy), x.Length, (long)rows * inputs, nameof(x), dw.Length, (long)outputs * inputs, nameof(dw));
        if (typeof(T) == typeof(float))
        {
            var dyF = MemoryMarshal.Cast<T, float>(dy);
            var xF = MemoryMarshal.Cast<T, float>(x);
            var dwF = MemoryMarshal.Cast<T, float>(dw);
            if (accumulate)
            {
                Blocked.AccumulateDyTX(dyF, xF, dwF, rows, inputs, outputs, pool, DefaultPath);
            }
            else
            {
                Blocked.DyTX(dyF, xF, dwF, rows, inputs, outputs, pool, DefaultPath);
            }

            return;
        }

        Reference.DyTX(dy, x, dw, rows, inputs, outputs, accumulate);
    }

    /// <summary>dX = dY·W (overwrites <paramref name="dx"/>).</summary>
    /// <remarks>Effectively computes dx[b, i] = Σ_o dy[b, o]·w[o, i].</remarks>
    public static void DyW<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> w, Span<T> dx, int rows, int inputs, int outputs, KernelPool? pool = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckDims(rows, inputs, outputs);
        CheckShapes(dy.Length, (long)rows * outputs, nameof(dy), w.Length, (long)outputs * inputs, nameof(w), dx.Length, (long)rows * inputs, nameof(dx));
        if (typeof(T) == typeof(float))
        {
            Blocked.DyW(MemoryMarshal.Cast<T, float>(dy), MemoryMarshal.Cast<T, float>(w), MemoryMarshal.Cast<T, float>(dx), rows, inputs, outputs, pool, DefaultPath);
            return;
        }

        Reference.DyW(dy, w, dx, rows, inputs, outputs);
    }

    internal static void CheckDims(int rows, int inputs, int outputs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(inputs);
        ArgumentOutOfRangeException.ThrowIfNegative(outputs);
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
