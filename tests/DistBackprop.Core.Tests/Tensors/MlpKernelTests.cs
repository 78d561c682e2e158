// Mlp<float> on the fast kernels: a whole shard's gradient is bit-identical on 1, 2 and 3 kernel
// threads (SPEC §3), and agrees with Mlp<double> (reference loops) within float tolerance for every
// hidden activation and loss.
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Tensors;

public sealed class MlpKernelTests(ITestOutputHelper output)
{
    public static TheoryData<Activation, LossKind> Cases => new()
    {
        { Activation.Relu, LossKind.SoftmaxCrossEntropy },
        { Activation.LeakyRelu, LossKind.Mse },
        { Activation.Sigmoid, LossKind.SigmoidCrossEntropy },
        { Activation.Tanh, LossKind.SoftmaxCrossEntropy },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float_gradient_is_bit_identical_across_threads_and_close_to_double(Activation hidden, LossKind loss)
    {
        var spec = new ModelSpec([67, 264, 81, 10], hidden, loss); // big enough for the pool to split (> Gemm.Blocked.MinParallelWork)
        var data = RandomData(spec.Inputs, spec.Outputs, 140);
        var parameters = Initializer.Create(spec, 4);
        var indices = Enumerable.Range(3, 131).ToArray(); // 131 rows in chunks of 60: uneven tiles and a short chunk

        Assert.True(60L * 264 * 67 >= Gemm.Blocked.MinParallelWork, "the shape no longer reaches the pool");
        float[]? first = null;
        ShardStats firstStats = default;
        foreach (var threads in new[] { 1, 2, 3 })
        {
            using var pool = new KernelPool(threads);
            var mlp = new Mlp<float>(spec, 60, pool);
            var gradient = new float[spec.ParameterCount];
            var stats = mlp.AccumulateGradient(parameters, gradient, data, indices);
            if (first is null)
            {
                first = gradient;
                firstStats = stats;
                continue;
            }

            Assert.True(first.AsSpan().SequenceEqual(gradient), $"threads={threads}: gradient differs from 1 thread");
            Assert.Equal(firstStats, stats);
        }

        var mlp64 = new Mlp<double>(spec, 60);
        var gradient64 = new double[spec.ParameterCount];
        double[] parameters64 = [.. parameters.Select(p => (double)p)];
        var stats64 = mlp64.AccumulateGradient(parameters64, gradient64, data, indices);
        double worst = 0, scale = gradient64.Max(Math.Abs);
        for (var i = 0; i < gradient64.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(first![i] - gradient64[i]));
        }

        output.WriteLine($"{hidden}/{loss}: max |g32 − g64| = {worst:G3}, max |g| = {scale:G3}");
        Assert.True(worst <= 1e-4 * scale, $"max diff {worst} > 1e-4 · {scale}");
        Assert.True(Math.Abs(firstStats.LossSum - stats64.LossSum) <= 1e-4 * Math.Abs(stats64.LossSum), $"loss {firstStats.LossSum} vs {stats64.LossSum}");
    }

    internal static Dataset RandomData(int features, int classes, int n)
    {
        var rng = new DeterministicRandom(5);
        var x = new float[n * features];
        var y = new int[n];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (float)rng.NextDouble(-1, 1);
        }

        for (var i = 0; i < n; i++)
        {
            y[i] = rng.NextInt(classes);
        }

        return new Dataset("random", x, y, features, classes);
    }
}
