// The float32 engine behind Gemm.cs: one cache-blocked, packed GEMM  C (=|+=) A·B  (GotoBLAS/BLIS
// loop order) that the three backprop shapes map onto by strides, split over threads by output tiles.
//   C: (M, N) row-major     A(i, k) = a[i·aRs + k·aCs]     B(k, j) = b[k·bRs + j·bCs]
//   Y  = X·Wᵀ   : M = B,   N = Out, K = In    A = x (aRs = In, aCs = 1)    B = w (bRs = 1,  bCs = In)
//   dW += dYᵀ·X : M = Out, N = In,  K = B     A = dy (aRs = 1, aCs = Out)  B = x (bRs = In, bCs = 1)   (dW = dYᵀ·X: the same, overwriting)
//   dX = dY·W   : M = B,   N = In,  K = Out   A = dy (aRs = Out, aCs = 1)  B = w (bRs = In, bCs = 1)
// Determinism (SPEC §3): every C element is ONE fused multiply-add chain over k = 0..K-1 in order,
// starting from 0 (overwrite) or from the old C (accumulate); K-blocks continue the chain by reloading
// C. Threads split M or N on tile boundaries, never K, so the bits do not depend on the thread count,
// the partition, or the vector width (AVX-512, AVX2, 128-bit and scalar paths agree bit for bit).
// Leaves out: float64 (Gemm.Reference), aliasing between C and A/B (not allowed).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace DistBackprop.Core.Tensors;

/// <summary>Which microkernel a float32 GEMM uses.</summary>
internal enum GemmPath
{
    Scalar,
    Vector128,
    Avx2,
    Avx512,
}

public static partial class Gemm
{
    internal static readonly GemmPath DefaultPath =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmPath.Avx512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? GemmPath.Avx2
        : AdvSimd.Arm64.IsSupported ? GemmPath.Vector128
        : GemmPath.Scalar;

    internal static unsafe class Blocked
    {
        /// <summary>Target M-block and N-block extents (rounded to the tile): A block in L2, B block in L2/L3.</summary>
        internal const int MCTarget = 144;
        internal const int NCTarget = 1024;

        /// <summary>
        /// Below this many multiply-adds (~10 µs on one core) a product runs on one thread (the bits are the same either
        /// way): waking a pool thread and handing it half the tiles costs about as much as the work.
        /// </summary>
        internal const long MinParallelWork = 1L << 20;

        [ThreadStatic]
        private static float[]? t_pack;

        // y = x·Wᵀ     x: (B, In)  w: (Out, In)  y: (B, Out)
        public static void XWt(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, int rows, int inputs, int outputs, KernelPool? pool, GemmPath path, long minParallelWork = MinParallelWork)
        {
            fixed (float* px = x, pw = w, py = y)
            {
                var p = new Problem(px, inputs, 1, pw, 1, inputs, py, outputs, rows, outputs, inputs, accumulate: false);
                Multiply(p, pool, path, minParallelWork);
            }
        }

        // dW += dYᵀ·X  dy: (B, Out)  x: (B, In)  dw: (Out, In)
        public static void AccumulateDyTX(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dw, int rows, int inputs, int outputs, KernelPool? pool, GemmPath path, long minParallelWork = MinParallelWork)
        {
            fixed (float* pdy = dy, px = x, pdw = dw)
            {
                var p = new Problem(pdy, 1, outputs, px, inputs, 1, pdw, inputs, outputs, inputs, rows, accumulate: true);
                Multiply(p, pool, path, minParallelWork);
            }
        }

        // dW = dYᵀ·X   dy: (B, Out)  x: (B, In)  dw: (Out, In)   (the chain starts from 0, not from the old dw)
        public static void DyTX(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dw, int rows, int inputs, int outputs, KernelPool? pool, GemmPath path, long minParallelWork = MinParallelWork)
        {
            fixed (float* pdy = dy, px = x, pdw = dw)
            {
                var p = new Problem(pdy, 1, outputs, px, inputs, 1, pdw, inputs, outputs, inputs, rows, accumulate: false);
                Multiply(p, pool, path, minParallelWork);
            }
        }

        // dX = dY·W    dy: (B, Out)  w: (Out, In)  dx: (B, In)
        public static void DyW(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int rows, int inputs, int outputs, KernelPool? pool, GemmPath path, long minParallelWork = MinParallelWork)
        {
            fixed (float* pdy = dy, pw = w, pdx = dx)
            {
                var p = new Problem(pdy, outputs, 1, pw, inputs, 1, pdx, inputs, rows, inputs, outputs, accumulate: false);
                Multiply(p, pool, path, minParallelWork);
            }
        }

