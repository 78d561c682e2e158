// The register-tiled inner kernels of Gemm.Blocked: C[MR×NR] (+)= Apanel[kc×MR]ᵀ·Bpanel[kc×NR].
// What each computes, element by element, is the same for all three, which is why their results are
// bit-identical:  c[r, j] = fma(a[k, r], b[k, j], c[r, j])  for k = 0..kc-1 in order, starting from the
// stored C (load) or from 0. Only the "how" differs: AVX-512 (8×32 tile), AVX2 (6×16 tile),
// 128-bit vectors (8×8 tile, for Arm64 AdvSimd), scalar.
// Leaves out: packing, blocking and edge tiles (Gemm.Blocked pads panels and tiles to full size).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DistBackprop.Core.Tensors;

/// <summary>A microkernel: a full MR × NR tile of C at <c>c</c> (row stride <c>ldc</c>) from packed panels.</summary>
internal unsafe interface IMicroKernel
{
    static abstract int MR { get; }

    static abstract int NR { get; }

    /// <summary>K-block depth: a B micro-panel (KC × NR) stays in L1. Any value gives the same bits: K-blocks continue the chain.</summary>
    static abstract int KC { get; }

    // a: (kc, MR) packed   b: (kc, NR) packed   c: (MR, NR) with row stride ldc
    static abstract void Compute(int kc, float* a, float* b, float* c, int ldc, bool load);

    /// <summary>
    /// A partial tile: at least rows 0..mv-1 and columns 0..nv-1 of the MR × NR tile (same panels, same
    /// chains); a kernel may compute fewer padding rows/columns than <see cref="Compute"/> does. <c>c</c> is a
    /// scratch tile, so anything outside the valid part may be left as garbage.
    /// </summary>
    static abstract void ComputeEdge(int kc, float* a, float* b, float* c, int ldc, bool load, int mv, int nv);
}

/// <summary>AVX2 + FMA: 6 rows × 16 columns = 12 ymm accumulators, 2 for B, 1 broadcast.</summary>
internal readonly unsafe struct Avx2Kernel : IMicroKernel
{
    public static int MR => 6;

    public static int NR => 16;

    public static int KC => 256;

    public static void ComputeEdge(int kc, float* a, float* b, float* c, int ldc, bool load, int mv, int nv) => Compute(kc, a, b, c, ldc, load);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Compute(int kc, float* a, float* b, float* c, int ldc, bool load)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        float* c0 = c, c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc;
        if (load)
        {
            c00 = Vector256.Load(c0); c01 = Vector256.Load(c0 + 8);
            c10 = Vector256.Load(c1); c11 = Vector256.Load(c1 + 8);
            c20 = Vector256.Load(c2); c21 = Vector256.Load(c2 + 8);
            c30 = Vector256.Load(c3); c31 = Vector256.Load(c3 + 8);
            c40 = Vector256.Load(c4); c41 = Vector256.Load(c4 + 8);
            c50 = Vector256.Load(c5); c51 = Vector256.Load(c5 + 8);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }

        // c[r, :] = fma(a[k, r], b[k, :], c[r, :])   k ascending
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var ak = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ak, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ak, b1, c01);
            ak = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ak, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ak, b1, c11);
            ak = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ak, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ak, b1, c21);
            ak = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ak, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ak, b1, c31);
            ak = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(ak, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ak, b1, c41);
            ak = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(ak, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ak, b1, c51);
            a += 6;
            b += 16;
        }

        c00.Store(c0); c01.Store(c0 + 8);
        c10.Store(c1); c11.Store(c1 + 8);
        c20.Store(c2); c21.Store(c2 + 8);
        c30.Store(c3); c31.Store(c3 + 8);
        c40.Store(c4); c41.Store(c4 + 8);
        c50.Store(c5); c51.Store(c5 + 8);
    }
}

