// The instruction set the float kernels run on, logged once at start: results are bit-identical
// only between nodes on the same path (SPEC §3). Leaves out: choosing the path (the JIT does).
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Host.Output;

public static class KernelInfo
{
    /// <summary>Core's GEMM path and the hardware, e.g. "avx2 (AVX2 + FMA (Vector256))".</summary>
    public static string Describe() => $"{Gemm.KernelPath} ({Hardware()})";

    private static string Hardware()
    {
        if (Vector512.IsHardwareAccelerated)
        {
            return $"Vector512 (AVX-512F{(Fma.IsSupported ? ", FMA" : string.Empty)})";
        }

        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported)
        {
            return $"AVX2{(Fma.IsSupported ? " + FMA" : string.Empty)} (Vector256)";
        }

        if (Vector128.IsHardwareAccelerated)
        {
            return $"Vector128 ({(AdvSimd.IsSupported ? "AdvSimd" : "SSE")})";
        }

        return Vector.IsHardwareAccelerated ? $"Vector<float> width {Vector<float>.Count}" : "scalar";
    }
}