        private static void Multiply(Problem p, KernelPool? pool, GemmPath path, long minParallelWork = MinParallelWork)
        {
            if (p.M == 0 || p.N == 0)
            {
                return;
            }

            if (p.K == 0)
            {
                // An empty sum: overwrite with zeros, or leave an accumulator alone.
                if (!p.Accumulate)
                {
                    for (var i = 0; i < p.M; i++)
                    {
                        new Span<float>(p.C + ((nint)i * p.Ldc), p.N).Clear();
                    }
                }

                return;
            }

            switch (path)
            {
                case GemmPath.Avx512:
                    Partition<Avx512Kernel>(p, pool, minParallelWork);
                    break;
                case GemmPath.Avx2:
                    Partition<Avx2Kernel>(p, pool, minParallelWork);
                    break;
                case GemmPath.Vector128:
                    Partition<Vector128Kernel>(p, pool, minParallelWork);
                    break;
                default:
                    Partition<ScalarKernel>(p, pool, minParallelWork);
                    break;
            }
        }

        /// <summary>Splits C into at most Threads parts along M or N, on tile boundaries, and runs them.</summary>
        private static void Partition<TKernel>(Problem p, KernelPool? pool, long minParallelWork)
            where TKernel : IMicroKernel
        {
            var threads = pool?.Threads ?? 1;
            if (threads == 1 || (long)p.M * p.N * p.K < minParallelWork)
            {
                Block<TKernel>(p, 0, p.M, 0, p.N);
                return;
            }

            // Splitting M makes every part pack all of B (K × N); splitting N, all of A (M × K).
            // Duplicate the smaller operand, unless that leaves too few tiles to split.
            int tilesM = (p.M + TKernel.MR - 1) / TKernel.MR, tilesN = (p.N + TKernel.NR - 1) / TKernel.NR;
            var splitM = p.N < p.M ? tilesM >= threads || tilesM >= tilesN : tilesN < threads && tilesM > tilesN;
            var tiles = splitM ? tilesM : tilesN;
            var parts = Math.Min(threads, tiles);
            if (parts <= 1)
            {
                Block<TKernel>(p, 0, p.M, 0, p.N);
                return;
            }

            pool!.Run(parts, new Split(p, splitM, tiles, parts), static (part, s) => s.RunPart<TKernel>(part));
        }

