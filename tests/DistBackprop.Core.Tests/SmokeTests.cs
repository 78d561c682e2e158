// A first end-to-end check of the core: a small MLP learns a separable problem with the reference trainer.
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Core.Tests;

public class SmokeTests
{
    [Fact]
    public void Reference_trainer_learns_two_blobs()
    {
        var rng = new DeterministicRandom(7);
        const int n = 400;
        var x = new float[n * 2];
        var y = new int[n];
        for (var i = 0; i < n; i++)
        {
            y[i] = i % 2;
            x[2 * i] = (float)(rng.NextGaussian() * 0.5 + (y[i] == 0 ? -1 : 1));
            x[(2 * i) + 1] = (float)(rng.NextGaussian() * 0.5);
        }

        var data = new Dataset("blobs", x, y, 2, 2);
        var spec = new ModelSpec([2, 8, 2], Activation.Tanh, LossKind.SoftmaxCrossEntropy);
        var config = new TrainingConfig(spec, new OptimizerSettings(LearningRate: 0.5f), BatchSize: 32, Epochs: 20, Shards: 3);
        var trainer = new ReferenceTrainer(config, data, Initializer.Create(spec, 1));
        StepOutcome last = default;
        trainer.Run(o => last = o);
        var mlp = new Mlp<float>(spec, 64);
        var stats = mlp.Evaluate(trainer.State.Parameters, data, Enumerable.Range(0, n).ToArray());
        Assert.True(stats.Correct > 0.95 * n, $"accuracy {stats.Correct}/{n}, last loss {last.Loss}");
        Assert.Equal(20 * 13, trainer.State.Step);
    }
}
