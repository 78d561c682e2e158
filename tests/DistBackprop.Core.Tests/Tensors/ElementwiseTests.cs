// The fused float32 element-wise kernels against their naive twins (bit for bit where the twin uses the
// same operations; sigmoid/tanh within a tolerance, as the fast kernels use TensorPrimitives), and
// against the generic code Mlp<double>/Mlp<T> used before them. Widths sweep every vector tail.
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Tensors;

public sealed class ElementwiseTests(ITestOutputHelper output)
{
    public static TheoryData<Activation?> Activations => new() { null, Activation.Relu, Activation.LeakyRelu, Activation.Sigmoid, Activation.Tanh };

    public static TheoryData<Activation> Hidden => new() { Activation.Relu, Activation.LeakyRelu, Activation.Sigmoid, Activation.Tanh };

    [Theory]
    [MemberData(nameof(Activations))]
    public void BiasActivation_matches_the_reference_and_the_generic_code(Activation? g)
    {
        var rng = new DeterministicRandom(21);
        double worst = 0;
        for (var rows = 0; rows <= 5; rows++)
        {
            for (var outputs = 0; outputs <= 70; outputs++)
            {
                var z = Values(rng, rows * outputs, 4);
                var bias = Values(rng, outputs, 1);
                var fast = (float[])z.Clone();
                var reference = (float[])z.Clone();
                var generic = (float[])z.Clone();
                Elementwise.BiasActivation(fast, bias, rows, outputs, g);
                Elementwise.Reference.BiasActivation(reference, bias, rows, outputs, g);
                for (var r = 0; r < rows; r++)
                {
                    var row = generic.AsSpan(r * outputs, outputs);
                    System.Numerics.Tensors.TensorPrimitives.Add(row, bias, row);
                }

                if (g is { } h && generic.Length > 0)
                {
                    Mlp<float>.ApplyActivation(h, generic);
                }

                // the generic code path used before the fused kernel: bit for bit
                Assert.True(generic.AsSpan().SequenceEqual(fast), $"{g} rows={rows} out={outputs}: differs from the generic code");
                var diff = MaxDiff(reference, fast);
                worst = Math.Max(worst, diff);
                if (g is Activation.Sigmoid or Activation.Tanh)
                {
                    Assert.True(diff <= 2e-6, $"{g} rows={rows} out={outputs}: max diff {diff}");
                }
                else
                {
                    Assert.True(diff == 0, $"{g} rows={rows} out={outputs}: max diff {diff}");
                }
            }
        }

        output.WriteLine($"{g?.ToString() ?? "identity"}: max diff vs reference {worst:G3}");
    }

    [Theory]
    [MemberData(nameof(Hidden))]
    public void ActivationDerivative_matches_the_reference_bit_for_bit(Activation g)
    {
        var rng = new DeterministicRandom(22);
        for (var n = 0; n <= 70; n++)
        {
            var a = Values(rng, n, 1);
            if (n > 3)
            {
                a[1] = 0f; // g′(0) = 0 for relu, as in PyTorch
                a[2] = -0f;
            }

            var d = Values(rng, n, 2);
            var fast = (float[])d.Clone();
            var reference = (float[])d.Clone();
            var generic = (float[])d.Clone();
            Elementwise.ActivationDerivative(g, a, fast);
            Elementwise.Reference.ActivationDerivative(g, a, reference);
            Mlp<float>.ApplyActivationDerivative(g, a, generic);
            Assert.True(reference.AsSpan().SequenceEqual(fast), $"{g} n={n}: max diff {MaxDiff(reference, fast)}");
            Assert.True(generic.AsSpan().SequenceEqual(fast), $"{g} n={n}: differs from the generic code");
        }
    }

    [Fact]
    public void AccumulateBiasGradient_adds_rows_in_order_bit_for_bit()
    {
        var rng = new DeterministicRandom(23);
        for (var rows = 0; rows <= 9; rows++)
        {
            for (var outputs = 0; outputs <= 70; outputs++)
            {
                var dz = Values(rng, rows * outputs, 3);
                var db = Values(rng, outputs, 1);
                var fast = (float[])db.Clone();
                var reference = (float[])db.Clone();
                Elementwise.AccumulateBiasGradient(dz, fast, rows, outputs);
                Elementwise.Reference.AccumulateBiasGradient(dz, reference, rows, outputs);
                Assert.True(reference.AsSpan().SequenceEqual(fast), $"rows={rows} out={outputs}: max diff {MaxDiff(reference, fast)}");
            }
        }
    }

    [Fact]
    public void Bad_lengths_throw_naming_the_parameter()
    {
        var z = new float[12];
        var b = new float[4];
        Assert.Equal("z", Assert.Throws<ArgumentException>(() => Elementwise.BiasActivation(z.AsSpan(0, 11), b, 3, 4, Activation.Relu)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => Elementwise.BiasActivation(z, b.AsSpan(0, 3), 3, 4, Activation.Relu)).ParamName);
        Assert.Equal("dz", Assert.Throws<ArgumentException>(() => Elementwise.AccumulateBiasGradient(z.AsSpan(0, 11), b, 3, 4)).ParamName);
        Assert.Equal("db", Assert.Throws<ArgumentException>(() => Elementwise.AccumulateBiasGradient(z, new float[5], 3, 4)).ParamName);
        Assert.Equal("a", Assert.Throws<ArgumentException>(() => Elementwise.ActivationDerivative(Activation.Tanh, z.AsSpan(0, 11), z)).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentOutOfRangeException>(() => Elementwise.AccumulateBiasGradient(z, b, -1, 4)).ParamName);
    }

    private static float[] Values(DeterministicRandom rng, int n, double scale)
    {
        var v = new float[n];
        for (var i = 0; i < n; i++)
        {
            v[i] = (float)rng.NextDouble(-scale, scale);
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
