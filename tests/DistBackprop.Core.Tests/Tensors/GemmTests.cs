// The float32 GEMM engine against two oracles: Gemm.Reference (plain loops, within a tolerance that
// scales with the sum length and the sizes of the terms) and a scalar fused multiply-add chain (bit for
// bit: this is the determinism promise of SPEC §3 — any thread count, partition or vector path gives
// the same bits). Sweeps sizes 0, 1, odd, and around the 6/8/16/32 tile widths and the K/M/N blocks.
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Tensors;

public sealed class GemmTests(ITestOutputHelper output) : IDisposable
{
    private static readonly int[] Widths = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 130];

    private readonly KernelPool _two = new(2);
    private readonly KernelPool _three = new(3);

    public enum Op
    {
        XWt,
        DyTX,
        DyW,
    }

    public static TheoryData<Op> Ops => new() { Op.XWt, Op.DyTX, Op.DyW };

    internal static GemmPath[] Paths =>
        [GemmPath.Scalar, .. Vector128.IsHardwareAccelerated && (Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported) ? [GemmPath.Vector128] : Array.Empty<GemmPath>(),
            .. Fma.IsSupported && Vector256.IsHardwareAccelerated ? [GemmPath.Avx2] : Array.Empty<GemmPath>(),
            .. Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? [GemmPath.Avx512] : Array.Empty<GemmPath>()];

    public void Dispose()
    {
        _two.Dispose();
        _three.Dispose();
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void Sweep_matches_reference_and_is_bit_identical_across_threads_and_paths(Op op)
    {
        var rng = new DeterministicRandom(11);
        var checkedShapes = 0;
        double worst = 0;
        for (var rows = 0; rows <= 19; rows++)
        {
            foreach (var inputs in Widths)
            {
                foreach (var outputs in Widths)
                {
                    worst = Math.Max(worst, CheckShape(op, rows, inputs, outputs, rng, all: rows % 4 == 1));
                    checkedShapes++;
                }
            }
        }

        output.WriteLine($"{op}: {checkedShapes} shapes, worst error / tolerance {worst:G3}");
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void Shapes_across_cache_blocks_are_exact(Op op)
    {
        // K > KC = 256 (the K-block chain continues), M > MC = 144, N > NC = 1024, and the workload shapes;
        // the last two put edge tiles of ≤ 16 columns and ≤ 4 rows (the AVX-512 8×16 / 4×16 kernels) on
        // chains that cross K-blocks, and row groups of 1..7 into the zero-padded 8×8 transposes
        var rng = new DeterministicRandom(12);
        (int Rows, int In, int Out)[] shapes =
            [(150, 300, 41), (7, 520, 1030), (145, 257, 33), (64, 400, 25), (128, 256, 128), (37, 1025, 19), (300, 520, 10), (5, 300, 13)];
        double worst = 0;
        foreach (var (rows, inputs, outputs) in shapes)
        {
            worst = Math.Max(worst, CheckShape(op, rows, inputs, outputs, rng, all: true));
        }

        output.WriteLine($"{op}: worst error / tolerance {worst:G3}");
    }

    [Fact]
    public void AccumulateDyTX_adds_into_dw_and_continues_the_chain_from_it()
    {
        var rng = new DeterministicRandom(13);
        const int rows = 9, inputs = 17, outputs = 5;
        var dy = Random(rng, rows * outputs);
        var x = Random(rng, rows * inputs);
        var dw = Random(rng, outputs * inputs);
        var expected = (float[])dw.Clone();
        FmaDyTX(dy, x, expected, rows, inputs, outputs);
        var reference = (float[])dw.Clone();
        Gemm.Reference.AccumulateDyTX<float>(dy, x, reference, rows, inputs, outputs);

        Gemm.AccumulateDyTX<float>(dy, x, dw, rows, inputs, outputs, _two);

        Assert.Equal(expected, dw);
        var diff = MaxDiff(reference, dw);
        Assert.True(diff < 1e-5, $"max diff {diff}");

        // twice = the old value plus two sums
        var twice = new float[outputs * inputs];
        Gemm.AccumulateDyTX<float>(dy, x, twice, rows, inputs, outputs);
        Gemm.AccumulateDyTX<float>(dy, x, twice, rows, inputs, outputs);
        var once = new float[outputs * inputs];
        Gemm.AccumulateDyTX<float>(dy, x, once, rows, inputs, outputs);
        for (var i = 0; i < once.Length; i++)
        {
            Assert.True(Math.Abs(twice[i] - (2 * once[i])) <= 1e-5 * (1 + Math.Abs(once[i])), $"element {i}: {twice[i]} vs 2·{once[i]}");
        }
    }

    [Fact]
    public void Empty_sum_overwrites_with_zero_or_leaves_the_accumulator()
    {
        var y = new float[] { 1, 2, 3, 4, 5, 6 };
        Gemm.XWt<float>([], [], y, 2, 0, 3);
        Assert.All(y, v => Assert.Equal(0f, v));

        var dx = new float[] { 1, 2, 3, 4 };
        Gemm.DyW<float>([], [], dx, 2, 2, 0);
        Assert.All(dx, v => Assert.Equal(0f, v));

        var dw = new float[] { 1, 2, 3, 4 };
        Gemm.AccumulateDyTX<float>([], [], dw, 0, 2, 2);
        Assert.Equal([1f, 2f, 3f, 4f], dw);
    }

    [Fact]
    public void Only_the_shaped_part_of_longer_spans_is_written()
    {
        var rng = new DeterministicRandom(14);
        var x = Random(rng, (3 * 5) + 4);
        var w = Random(rng, (2 * 5) + 4);
        var y = Enumerable.Repeat(7f, (3 * 2) + 3).ToArray();
        Gemm.XWt<float>(x, w, y, 3, 5, 2);
        Assert.Equal([7f, 7f, 7f], y[6..]);
    }

    [Fact]
    public void Double_runs_the_reference_loops()
    {
        var rng = new DeterministicRandom(15);
        double[] x = [.. Random(rng, 6 * 7).Select(v => (double)v)];
        double[] w = [.. Random(rng, 5 * 7).Select(v => (double)v)];
        var y = new double[6 * 5];
        var expected = new double[6 * 5];
        Gemm.XWt<double>(x, w, y, 6, 7, 5, _two);
        Gemm.Reference.XWt<double>(x, w, expected, 6, 7, 5);
        Assert.Equal(expected, y);
    }

    [Fact]
    public void Bad_lengths_throw_naming_the_parameter()
    {
        var a = new float[12];
        var b = new float[12];
        var c = new float[12];
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => Gemm.XWt<float>(a.AsSpan(0, 11), b, c, 3, 4, 3)).ParamName);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => Gemm.XWt<float>(a, b.AsSpan(0, 11), c, 3, 4, 3)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => Gemm.XWt<float>(a, b, c.AsSpan(0, 8), 3, 4, 3)).ParamName);
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() => Gemm.AccumulateDyTX<float>(a.AsSpan(0, 8), b, c, 3, 4, 3)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => Gemm.AccumulateDyTX<float>(a, b.AsSpan(0, 11), c, 3, 4, 3)).ParamName);
        Assert.Equal("dw", Assert.Throws<ArgumentException>(() => Gemm.AccumulateDyTX<float>(a, b, c.AsSpan(0, 11), 3, 4, 3)).ParamName);
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() => Gemm.DyW<float>(a.AsSpan(0, 8), b, c, 3, 4, 3)).ParamName);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => Gemm.DyW<float>(a, b.AsSpan(0, 11), c, 3, 4, 3)).ParamName);
        Assert.Equal("dx", Assert.Throws<ArgumentException>(() => Gemm.DyW<float>(a, b, c.AsSpan(0, 11), 3, 4, 3)).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.XWt<float>(a, b, c, -1, 4, 3)).ParamName);
        Assert.Equal("inputs", Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.DyW<float>(a, b, c, 1, -4, 3)).ParamName);
    }

    [Fact]
    public void Kernel_path_is_named()
    {
        Assert.Contains(Gemm.KernelPath, new[] { "avx512", "avx2", "vector128", "scalar" });
        output.WriteLine($"kernel path: {Gemm.KernelPath}");
    }

    /// <summary>
    /// One shape: the public entry point vs the reference (tolerance), and every path × thread count
    /// (forced parallel even for tiny shapes) vs the FMA chain (bits). Returns the worst error/tolerance.
    /// </summary>
    private double CheckShape(Op op, int rows, int inputs, int outputs, DeterministicRandom rng, bool all)
    {
        var (aLen, bLen, cLen, k) = op switch
        {
            Op.XWt => (rows * inputs, outputs * inputs, rows * outputs, inputs),
            Op.DyTX => (rows * outputs, rows * inputs, outputs * inputs, rows),
            _ => (rows * outputs, outputs * inputs, rows * inputs, outputs),
        };
        var a = Random(rng, aLen);
        var b = Random(rng, bLen);
        var c0 = Random(rng, cLen); // garbage for overwrite, the old value for accumulate

        var chain = (float[])c0.Clone();
        var reference = (float[])c0.Clone();
        switch (op)
        {
            case Op.XWt:
                FmaXWt(a, b, chain, rows, inputs, outputs);
                Gemm.Reference.XWt<float>(a, b, reference, rows, inputs, outputs);
                break;
            case Op.DyTX:
                FmaDyTX(a, b, chain, rows, inputs, outputs);
                Gemm.Reference.AccumulateDyTX<float>(a, b, reference, rows, inputs, outputs);
                break;
            default:
                FmaDyW(a, b, chain, rows, inputs, outputs);
                Gemm.Reference.DyW<float>(a, b, reference, rows, inputs, outputs);
                break;
        }

        var fast = (float[])c0.Clone();
        Run(op, a, b, fast, rows, inputs, outputs, null, Gemm.DefaultPath, Gemm.Blocked.MinParallelWork);
        double worst = 0;
        for (var i = 0; i < cLen; i++)
        {
            // terms are products of values in [-1, 1] (mean |a·b| = 1/4): scale ~ K/2, plus the old value for accumulate
            var tolerance = 1e-6 * Math.Sqrt(k + 1) * ((k / 2.0) + (op == Op.DyTX ? Math.Abs(c0[i]) : 0) + 1);
            var err = Math.Abs(fast[i] - reference[i]);
            worst = Math.Max(worst, err / tolerance);
            Assert.True(err <= tolerance, $"{op} rows={rows} in={inputs} out={outputs} element {i}: fast {fast[i]} reference {reference[i]}, max diff {err} > {tolerance}");
        }

        Assert.True(chain.AsSpan().SequenceEqual(fast), $"{op} rows={rows} in={inputs} out={outputs}: default path differs from the FMA chain, max diff {MaxDiff(chain, fast)}");
        if (!all)
        {
            return worst;
        }

        // every vector path on one thread, and the default path on 1, 2 and 3 threads
        foreach (var path in Paths)
        {
            foreach (var pool in path == Gemm.DefaultPath ? new KernelPool?[] { null, KernelPool.Single, _two, _three } : [null])
            {
                var c = (float[])c0.Clone();
                Run(op, a, b, c, rows, inputs, outputs, pool, path, minParallelWork: 0);
                Assert.True(chain.AsSpan().SequenceEqual(c), $"{op} rows={rows} in={inputs} out={outputs} path={path} threads={pool?.Threads ?? 1}: not bit-identical, max diff {MaxDiff(chain, c)}");
            }
        }

        return worst;
    }

    private static void Run(Op op, float[] a, float[] b, float[] c, int rows, int inputs, int outputs, KernelPool? pool, GemmPath path, long minParallelWork)
    {
        switch (op)
        {
            case Op.XWt:
                Gemm.Blocked.XWt(a, b, c, rows, inputs, outputs, pool, path, minParallelWork);
                break;
            case Op.DyTX:
                Gemm.Blocked.AccumulateDyTX(a, b, c, rows, inputs, outputs, pool, path, minParallelWork);
                break;
            default:
                Gemm.Blocked.DyW(a, b, c, rows, inputs, outputs, pool, path, minParallelWork);
                break;
        }
    }

    // y[b, o] = fma chain over i ascending, from 0
    internal static void FmaXWt(float[] x, float[] w, float[] y, int rows, int inputs, int outputs)
    {
        for (var r = 0; r < rows; r++)
        {
            for (var o = 0; o < outputs; o++)
            {
                var acc = 0f;
                for (var i = 0; i < inputs; i++)
                {
                    acc = MathF.FusedMultiplyAdd(x[(r * inputs) + i], w[(o * inputs) + i], acc);
                }

                y[(r * outputs) + o] = acc;
            }
        }
    }

    // dw[o, i] = fma chain over b ascending, from the old dw[o, i]
    internal static void FmaDyTX(float[] dy, float[] x, float[] dw, int rows, int inputs, int outputs)
    {
        for (var o = 0; o < outputs; o++)
        {
            for (var i = 0; i < inputs; i++)
            {
                var acc = dw[(o * inputs) + i];
                for (var r = 0; r < rows; r++)
                {
                    acc = MathF.FusedMultiplyAdd(dy[(r * outputs) + o], x[(r * inputs) + i], acc);
                }

                dw[(o * inputs) + i] = acc;
            }
        }
    }

    // dx[b, i] = fma chain over o ascending, from 0
    internal static void FmaDyW(float[] dy, float[] w, float[] dx, int rows, int inputs, int outputs)
    {
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < inputs; i++)
            {
                var acc = 0f;
                for (var o = 0; o < outputs; o++)
                {
                    acc = MathF.FusedMultiplyAdd(dy[(r * outputs) + o], w[(o * inputs) + i], acc);
                }

                dx[(r * inputs) + i] = acc;
            }
        }
    }

    internal static float[] Random(DeterministicRandom rng, int n)
    {
        var v = new float[n];
        for (var i = 0; i < n; i++)
        {
            v[i] = (float)rng.NextDouble(-1, 1);
        }

        return v;
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        double m = 0;
        for (var i = 0; i < a.Length; i++)
        {
            m = Math.Max(m, Math.Abs(a[i] - b[i]));
        }

        return m;
    }
}
