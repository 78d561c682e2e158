// TrainingState bookkeeping: batches per epoch (file order with --no-shuffle, the last one smaller),
// when a run ends (epochs, max steps, both), divergence, and the seeded shuffle.
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.MathChecks;

public class TrainingStateTests(ITestOutputHelper output)
{
    private static readonly ModelSpec Spec = new([3, 4, 2], Activation.Relu, LossKind.SoftmaxCrossEntropy);

    [Fact]
    public void Without_shuffle_batches_are_consecutive_slices_of_file_order_and_the_last_is_smaller()
    {
        var state = NewState(samples: 10, batch: 4, epochs: 2, maxSteps: null, shuffle: false, shards: 3);

        var plans = RunAll(state);

        Assert.Equal(6, state.TotalSteps);
        Assert.Equal(3, state.StepsPerEpoch);
        int[][] expected = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]];
        Assert.Equal(expected.Concat(expected).ToArray(), plans.Select(p => p.Rows).ToArray());
        Assert.Equal([0, 0, 0, 1, 1, 1], plans.Select(p => p.Epoch));
        Assert.Equal([1L, 2, 3, 4, 5, 6], plans.Select(p => p.Step));
        Assert.Equal([false, false, true, false, false, true], plans.Select(p => p.Outcome.EpochCompleted));
        Assert.Equal([4, 4, 2, 4, 4, 2], plans.Select(p => p.Outcome.Samples));
        Assert.True(state.IsFinished);
        Assert.Equal(6, state.Step);
        Assert.Equal(2, state.Epoch);
        Assert.Throws<InvalidOperationException>(() => state.BeginStep());
    }

    [Fact]
    public void Shards_of_a_step_are_contiguous_slices_of_its_batch_even_when_the_batch_is_smaller_than_S()
    {
        var state = NewState(samples: 6, batch: 4, epochs: 1, maxSteps: null, shuffle: false, shards: 3);
        var first = state.BeginStep();
        Assert.Equal([[0, 1], [2], [3]], Enumerable.Range(0, 3).Select(s => first.ShardIndices(s).ToArray()).ToArray());
        Complete(state, first);

        var last = state.BeginStep(); // 2 rows over 3 shards: one shard is empty
        Assert.Equal([[4], [5], []], Enumerable.Range(0, 3).Select(s => last.ShardIndices(s).ToArray()).ToArray());
        var outcome = Complete(state, last);
        Assert.True(outcome.EpochCompleted);
        Assert.True(state.IsFinished);
    }

    [Fact]
    public void Max_steps_alone_runs_across_epochs_until_the_step_count()
    {
        var state = NewState(samples: 10, batch: 4, epochs: null, maxSteps: 25, shuffle: true, shards: 2);

        var plans = RunAll(state);

        Assert.Equal(25, plans.Count);
        Assert.Equal(25, state.TotalSteps);
        Assert.Equal(8, plans[^1].Epoch); // 3 steps per epoch: step 25 is the first of epoch 8
        Assert.Equal(8, plans.Count(p => p.Outcome.EpochCompleted));
    }

    [Theory]
    [InlineData(2, 4L, 4)]   // max steps first
    [InlineData(1, 10L, 3)]  // epochs first
    [InlineData(2, 6L, 6)]   // both at once
    public void Epochs_and_max_steps_together_stop_at_whichever_comes_first(int epochs, long maxSteps, int expectedSteps)
    {
        var state = NewState(samples: 10, batch: 4, epochs: epochs, maxSteps: maxSteps, shuffle: true, shards: 1);

        var plans = RunAll(state);

        Assert.Equal(expectedSteps, plans.Count);
        Assert.Equal(expectedSteps, state.TotalSteps);
        Assert.True(state.IsFinished);
    }

    [Fact]
    public void Shuffle_is_a_permutation_each_epoch_and_differs_between_epochs()
    {
        var state = NewState(samples: 50, batch: 8, epochs: 3, maxSteps: null, shuffle: true, shards: 2);

        var plans = RunAll(state);

        var epochs = plans.GroupBy(p => p.Epoch).Select(g => g.SelectMany(p => p.Rows).ToArray()).ToArray();
        Assert.Equal(3, epochs.Length);
        foreach (var order in epochs)
        {
            Assert.Equal(Enumerable.Range(0, 50), order.Order());
            Assert.NotEqual(Enumerable.Range(0, 50), order);
        }

        Assert.NotEqual(epochs[0], epochs[1]);
        Assert.NotEqual(epochs[1], epochs[2]);

        // seeded: the same seed repeats the orders, another seed does not
        var again = RunAll(NewState(samples: 50, batch: 8, epochs: 3, maxSteps: null, shuffle: true, shards: 2));
        Assert.Equal(plans.Select(p => p.Rows), again.Select(p => p.Rows));
        var other = RunAll(NewState(samples: 50, batch: 8, epochs: 3, maxSteps: null, shuffle: true, shards: 2, seed: 2));
        Assert.NotEqual(plans.Select(p => p.Rows), other.Select(p => p.Rows));
    }

    [Fact]
    public void A_huge_learning_rate_diverges_naming_the_step_and_the_tensor()
    {
        var data = MathAssert.Blobs(64, 5, 3, seed: 2);
        var spec = new ModelSpec([5, 8, 3], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var config = new TrainingConfig(spec, new OptimizerSettings(OptimizerKind.Sgd, 1e30f), BatchSize: 16, Epochs: 5, Shards: 2);
        var trainer = new ReferenceTrainer(config, data, Initializer.Create(spec, 1));

        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());

        output.WriteLine(e.Message);
        Assert.InRange(e.Step, 1, trainer.State.Step + 1);
        Assert.Equal(trainer.State.Step + 1, e.Step);
        Assert.Contains($"step {e.Step}", e.Message, StringComparison.Ordinal);
        Assert.Matches(@"layers\.\d+\.(weight|bias)", e.Message);
    }

    [Fact]
    public void A_non_finite_gradient_is_reported_before_the_weights_change()
    {
        var state = NewState(samples: 4, batch: 4, epochs: 1, maxSteps: null, shuffle: false, shards: 1);
        var before = state.Parameters.ToArray();
        var plan = state.BeginStep();
        var shard = new GradientSum(Spec.ParameterCount) { Samples = 4 };
        shard.Gradient[Spec.Layout.BiasOffset(0) + 1] = float.NaN;

        var e = Assert.Throws<TrainingDivergedException>(() => state.CompleteStep([shard]));

        Assert.Equal(1, e.Step);
        Assert.Contains("layers.0.bias", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, state.Parameters);
        Assert.Equal(0, state.Step);
        Assert.Equal(plan.Indices.ToArray(), state.BeginStep().Indices.ToArray());
    }

    [Fact]
    public void A_non_finite_loss_with_a_finite_gradient_names_the_step_and_the_largest_weight_tensor()
    {
        var state = NewState(samples: 4, batch: 4, epochs: 1, maxSteps: null, shuffle: false, shards: 1);
        state.Parameters[Spec.Layout.WeightOffset(1) + 2] = 7e20f;
        var shard = new GradientSum(Spec.ParameterCount) { Samples = 4, LossSum = double.PositiveInfinity };

        var e = Assert.Throws<TrainingDivergedException>(() => state.CompleteStep([shard]));

        output.WriteLine(e.Message);
        Assert.Equal(1, e.Step);
        Assert.Contains("step 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("loss", e.Message, StringComparison.Ordinal);
        Assert.Contains("layers.1.weight", e.Message, StringComparison.Ordinal);
    }

    private static TrainingState NewState(int samples, int batch, int? epochs, long? maxSteps, bool shuffle, int shards, long seed = 1)
    {
        var config = new TrainingConfig(Spec, new OptimizerSettings(), batch, epochs, maxSteps, seed, shuffle, shards);
        return new TrainingState(config, samples, new float[Spec.ParameterCount]);
    }

    // completes a step with zero gradients and the right sample counts
    private static StepOutcome Complete(TrainingState state, StepPlan plan)
    {
        var shards = Enumerable.Range(0, plan.Shards)
            .Select(s => new GradientSum(Spec.ParameterCount) { Samples = plan.ShardIndices(s).Length })
            .ToArray();
        return state.CompleteStep(shards);
    }

    private static List<(long Step, int Epoch, int[] Rows, StepOutcome Outcome)> RunAll(TrainingState state)
    {
        var plans = new List<(long, int, int[], StepOutcome)>();
        while (!state.IsFinished)
        {
            var plan = state.BeginStep();
            var rows = plan.Indices.ToArray();
            plans.Add((plan.Step, plan.Epoch, rows, Complete(state, plan)));
            if (plans.Count > 1000)
            {
                throw new InvalidOperationException("runaway");
            }
        }

        return plans;
    }
}