        /// <summary>Computes C[m0..m1, n0..n1) with this thread's packing buffers.</summary>
        private static void Block<TKernel>(in Problem p, int m0, int m1, int n0, int n1)
            where TKernel : IMicroKernel
        {
            int mr = TKernel.MR, nr = TKernel.NR;
            var mc = Math.Max(mr, MCTarget / mr * mr);
            var nc = Math.Max(nr, NCTarget / nr * nr);
            // Panel sizes for this block (whole tiles, plus slack for the 6-wide transpose's overhang);
            // the thread's buffer only grows, so steady state allocates nothing.
            // K in equal blocks of at most KC (784 = 4 × 196, not 3 × 256 + 16: a thin last block reloads and stores
            // every C tile for a few multiply-adds); the blocking never changes the bits, each chain goes on in k order
            var kBlocks = (p.K + TKernel.KC - 1) / TKernel.KC;
            var kcMax = Math.Min(TKernel.KC, RoundUp((p.K + kBlocks - 1) / kBlocks, 4));
            var aSize = RoundUp((Math.Min(mc, RoundUp(m1 - m0, mr)) + mr) * kcMax, 16);
            var bSize = RoundUp(Math.Min(nc, RoundUp(n1 - n0, nr)) * kcMax, 16);
            var need = aSize + bSize + (mr * nr) + 16;
            var pack = t_pack;
            if (pack is null || pack.Length < need)
            {
                t_pack = pack = GC.AllocateUninitializedArray<float>(Math.Max(need, pack?.Length ?? 0), pinned: true);
            }

            fixed (float* pinned = pack)
            {
                // 64-byte align the panels (the array is pinned, so the address is stable).
                var aPack = (float*)(((nint)pinned + 63) & ~(nint)63);
                var bPack = aPack + aSize;
                var edge = bPack + bSize;
                for (var jc = n0; jc < n1; jc += nc)
                {
                    var ncb = Math.Min(nc, n1 - jc);
                    for (var pc = 0; pc < p.K; pc += kcMax)
                    {
                        var kc = Math.Min(kcMax, p.K - pc);
                        var load = p.Accumulate || pc > 0;
                        PackB(p, pc, kc, jc, ncb, nr, bPack);
                        for (var ic = m0; ic < m1; ic += mc)
                        {
                            var mcb = Math.Min(mc, m1 - ic);
                            PackA(p, ic, mcb, pc, kc, mr, aPack);

                            // C[ic.., jc..] (+)= Apanel · Bpanel, one MR × NR tile at a time
                            for (var jr = 0; jr < ncb; jr += nr)
                            {
                                var nv = Math.Min(nr, ncb - jr);
                                var bp = bPack + ((nint)jr * kc);
                                for (var ir = 0; ir < mcb; ir += mr)
                                {
                                    var mv = Math.Min(mr, mcb - ir);
                                    var ap = aPack + ((nint)ir * kc);
                                    var c = p.C + ((nint)(ic + ir) * p.Ldc) + jc + jr;
                                    if (mv == mr && nv == nr)
                                    {
                                        TKernel.Compute(kc, ap, bp, c, p.Ldc, load);
                                    }
                                    else
                                    {
                                        EdgeTile<TKernel>(kc, ap, bp, c, p.Ldc, load, mv, nv, edge);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        /// <summary>A partial tile: run the full microkernel on a scratch tile, copy the valid part.</summary>
        private static void EdgeTile<TKernel>(int kc, float* ap, float* bp, float* c, int ldc, bool load, int mv, int nv, float* tile)
            where TKernel : IMicroKernel
        {
            int mr = TKernel.MR, nr = TKernel.NR;
            if (load)
            {
                for (var r = 0; r < mv; r++)
                {
                    new ReadOnlySpan<float>(c + ((nint)r * ldc), nv).CopyTo(new Span<float>(tile + (r * nr), nv));
                }
            }

            TKernel.ComputeEdge(kc, ap, bp, tile, nr, load, mv, nv);
            for (var r = 0; r < mv; r++)
            {
                new ReadOnlySpan<float>(tile + (r * nr), nv).CopyTo(new Span<float>(c + ((nint)r * ldc), nv));
            }
        }

        /// <summary>Packs A[i0..i0+mc, p0..p0+kc) as MR-row micro-panels, k-major: panel[k·MR + r]; pads rows with 0.</summary>
        private static void PackA(in Problem p, int i0, int mc, int p0, int kc, int mr, float* dst)
        {
            for (var ir = 0; ir < mc; ir += mr)
            {
                var mv = Math.Min(mr, mc - ir);
                var src = p.A + ((nint)(i0 + ir) * p.ARs) + ((nint)p0 * p.ACs);
                if (p.ARs == 1)
                {
                    // column-contiguous source (dYᵀ): MR consecutive floats per k
                    for (var k = 0; k < kc; k++)
                    {
                        CopyPadded(src + ((nint)k * p.ACs), dst + (k * mr), mv, mr);
                    }
                }
                else
                {
                    // row-contiguous source (X, dY): transpose MR rows into the panel
                    TransposeRows(src, p.ARs, mv, mr, kc, dst);
                }

                dst += mr * kc;
            }
        }

        /// <summary>Packs B[p0..p0+kc, j0..j0+nc) as NR-column micro-panels, k-major: panel[k·NR + j]; pads columns with 0.</summary>
        private static void PackB(in Problem p, int p0, int kc, int j0, int nc, int nr, float* dst)
        {
            for (var jr = 0; jr < nc; jr += nr)
            {
                var nv = Math.Min(nr, nc - jr);
                var src = p.B + ((nint)p0 * p.BRs) + ((nint)(j0 + jr) * p.BCs);
                if (p.BCs == 1)
                {
                    // row-major source (X, W in dX = dY·W): NR consecutive floats per k
                    if (nr == 32 && nv == 32 && Vector512.IsHardwareAccelerated)
                    {
                        // the AVX-512 panel width: two 16-float vectors per k
                        for (var k = 0; k < kc; k++)
                        {
                            var s = src + ((nint)k * p.BRs);
                            Vector512.Load(s).Store(dst + (k * 32));
                            Vector512.Load(s + 16).Store(dst + (k * 32) + 16);
                        }
                    }
                    else
                    {
                        for (var k = 0; k < kc; k++)
                        {
                            CopyPadded(src + ((nint)k * p.BRs), dst + (k * nr), nv, nr);
                        }
                    }
                }
                else
                {
                    // Wᵀ: each column j is a contiguous row of W; transpose NR of them into the panel
                    TransposeRows(src, p.BCs, nv, nr, kc, dst);
                }

                dst += nr * kc;
            }
        }

        /// <summary>
        /// dst[k·width + r] = src[r·stride + k] for r &lt; count, 0 for count ≤ r &lt; width, k &lt; kc.
        /// With AVX2, full groups of 8 rows go through 8 × 8 register transposes.
        /// </summary>
        private static void TransposeRows(float* src, int stride, int count, int width, int kc, float* dst)
        {
            var r0 = 0;
            if (Avx.IsSupported && width == 6 && count == 6 && kc >= 8)
            {
                // six rows and two zero rows through the 8 × 8 transpose; each 8-wide store also writes
                // two floats past its 6-float slot, which the next store (or the tail) overwrites; the
                // last one lands in the slack after the panel
                var k = 0;
                for (; k + 8 <= kc; k += 8)
                {
                    var s = src + k;
                    Transpose8x8(
                        Avx.LoadVector256(s), Avx.LoadVector256(s + stride), Avx.LoadVector256(s + (2 * stride)),
                        Avx.LoadVector256(s + (3 * stride)), Avx.LoadVector256(s + (4 * stride)), Avx.LoadVector256(s + (5 * stride)),
                        Vector256<float>.Zero, Vector256<float>.Zero, dst + ((nint)k * 6), 6);
                }

                for (; k < kc; k++)
                {
                    for (var r = 0; r < 6; r++)
                    {
                        dst[((nint)k * 6) + r] = src[((nint)r * stride) + k];
                    }
                }

                return;
            }

            if (Avx.IsSupported && width % 8 == 0)
            {
                for (; r0 + 8 <= count; r0 += 8)
                {
                    var k = 0;
                    for (; k + 8 <= kc; k += 8)
                    {
                        var b = src + ((nint)r0 * stride) + k;
                        Transpose8x8(
                            Avx.LoadVector256(b), Avx.LoadVector256(b + stride), Avx.LoadVector256(b + (2 * stride)), Avx.LoadVector256(b + (3 * stride)),
                            Avx.LoadVector256(b + (4 * stride)), Avx.LoadVector256(b + (5 * stride)), Avx.LoadVector256(b + (6 * stride)), Avx.LoadVector256(b + (7 * stride)),
                            dst + ((nint)k * width) + r0, width);
                    }

                    for (; k < kc; k++)
                    {
                        for (var r = r0; r < r0 + 8; r++)
                        {
                            dst[((nint)k * width) + r] = src[((nint)r * stride) + k];
                        }
                    }
                }
            }

            if (Avx.IsSupported && width % 8 == 0 && r0 < count && kc >= 8)
            {
                // the last, partial group of rows: the missing rows enter the transpose as zeros
                var rows = count - r0;
                var k = 0;
                for (; k + 8 <= kc; k += 8)
                {
                    var b = src + ((nint)r0 * stride) + k;
                    Transpose8x8(
                        Avx.LoadVector256(b), RowOrZero(b, stride, 1, rows), RowOrZero(b, stride, 2, rows), RowOrZero(b, stride, 3, rows),
                        RowOrZero(b, stride, 4, rows), RowOrZero(b, stride, 5, rows), RowOrZero(b, stride, 6, rows), RowOrZero(b, stride, 7, rows),
                        dst + ((nint)k * width) + r0, width);
                }

                for (; k < kc; k++)
                {
                    for (var r = r0; r < r0 + 8; r++)
                    {
                        dst[((nint)k * width) + r] = r < count ? src[((nint)r * stride) + k] : 0f;
                    }
                }

                r0 += 8;
                if (r0 < width)
                {
                    // whole groups of zero rows: one 8-wide store per group and k
                    for (var kk = 0; kk < kc; kk++)
                    {
                        for (var r = r0; r < width; r += 8)
                        {
                            Vector256<float>.Zero.Store(dst + ((nint)kk * width) + r);
                        }
                    }
                }

                return;
            }

            for (var r = r0; r < count; r++)
            {
                var row = src + ((nint)r * stride);
                for (var k = 0; k < kc; k++)
                {
                    dst[((nint)k * width) + r] = row[k];
                }
            }

            for (var r = count; r < width; r++)
            {
                for (var k = 0; k < kc; k++)
                {
                    dst[((nint)k * width) + r] = 0f;
                }
            }
        }

        // row r of an 8-row group at b (row stride `stride`), or zeros when the group has only `rows` rows
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> RowOrZero(float* b, int stride, int r, int rows) =>
            r < rows ? Avx.LoadVector256(b + ((nint)r * stride)) : Vector256<float>.Zero;

        // dst[t·ldd + r] = r_r[t] for an 8 × 8 block held in eight row vectors (stores in ascending t)
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Transpose8x8(
            Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
            Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, int ldd)
        {
            var t0 = Avx.UnpackLow(r0, r1);
            var t1 = Avx.UnpackHigh(r0, r1);
            var t2 = Avx.UnpackLow(r2, r3);
            var t3 = Avx.UnpackHigh(r2, r3);
            var t4 = Avx.UnpackLow(r4, r5);
            var t5 = Avx.UnpackHigh(r4, r5);
            var t6 = Avx.UnpackLow(r6, r7);
            var t7 = Avx.UnpackHigh(r6, r7);
            var u0 = Avx.Shuffle(t0, t2, 0x44);
            var u1 = Avx.Shuffle(t0, t2, 0xEE);
            var u2 = Avx.Shuffle(t1, t3, 0x44);
            var u3 = Avx.Shuffle(t1, t3, 0xEE);
            var u4 = Avx.Shuffle(t4, t6, 0x44);
            var u5 = Avx.Shuffle(t4, t6, 0xEE);
            var u6 = Avx.Shuffle(t5, t7, 0x44);
            var u7 = Avx.Shuffle(t5, t7, 0xEE);
            Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
            Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
            Avx.Store(dst + (2 * ldd), Avx.Permute2x128(u2, u6, 0x20));
            Avx.Store(dst + (3 * ldd), Avx.Permute2x128(u3, u7, 0x20));
            Avx.Store(dst + (4 * ldd), Avx.Permute2x128(u0, u4, 0x31));
            Avx.Store(dst + (5 * ldd), Avx.Permute2x128(u1, u5, 0x31));
            Avx.Store(dst + (6 * ldd), Avx.Permute2x128(u2, u6, 0x31));
            Avx.Store(dst + (7 * ldd), Avx.Permute2x128(u3, u7, 0x31));
        }

        private static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void CopyPadded(float* src, float* dst, int count, int width)
        {
            if (count == width)
            {
                Unsafe.CopyBlockUnaligned(dst, src, (uint)(width * sizeof(float)));
                return;
            }

            Unsafe.CopyBlockUnaligned(dst, src, (uint)(count * sizeof(float)));
            new Span<float>(dst + count, width - count).Clear();
        }

        /// <summary>One product: pointers stay valid because the caller is blocked in a fixed statement.</summary>
        private readonly struct Problem
        {
            public readonly float* A;
            public readonly float* B;
            public readonly float* C;
            public readonly int ARs, ACs, BRs, BCs, Ldc, M, N, K;
            public readonly bool Accumulate;

            public Problem(float* a, int aRs, int aCs, float* b, int bRs, int bCs, float* c, int ldc, int m, int n, int k, bool accumulate)
            {
                A = a;
                ARs = aRs;
                ACs = aCs;
                B = b;
                BRs = bRs;
                BCs = bCs;
                C = c;
                Ldc = ldc;
                M = m;
                N = n;
                K = k;
                Accumulate = accumulate;
            }
        }

        /// <summary>The state a pool part needs: the problem and which tiles it owns.</summary>
        private readonly struct Split(Problem p, bool splitM, int tiles, int parts)
        {
            public void RunPart<TKernel>(int part)
                where TKernel : IMicroKernel
            {
                // tiles [part·T/P, (part+1)·T/P): fixed boundaries, a whole tile each
                int t0 = (int)((long)part * tiles / parts), t1 = (int)((long)(part + 1) * tiles / parts);
                if (splitM)
                {
                    Block<TKernel>(p, t0 * TKernel.MR, Math.Min(p.M, t1 * TKernel.MR), 0, p.N);
                }
                else
                {
                    Block<TKernel>(p, 0, p.M, t0 * TKernel.NR, Math.Min(p.N, t1 * TKernel.NR));
                }
            }
        }
    }
}
