// The name of the instruction set the kernels run on ("AVX-512", "AVX2", "NEON", …), which each node
// logs and workers report at registration (SPEC §3: bit-identical results need the same one).
// Leaves out: choosing kernels (Core.Tensors does that).
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace DistBackprop.Cluster.Actors;

public static class KernelInfo
{
    /// <summary>The widest vector path this process can use.</summary>
    public static string Current { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? "AVX-512"
        : Avx2.IsSupported ? "AVX2"
        : AdvSimd.IsSupported ? "NEON"
        : Vector128.IsHardwareAccelerated ? "SSE"
        : "scalar";
}