/// <summary>AVX-512: 8 rows × 32 columns = 16 zmm accumulators, 2 for B, 1 broadcast.</summary>
internal readonly unsafe struct Avx512Kernel : IMicroKernel
{
    public static int MR => 8;

    public static int NR => 32;

    public static int KC => 256;

    /// <summary>Up to 16 columns run a half (8 × 16) or quarter (4 × 16, up to 4 rows) kernel: the same chains, less padding.</summary>
    public static void ComputeEdge(int kc, float* a, float* b, float* c, int ldc, bool load, int mv, int nv)
    {
        if (nv > 16)
        {
            // (a 4 × 32 half tile for mv ≤ 4 measured slower on dW 10 × 1024, K = 256, faster on 25 × 400)
            Compute(kc, a, b, c, ldc, load);
        }
        else if (mv <= 4)
        {
            Compute4x16(kc, a, b, c, ldc, load);
        }
        else
        {
            Compute8x16(kc, a, b, c, ldc, load);
        }
    }

    // columns 0..15 of the 8 × 32 tile
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Compute8x16(int kc, float* a, float* b, float* c, int ldc, bool load)
    {
        Vector512<float> c0v, c1v, c2v, c3v, c4v, c5v, c6v, c7v;
        float* c0 = c, c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc, c6 = c5 + ldc, c7 = c6 + ldc;
        if (load)
        {
            c0v = Vector512.Load(c0); c1v = Vector512.Load(c1); c2v = Vector512.Load(c2); c3v = Vector512.Load(c3);
            c4v = Vector512.Load(c4); c5v = Vector512.Load(c5); c6v = Vector512.Load(c6); c7v = Vector512.Load(c7);
        }
        else
        {
            c0v = c1v = c2v = c3v = c4v = c5v = c6v = c7v = Vector512<float>.Zero;
        }

        // c[r, 0..15] = fma(a[k, r], b[k, 0..15], c[r, 0..15])   k ascending
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            c0v = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0v);
            c1v = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1v);
            c2v = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2v);
            c3v = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3v);
            c4v = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4v);
            c5v = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5v);
            c6v = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6v);
            c7v = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7v);
            a += 8;
            b += 32;
        }

        c0v.Store(c0); c1v.Store(c1); c2v.Store(c2); c3v.Store(c3);
        c4v.Store(c4); c5v.Store(c5); c6v.Store(c6); c7v.Store(c7);
    }

    // rows 0..3, columns 0..15 of the 8 × 32 tile
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Compute4x16(int kc, float* a, float* b, float* c, int ldc, bool load)
    {
        Vector512<float> c0v, c1v, c2v, c3v;
        float* c0 = c, c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        if (load)
        {
            c0v = Vector512.Load(c0); c1v = Vector512.Load(c1); c2v = Vector512.Load(c2); c3v = Vector512.Load(c3);
        }
        else
        {
            c0v = c1v = c2v = c3v = Vector512<float>.Zero;
        }

        // c[r, 0..15] = fma(a[k, r], b[k, 0..15], c[r, 0..15])   k ascending, r < 4
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            c0v = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0v);
            c1v = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1v);
            c2v = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2v);
            c3v = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3v);
            a += 8;
            b += 32;
        }

        c0v.Store(c0); c1v.Store(c1); c2v.Store(c2); c3v.Store(c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Compute(int kc, float* a, float* b, float* c, int ldc, bool load)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        float* c0 = c, c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc, c6 = c5 + ldc, c7 = c6 + ldc;
        if (load)
        {
            c00 = Vector512.Load(c0); c01 = Vector512.Load(c0 + 16);
            c10 = Vector512.Load(c1); c11 = Vector512.Load(c1 + 16);
            c20 = Vector512.Load(c2); c21 = Vector512.Load(c2 + 16);
            c30 = Vector512.Load(c3); c31 = Vector512.Load(c3 + 16);
            c40 = Vector512.Load(c4); c41 = Vector512.Load(c4 + 16);
            c50 = Vector512.Load(c5); c51 = Vector512.Load(c5 + 16);
            c60 = Vector512.Load(c6); c61 = Vector512.Load(c6 + 16);
            c70 = Vector512.Load(c7); c71 = Vector512.Load(c7 + 16);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = Vector512<float>.Zero;
            c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = Vector512<float>.Zero;
        }

        // c[r, :] = fma(a[k, r], b[k, :], c[r, :])   k ascending
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var ak = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ak, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(ak, b1, c01);
            ak = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(ak, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(ak, b1, c11);
            ak = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(ak, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(ak, b1, c21);
            ak = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(ak, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(ak, b1, c31);
            ak = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(ak, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(ak, b1, c41);
            ak = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(ak, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(ak, b1, c51);
            ak = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(ak, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(ak, b1, c61);
            ak = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(ak, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(ak, b1, c71);
            a += 8;
            b += 32;
        }

        c00.Store(c0); c01.Store(c0 + 16);
        c10.Store(c1); c11.Store(c1 + 16);
        c20.Store(c2); c21.Store(c2 + 16);
        c30.Store(c3); c31.Store(c3 + 16);
        c40.Store(c4); c41.Store(c4 + 16);
        c50.Store(c5); c51.Store(c5 + 16);
        c60.Store(c6); c61.Store(c6 + 16);
        c70.Store(c7); c71.Store(c7 + 16);
    }
}

/// <summary>128-bit vectors with FMA (Arm64 AdvSimd): 8 rows × 8 columns = 16 accumulators, 2 for B, 1 broadcast.</summary>
internal readonly unsafe struct Vector128Kernel : IMicroKernel
{
    public static int MR => 8;

    public static int NR => 8;

    public static int KC => 256;

    public static void ComputeEdge(int kc, float* a, float* b, float* c, int ldc, bool load, int mv, int nv) => Compute(kc, a, b, c, ldc, load);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Compute(int kc, float* a, float* b, float* c, int ldc, bool load)
    {
        Vector128<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        float* c0 = c, c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc, c6 = c5 + ldc, c7 = c6 + ldc;
        if (load)
        {
            c00 = Vector128.Load(c0); c01 = Vector128.Load(c0 + 4);
            c10 = Vector128.Load(c1); c11 = Vector128.Load(c1 + 4);
            c20 = Vector128.Load(c2); c21 = Vector128.Load(c2 + 4);
            c30 = Vector128.Load(c3); c31 = Vector128.Load(c3 + 4);
            c40 = Vector128.Load(c4); c41 = Vector128.Load(c4 + 4);
            c50 = Vector128.Load(c5); c51 = Vector128.Load(c5 + 4);
            c60 = Vector128.Load(c6); c61 = Vector128.Load(c6 + 4);
            c70 = Vector128.Load(c7); c71 = Vector128.Load(c7 + 4);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = Vector128<float>.Zero;
            c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = Vector128<float>.Zero;
        }

        // c[r, :] = fma(a[k, r], b[k, :], c[r, :])   k ascending
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector128.Load(b);
            var b1 = Vector128.Load(b + 4);
            var ak = Vector128.Create(a[0]);
            c00 = Vector128.FusedMultiplyAdd(ak, b0, c00);
            c01 = Vector128.FusedMultiplyAdd(ak, b1, c01);
            ak = Vector128.Create(a[1]);
            c10 = Vector128.FusedMultiplyAdd(ak, b0, c10);
            c11 = Vector128.FusedMultiplyAdd(ak, b1, c11);
            ak = Vector128.Create(a[2]);
            c20 = Vector128.FusedMultiplyAdd(ak, b0, c20);
            c21 = Vector128.FusedMultiplyAdd(ak, b1, c21);
            ak = Vector128.Create(a[3]);
            c30 = Vector128.FusedMultiplyAdd(ak, b0, c30);
            c31 = Vector128.FusedMultiplyAdd(ak, b1, c31);
            ak = Vector128.Create(a[4]);
            c40 = Vector128.FusedMultiplyAdd(ak, b0, c40);
            c41 = Vector128.FusedMultiplyAdd(ak, b1, c41);
            ak = Vector128.Create(a[5]);
            c50 = Vector128.FusedMultiplyAdd(ak, b0, c50);
            c51 = Vector128.FusedMultiplyAdd(ak, b1, c51);
            ak = Vector128.Create(a[6]);
            c60 = Vector128.FusedMultiplyAdd(ak, b0, c60);
            c61 = Vector128.FusedMultiplyAdd(ak, b1, c61);
            ak = Vector128.Create(a[7]);
            c70 = Vector128.FusedMultiplyAdd(ak, b0, c70);
            c71 = Vector128.FusedMultiplyAdd(ak, b1, c71);
            a += 8;
            b += 8;
        }

        c00.Store(c0); c01.Store(c0 + 4);
        c10.Store(c1); c11.Store(c1 + 4);
        c20.Store(c2); c21.Store(c2 + 4);
        c30.Store(c3); c31.Store(c3 + 4);
        c40.Store(c4); c41.Store(c4 + 4);
        c50.Store(c5); c51.Store(c5 + 4);
        c60.Store(c6); c61.Store(c6 + 4);
        c70.Store(c7); c71.Store(c7 + 4);
    }
}

/// <summary>Any hardware: scalar fused multiply-adds on a 4 × 4 tile (slow where FMA is emulated, but exact).</summary>
internal readonly unsafe struct ScalarKernel : IMicroKernel
{
    public static int MR => 4;

    public static int NR => 4;

    public static int KC => 256;

    public static void ComputeEdge(int kc, float* a, float* b, float* c, int ldc, bool load, int mv, int nv) => Compute(kc, a, b, c, ldc, load);

    public static void Compute(int kc, float* a, float* b, float* c, int ldc, bool load)
    {
        var acc = stackalloc float[16];
        for (var r = 0; r < 4; r++)
        {
            for (var j = 0; j < 4; j++)
            {
                acc[(r * 4) + j] = load ? c[((nint)r * ldc) + j] : 0f;
            }
        }

        // c[r, j] = fma(a[k, r], b[k, j], c[r, j])   k ascending
        for (var k = 0; k < kc; k++)
        {
            for (var r = 0; r < 4; r++)
            {
                var ar = a[r];
                for (var j = 0; j < 4; j++)
                {
                    acc[(r * 4) + j] = MathF.FusedMultiplyAdd(ar, b[j], acc[(r * 4) + j]);
                }
            }

            a += 4;
            b += 4;
        }

        for (var r = 0; r < 4; r++)
        {
            for (var j = 0; j < 4; j++)
            {
                c[((nint)r * ldc) + j] = acc[(r * 4) + j];
            }
        }
    }
}
