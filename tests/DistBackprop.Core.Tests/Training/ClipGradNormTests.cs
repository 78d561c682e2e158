// Gradient clipping (TrainingState.CompleteStep with --clip-grad-norm, the two-pass StepUpdate) against torch's
// clip_grad_norm_ written out per element: n = ‖ḡ‖₂ over every weight and bias (float64), c = X/(n + 1e-6), ḡ ← ḡ·c when c < 1,
// then the optimizer (MathChecks.ScalarOptimizer, weight decay after the clip). Bit for bit, 1 and 3 threads, 1 and 3 shards; the
// reported norm is the pre-clip one; a bound above the norm changes no bit; the norm does not depend on the thread count; and
// the clipped step allocates nothing in steady state.
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Tests.MathChecks;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Training;

public class ClipGradNormTests(ITestOutputHelper output)
{
    private static readonly ModelSpec Spec = new([301, 57, 7], Activation.Relu, LossKind.SoftmaxCrossEntropy); // three update chunks

    [Theory]
    [InlineData(OptimizerKind.Sgd, 1, 1)]
    [InlineData(OptimizerKind.Momentum, 3, 3)]
    [InlineData(OptimizerKind.Adam, 3, 1)]
    [InlineData(OptimizerKind.Nesterov, 1, 3)]
    public void Clipping_matches_torch_clip_grad_norm_then_the_optimizer_bit_for_bit(OptimizerKind kind, int threads, int shards)
    {
        using var pool = new KernelPool(threads);
        const int batch = 12;
        var settings = new OptimizerSettings(kind, 0.05f, Momentum: 0.8f, WeightDecay: 0.01f);
        var config = new TrainingConfig(Spec, settings, batch, Epochs: null, MaxSteps: 10, Shuffle: false, Shards: shards, ClipGradNorm: 2.5f);
        var initial = Initializer.Create(Spec, 5);
        var state = new TrainingState(config, 48, initial.ToArray());
        var w = initial.ToArray();
        float[] first = new float[w.Length], second = new float[w.Length];
        var random = new Random(3);
        var clipped = 0;
        for (var t = 1; t <= 4; t++)
        {
            var plan = state.BeginStep();
            var scale = t % 2 == 0 ? 0.001 : 1.0; // odd steps clipped, even ones not
            var sums = Enumerable.Range(0, shards).Select(s => RandomShard(random, plan.ShardIndices(s).Length, scale)).ToArray();

            var outcome = state.CompleteStep(sums, pool);

            // torch: mean gradient, total_norm = ‖[‖g_p‖ for p]‖ = √(Σ ḡ²), clip_coef = max_norm / (total_norm + 1e-6), clamped to 1
            var mean = new float[w.Length];
            double squares = 0;
            for (var i = 0; i < mean.Length; i++)
            {
                var sum = sums[0].Gradient[i];
                for (var k = 1; k < shards; k++)
                {
                    sum += sums[k].Gradient[i];
                }

                mean[i] = sum / batch;
                squares += (double)mean[i] * mean[i];
            }

            var norm = Math.Sqrt(squares);
            var coefficient = 2.5 / (norm + 1e-6);
            if (coefficient < 1)
            {
                clipped++;
                for (var i = 0; i < mean.Length; i++)
                {
                    mean[i] *= (float)coefficient;
                }
            }

            ScalarOptimizer.Step(settings, Spec.Layout, t, w, mean, first, second);
            Assert.Equal(norm, outcome.GradNorm, norm * 1e-12);
            Assert.Equal(w, state.Parameters);
        }

        output.WriteLine($"{kind} threads={threads} S={shards}: 4 steps bit-identical, {clipped} clipped");
        Assert.Equal(2, clipped);
    }

    [Fact]
    public void A_bound_above_the_norm_changes_no_bit_and_the_norm_does_not_depend_on_threads()
    {
        var a = Run(clip: null, threads: 1);
        var b = Run(clip: 1e30f, threads: 3);
        var c = Run(clip: null, threads: 2);
        Assert.Equal(a.Weights, b.Weights);
        Assert.Equal(a.Weights, c.Weights);
        Assert.Equal(a.Norms, b.Norms); // the clipped (two-pass) and fused paths measure the same bits
        Assert.Equal(a.Norms, c.Norms);
        Assert.All(a.Norms, n => Assert.True(n > 0 && double.IsFinite(n)));
    }

    [Fact]
    public void After_clipping_the_mean_gradient_has_the_bound_as_its_norm()
    {
        var config = new TrainingConfig(Spec, new OptimizerSettings(OptimizerKind.Sgd, 0.1f), BatchSize: 4, Epochs: 1, Shuffle: false, ClipGradNorm: 0.5f);
        var state = new TrainingState(config, 4, Initializer.Create(Spec, 2)) { KeepMeanGradient = true };
        var outcome = state.CompleteStep([RandomShard(new Random(1), 4, 1)]);
        var after = Math.Sqrt(state.LastMeanGradient.ToArray().Sum(g => (double)g * g));
        output.WriteLine($"norm before {outcome.GradNorm:G6}, after {after:G6}");
        Assert.True(outcome.GradNorm > 0.5, $"norm {outcome.GradNorm}: the test needs a step that clips");
        Assert.Equal(0.5 * outcome.GradNorm / (outcome.GradNorm + 1e-6), after, 1e-6);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_clipped_step_allocates_nothing_on_this_thread(int threads)
    {
        using var pool = new KernelPool(threads);
        var schedule = new LrSchedule(LrScheduleKind.Cosine, WarmupSteps: 10);
        var config = new TrainingConfig(Spec, new OptimizerSettings(OptimizerKind.Momentum, 0.01f), BatchSize: 4, Epochs: null, MaxSteps: 1000,
            Shards: 2, Schedule: schedule, ClipGradNorm: 0.1f);
        var state = new TrainingState(config, 4 * 1000, Initializer.Create(Spec, 2));
        GradientSum[] shards = [RandomShard(new Random(1), 2, 1), RandomShard(new Random(2), 2, 1)];
        for (var i = 0; i < 20; i++)
        {
            state.CompleteStep(shards, pool);
        }

        var least = long.MaxValue;
        for (var window = 0; window < 3; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 20; i++)
            {
                state.CompleteStep(shards, pool);
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        output.WriteLine($"threads={threads}: {least} B over 20 clipped steps");
        Assert.Equal(0, least);
    }

    private static (float[] Weights, double[] Norms) Run(float? clip, int threads)
    {
        using var pool = new KernelPool(threads);
        var config = new TrainingConfig(Spec, new OptimizerSettings(OptimizerKind.Adam, 0.01f), BatchSize: 6, Epochs: null, MaxSteps: 5, Shuffle: false, Shards: 2, ClipGradNorm: clip);
        var state = new TrainingState(config, 60, Initializer.Create(Spec, 4));
        var random = new Random(9);
        var norms = new double[3];
        for (var t = 0; t < 3; t++)
        {
            norms[t] = state.CompleteStep([RandomShard(random, 3, 1), RandomShard(random, 3, 1)], pool).GradNorm;
        }

        return (state.Parameters.ToArray(), norms);
    }

    private static GradientSum RandomShard(Random random, int samples, double scale)
    {
        var sum = new GradientSum(Spec.ParameterCount) { Samples = samples, LossSum = samples * 0.5 };
        for (var i = 0; i < sum.Gradient.Length; i++)
        {
            sum.Gradient[i] = (float)(scale * (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-3, 2)));
        }

        return sum;
    }
}
