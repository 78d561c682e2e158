// SPEC §3 at the level of the reference loop: the weights depend only on seed, data,
// hyperparameters and S — bit for bit for equal S (also across kernel thread counts), and
// within ‖w₁ − w₂‖/‖w₁‖ ≤ 1e-5 across S after 100 plain SGD steps.
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.MathChecks;

public class DeterminismTests(ITestOutputHelper output)
{
    private static readonly Dataset Data = MathAssert.Blobs(150, 12, 4, seed: 33);

    [Fact]
    public void The_same_seed_gives_bit_identical_weights_after_30_steps()
    {
        var spec = new ModelSpec([12, 16, 8, 4], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var config = new TrainingConfig(spec, new OptimizerSettings(OptimizerKind.Adam, 0.01f, WeightDecay: 1e-3f), BatchSize: 32, Epochs: null, MaxSteps: 30, Seed: 17, Shards: 3);

        var a = Train(config, KernelPool.Single);
        var b = Train(config, KernelPool.Single);
        var other = Train(config with { Seed = 18 }, KernelPool.Single);

        AssertBitIdentical(a, b);
        Assert.False(a.AsSpan().SequenceEqual(other), "a different seed should give different weights");
    }

    [Fact]
    public void One_and_two_kernel_threads_give_bit_identical_weights()
    {
        // wide enough that a threaded kernel has work to split
        var spec = new ModelSpec([12, 96, 64, 4], Activation.Tanh, LossKind.SoftmaxCrossEntropy);
        var config = new TrainingConfig(spec, new OptimizerSettings(OptimizerKind.Momentum, 0.05f), BatchSize: 48, Epochs: null, MaxSteps: 30, Seed: 3, Shards: 2);
        using var two = new KernelPool(2);

        var a = Train(config, new KernelPool(1));
        var b = Train(config, two);

        AssertBitIdentical(a, b);
    }

    [Fact]
    public void Different_shard_counts_agree_within_float_tolerance_and_equal_counts_bit_for_bit()
    {
        var spec = new ModelSpec([12, 16, 4], Activation.Sigmoid, LossKind.SoftmaxCrossEntropy);
        TrainingConfig Config(int shards) =>
            new(spec, new OptimizerSettings(OptimizerKind.Sgd, 0.2f), BatchSize: 30, Epochs: null, MaxSteps: 100, Seed: 5, Shards: shards);

        var one = Train(Config(1), KernelPool.Single);
        double worst = 0;
        for (var s = 2; s <= 4; s++)
        {
            var w = Train(Config(s), KernelPool.Single);
            AssertBitIdentical(w, Train(Config(s), KernelPool.Single));

            // ‖w₁ − w_S‖ / ‖w₁‖ over all parameters
            double diff = 0, norm = 0;
            for (var i = 0; i < w.Length; i++)
            {
                diff += (double)(w[i] - one[i]) * (w[i] - one[i]);
                norm += (double)one[i] * one[i];
            }

            var rel = System.Math.Sqrt(diff / norm);
            output.WriteLine($"S = {s}: ‖w₁ − w_S‖/‖w₁‖ = {rel:E3}");
            Assert.True(rel <= 1e-5, $"S = {s}: relative distance {rel:E3} > 1e-5");
            worst = System.Math.Max(worst, rel);
        }

        Assert.True(worst > 0, "different S should differ in the last bits (else this test checks nothing)");
    }

    private static float[] Train(TrainingConfig config, KernelPool pool)
    {
        var trainer = new ReferenceTrainer(config, Data, Initializer.Create(config.Spec, config.Seed), pool);
        trainer.Run();
        Assert.True(trainer.State.IsFinished);
        return trainer.State.Parameters;
    }

    private static void AssertBitIdentical(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        for (var i = 0; i < a.Length; i++)
        {
            var (x, y) = (BitConverter.SingleToInt32Bits(a[i]), BitConverter.SingleToInt32Bits(b[i]));
            Assert.True(x == y, $"parameter {i}: {a[i]:R} vs {b[i]:R} (first difference)");
        }
    }
}
