// The overwrite mode of backprop (no clearing of the gradient buffer first) against the old way (clear to +0,
// then accumulate), bit for bit — including the sign of zero, which float equality would not see: the GEMM
// dW = dYᵀ·X on every kernel path and thread count, the bias sum, Mlp.ComputeGradient over one and several
// chunks in float and double, and the per-layer "done" notification (last layer first, each range final).
using System.Runtime.InteropServices;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Tensors;

public sealed class OverwriteGradientTests(ITestOutputHelper output) : IDisposable
{
    private static readonly int[] Widths = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100];

    private readonly KernelPool _two = new(2);
    private readonly KernelPool _three = new(3);

    public void Dispose()
    {
        _two.Dispose();
        _three.Dispose();
    }

    [Fact]
    public void DyTX_overwrite_equals_clear_then_accumulate_on_every_path_bit_for_bit()
    {
        var rng = new DeterministicRandom(31);
        var shapes = 0;
        foreach (var rows in new[] { 0, 1, 2, 5, 6, 7, 13, 19, 300 })
        {
            foreach (var inputs in Widths)
            {
                foreach (var outputs in Widths)
                {
                    var dy = Values(rng, rows * outputs);
                    var x = Values(rng, rows * inputs);
                    var expected = new float[outputs * inputs];
                    GemmTests.FmaDyTX(dy, x, expected, rows, inputs, outputs);
                    foreach (var path in GemmTests.Paths)
                    {
                        foreach (var pool in path == Gemm.DefaultPath ? new KernelPool?[] { null, _two, _three } : [null])
                        {
                            var cleared = new float[outputs * inputs];
                            Gemm.Blocked.AccumulateDyTX(dy, x, cleared, rows, inputs, outputs, pool, path, minParallelWork: 0);
                            var overwritten = Garbage(outputs * inputs);
                            Gemm.Blocked.DyTX(dy, x, overwritten, rows, inputs, outputs, pool, path, minParallelWork: 0);
                            AssertBits(cleared, overwritten, $"path={path} threads={pool?.Threads ?? 1} rows={rows} in={inputs} out={outputs}");
                            AssertBits(expected, overwritten, $"FMA chain, path={path} rows={rows} in={inputs} out={outputs}");
                        }
                    }

                    shapes++;
                }
            }
        }

        output.WriteLine($"{shapes} shapes × paths [{string.Join(", ", GemmTests.Paths)}]: overwrite = clear + accumulate, bit for bit");
    }

    [Fact]
    public void DyTX_public_entry_overwrites_float_and_double()
    {
        var rng = new DeterministicRandom(32);
        const int rows = 11, inputs = 13, outputs = 7;
        var dy = Values(rng, rows * outputs);
        var x = Values(rng, rows * inputs);
        var cleared = new float[outputs * inputs];
        Gemm.AccumulateDyTX<float>(dy, x, cleared, rows, inputs, outputs, _two);
        var overwritten = Garbage(outputs * inputs);
        Gemm.DyTX<float>(dy, x, overwritten, rows, inputs, outputs, _two);
        AssertBits(cleared, overwritten, "float");

        double[] dy64 = [.. dy.Select(v => (double)v)], x64 = [.. x.Select(v => (double)v)];
        var cleared64 = new double[outputs * inputs];
        Gemm.AccumulateDyTX<double>(dy64, x64, cleared64, rows, inputs, outputs);
        var overwritten64 = Enumerable.Repeat(double.NaN, outputs * inputs).ToArray();
        Gemm.DyTX<double>(dy64, x64, overwritten64, rows, inputs, outputs);
        Assert.True(MemoryMarshal.Cast<double, long>(cleared64).SequenceEqual(MemoryMarshal.Cast<double, long>(overwritten64)), "double differs");

        Assert.Equal("dw", Assert.Throws<ArgumentException>(() => Gemm.DyTX<float>(dy, x, new float[5], rows, inputs, outputs)).ParamName);
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() => Gemm.DyTX<float>(dy.AsSpan(1), x, overwritten, rows, inputs, outputs)).ParamName);
    }

    [Fact]
    public void BiasGradient_overwrite_equals_clear_then_accumulate_bit_for_bit()
    {
        var rng = new DeterministicRandom(33);
        for (var rows = 0; rows <= 9; rows++)
        {
            for (var outputs = 0; outputs <= 70; outputs++)
            {
                var dz = Values(rng, rows * outputs);
                var cleared = new float[outputs];
                Elementwise.AccumulateBiasGradient(dz, cleared, rows, outputs);
                var overwritten = Garbage(outputs);
                Elementwise.BiasGradient(dz, overwritten, rows, outputs);
                AssertBits(cleared, overwritten, $"rows={rows} out={outputs}");
                var reference = Garbage(outputs);
                Elementwise.Reference.BiasGradient(dz, reference, rows, outputs);
                AssertBits(cleared, reference, $"reference rows={rows} out={outputs}");
            }
        }

        // a column of −0 sums to +0, as it does from a cleared buffer
        var db = new float[] { 5f };
        Elementwise.BiasGradient([-0f, -0f], db, 2, 1);
        Assert.Equal(0, BitConverter.SingleToInt32Bits(db[0]));
    }

    [Theory]
    [InlineData(60, 1)] // one chunk
    [InlineData(60, 2)]
    [InlineData(25, 1)] // 131 rows in chunks of 25: the first overwrites, the others add
    [InlineData(25, 3)]
    public void ComputeGradient_equals_clear_then_AccumulateGradient_and_reports_final_layers_last_first(int maxRows, int threads)
    {
        using var pool = new KernelPool(threads);
        var spec = new ModelSpec([67, 96, 81, 10], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var data = MlpKernelTests.RandomData(spec.Inputs, spec.Outputs, 140);
        var parameters = Initializer.Create(spec, 4);
        var indices = Enumerable.Range(3, maxRows == 60 ? 60 : 131).ToArray();
        var mlp = new Mlp<float>(spec, maxRows, pool);

        var cleared = new float[spec.ParameterCount];
        var expectedStats = mlp.AccumulateGradient(parameters, cleared, data, indices);

        var gradient = Garbage(spec.ParameterCount);
        var listener = new Recorder(spec, gradient);
        var stats = mlp.ComputeGradient(parameters, gradient, data, indices, listener);

        Assert.Equal(expectedStats, stats);
        AssertBits(cleared, gradient, $"maxRows={maxRows} threads={threads}");
        Assert.Equal([2, 1, 0], listener.Layers);
        for (var l = 0; l < spec.LayerCount; l++)
        {
            // what the listener saw at the notification is the final sum
            var (offset, length) = (spec.Layout.WeightOffset(l), spec.Layout.WeightLength(l) + spec.Layout.BiasLength(l));
            AssertBits(gradient.AsSpan(offset, length).ToArray(), listener.Seen[l]!, $"layer {l} at its notification");
        }

        // the plain overload: the same bits
        var plain = Garbage(spec.ParameterCount);
        mlp.ComputeGradient(parameters, plain, data, indices);
        AssertBits(cleared, plain, "without a listener");
    }

    [Fact]
    public void ComputeGradient_in_double_equals_clear_then_accumulate()
    {
        var spec = new ModelSpec([9, 7, 3], Activation.Tanh, LossKind.SoftmaxCrossEntropy);
        var data = MlpKernelTests.RandomData(spec.Inputs, spec.Outputs, 30);
        double[] parameters = [.. Initializer.Create(spec, 2).Select(p => (double)p)];
        var indices = Enumerable.Range(0, 23).ToArray();
        var mlp = new Mlp<double>(spec, 10);
        var cleared = new double[spec.ParameterCount];
        mlp.AccumulateGradient(parameters, cleared, data, indices);
        var gradient = Enumerable.Repeat(double.NaN, spec.ParameterCount).ToArray();
        mlp.ComputeGradient(parameters, gradient, data, indices);
        Assert.True(MemoryMarshal.Cast<double, long>(cleared).SequenceEqual(MemoryMarshal.Cast<double, long>(gradient)), "double differs");
    }

    [Fact]
    public void An_empty_shard_clears_the_gradient_and_reports_every_layer()
    {
        var spec = new ModelSpec([5, 4, 3], Activation.Sigmoid, LossKind.Mse);
        var mlp = new Mlp<float>(spec, 4);
        var gradient = Garbage(spec.ParameterCount);
        var listener = new Recorder(spec, gradient);
        var stats = mlp.ComputeGradient(Initializer.Create(spec, 1), gradient, MlpKernelTests.RandomData(5, 3, 4), [], listener);
        Assert.Equal(new ShardStats(0, 0, 0), stats);
        Assert.All(gradient, v => Assert.Equal(0, BitConverter.SingleToInt32Bits(v)));
        Assert.Equal([1, 0], listener.Layers);
    }

    /// <summary>Records the layers in order and a copy of each layer's range at its notification.</summary>
    private sealed class Recorder(ModelSpec spec, float[] gradient) : ILayerDone
    {
        public List<int> Layers { get; } = new();

        public float[]?[] Seen { get; } = new float[]?[spec.LayerCount];

        public void LayerDone(int layer)
        {
            Layers.Add(layer);
            var offset = spec.Layout.WeightOffset(layer);
            Assert.Equal(offset + spec.Layout.WeightLength(layer), spec.Layout.BiasOffset(layer)); // weight then bias: one range
            Seen[layer] = gradient.AsSpan(offset, spec.Layout.WeightLength(layer) + spec.Layout.BiasLength(layer)).ToArray();
        }
    }

    // values in [-1, 1], about one in eight a zero of either sign (so −0 products and all-zero columns occur)
    private static float[] Values(DeterministicRandom rng, int n)
    {
        var v = new float[n];
        for (var i = 0; i < n; i++)
        {
            var r = rng.NextDouble(-1, 1);
            v[i] = Math.Abs(r) < 0.125 ? (r < 0 ? -0f : 0f) : (float)r;
        }

        return v;
    }

    private static float[] Garbage(int n) => Enumerable.Range(0, n).Select(i => i % 3 == 0 ? float.NaN : i % 3 == 1 ? -0f : 1e30f).ToArray();

    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        var e = MemoryMarshal.Cast<float, int>(expected);
        var a = MemoryMarshal.Cast<float, int>(actual);
        Assert.Equal(e.Length, a.Length);
        for (var i = 0; i < e.Length; i++)
        {
            Assert.True(e[i] == a[i], $"{what}: element {i}: expected {expected[i]} (0x{e[i]:x8}), got {actual[i]} (0x{a[i]:x8})");
        }
    }
}
