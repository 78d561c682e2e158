// Naive triple loops: the specification the fast kernels in Gemm.cs are tested against.
// Shapes as in Gemm.cs. Nothing here is optimised on purpose.
using System.Numerics;

namespace DistBackprop.Core.Tensors;

public static partial class Gemm
{
    /// <summary>Plain loops, in the summation order i = 0..In-1 (or b, o ascending).</summary>
    public static class Reference
    {
        // y = x·Wᵀ     x: (B, In)  w: (Out, In)  y: (B, Out)
        public static void XWt<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, Span<T> y, int rows, int inputs, int outputs)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            for (var b = 0; b < rows; b++)
            {
                for (var o = 0; o < outputs; o++)
                {
                    var sum = T.Zero;
                    for (var i = 0; i < inputs; i++)
                    {
                        sum += x[(b * inputs) + i] * w[(o * inputs) + i];
                    }

                    y[(b * outputs) + o] = sum;
                }
            }
        }

        // dW += dYᵀ·X  dy: (B, Out)  x: (B, In)  dw: (Out, In)
        public static void AccumulateDyTX<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dw, int rows, int inputs, int outputs)
            where T : unmanaged, IFloatingPointIeee754<T> => DyTX(dy, x, dw, rows, inputs, outputs, accumulate: true);

        // dW = dYᵀ·X  dy: (B, Out)  x: (B, In)  dw: (Out, In)
        // The same sums as AccumulateDyTX into a cleared dw: 0 + sum, so a −0 sum would become +0 there too.
        public static void DyTX<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dw, int rows, int inputs, int outputs)
            where T : unmanaged, IFloatingPointIeee754<T> => DyTX(dy, x, dw, rows, inputs, outputs, accumulate: false);

        internal static void DyTX<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, Span<T> dw, int rows, int inputs, int outputs, bool accumulate)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            for (var o = 0; o < outputs; o++)
            {
                for (var i = 0; i < inputs; i++)
                {
                    var sum = T.Zero;
                    for (var b = 0; b < rows; b++)
                    {
                        sum += dy[(b * outputs) + o] * x[(b * inputs) + i];
                    }

                    var at = (o * inputs) + i;
                    dw[at] = (accumulate ? dw[at] : T.Zero) + sum;
                }
            }
        }

        // dX = dY·W    dy: (B, Out)  w: (Out, In)  dx: (B, In)
        public static void DyW<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> w, Span<T> dx, int rows, int inputs, int outputs)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            for (var b = 0; b < rows; b++)
            {
                for (var i = 0; i < inputs; i++)
                {
                    var sum = T.Zero;
                    for (var o = 0; o < outputs; o++)
                    {
                        sum += dy[(b * outputs) + o] * w[(o * inputs) + i];
                    }

                    dx[(b * inputs) + i] = sum;
                }
            }
        }
    }
}
