// One full training step of ReferenceTrainer (float32, 3 uneven shards) against the scalar
// double oracle: the mean gradient and the weights after W ← W − α·∂J/∂W.
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.MathChecks;

public class TrainingStepOracleTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(Activation.Relu, LossKind.SoftmaxCrossEntropy, 3)]
    [InlineData(Activation.Sigmoid, LossKind.SigmoidCrossEntropy, 3)]
    [InlineData(Activation.Tanh, LossKind.Mse, 3)]
    [InlineData(Activation.Sigmoid, LossKind.SigmoidCrossEntropy, 1)]
    public void One_step_matches_the_scalar_oracle(Activation hidden, LossKind loss, int outputs)
    {
        var data = MathAssert.Blobs(40, 6, System.Math.Max(outputs, 2), seed: 21);
        var spec = new ModelSpec([6, 8, 5, outputs], hidden, loss);
        var initial = Initializer.Create(spec, 4);
        var settings = new OptimizerSettings(OptimizerKind.Sgd, LearningRate: 0.5f);
        var config = new TrainingConfig(spec, settings, BatchSize: 11, Epochs: null, MaxSteps: 1, Seed: 9, Shuffle: true, Shards: 3);
        var trainer = new ReferenceTrainer(config, data, (float[])initial.Clone());
        trainer.State.KeepMeanGradient = true;
        var rows = trainer.State.BeginStep().Indices.ToArray();

        var outcome = trainer.RunStep();

        var theta = initial.Select(v => (double)v).ToArray();
        var (gradient, expectedLoss) = new ScalarMlp(spec).Gradient(theta, data, rows);
        var lr = (double)settings.LearningRate;
        var expectedWeights = theta.Select((w, i) => w - (lr * gradient[i])).ToArray();

        Assert.NotNull(outcome);
        var gradError = MathAssert.Close(trainer.State.LastMeanGradient, gradient, 1e-5, "mean gradient");
        var weightError = MathAssert.Close(trainer.State.Parameters, expectedWeights, 1e-5, "weights after the step");
        var update = theta.Select((w, i) => trainer.State.Parameters[i] - w).ToArray();
        var updateError = MathAssert.ScaledError(update.Select(v => (float)v).ToArray(), gradient.Select(g => -lr * g).ToArray());
        output.WriteLine($"{spec}: gradient {gradError:E2}, weights {weightError:E2}, update {updateError:E2}, loss {outcome.Value.Loss} vs {expectedLoss}");
        Assert.True(updateError < 1e-4, $"update scaled error {updateError:E3}");
        Assert.Equal(expectedLoss, outcome.Value.Loss, 1e-5 * System.Math.Max(1, expectedLoss));
    }
}
