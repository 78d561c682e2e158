// Early stopping as Keras' EarlyStopping(monitor="val_loss", patience=N, min_delta=0): the best value, the patience counter,
// NaN never improving; TrainingState finishing once the patience is used up; the state surviving a checkpoint; and a run with
// every training option on (schedule with warmup, clipping, dropout, label smoothing, early stopping) resumed from a checkpoint
// ending bit-identical to the uninterrupted one, early stop included.
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tests.Checkpoints;
using DistBackprop.Core.Training;

namespace DistBackprop.Core.Tests.Training;

public class EarlyStoppingTests
{
    [Fact]
    public void Stops_after_patience_epochs_without_a_lower_validation_loss()
    {
        var es = new EarlyStopping(patience: 3);
        double[] losses = [1.0, 0.9, 0.95, 0.9, 0.91, 0.5, 0.6, 0.7, double.NaN];
        var decisions = losses.Select((l, e) => es.Observe(e, l)).ToArray();
        Assert.Equal([true, true, false, false, false, true, false, false, false], decisions.Select(d => d.Improved));
        Assert.Equal([false, false, false, false, true, false, false, false, true], decisions.Select(d => d.Stop)); // 0.9 again is no improvement
        Assert.Equal(0.5, es.BestLoss);
        Assert.Equal(5, es.BestEpoch);
        Assert.Equal(3, es.EpochsWithoutImprovement);
    }

    [Fact]
    public void Without_patience_it_tracks_the_best_and_never_stops()
    {
        var es = new EarlyStopping(patience: null);
        for (var e = 0; e < 50; e++)
        {
            Assert.False(es.Observe(e, 1 + e).Stop);
        }

        Assert.Equal(0, es.BestEpoch);
        Assert.False(es.ShouldStop);
    }

    [Fact]
    public void The_state_round_trips_through_metadata_and_a_missing_state_is_the_fresh_one()
    {
        var es = new EarlyStopping(4);
        es.Observe(0, 0.7);
        es.Observe(1, 0.3);
        es.Observe(2, 0.31);
        var copy = new EarlyStopping(4);
        Assert.Null(copy.Restore(es.ToMetadata().ToDictionary()));
        Assert.Equal((0.3, 1, 1, 3), (copy.BestLoss, copy.BestEpoch, copy.EpochsWithoutImprovement, copy.Observed));
        Assert.Null(copy.Restore(new Dictionary<string, string>()));
        Assert.Equal((double.PositiveInfinity, -1, 0, 0), (copy.BestLoss, copy.BestEpoch, copy.EpochsWithoutImprovement, copy.Observed));
        var bad = es.ToMetadata().ToDictionary();
        bad["early_stop_best_loss"] = "lots";
        Assert.NotNull(copy.Restore(bad));
    }

    [Fact]
    public void Training_state_is_finished_once_the_patience_is_used_up()
    {
        var spec = new ModelSpec([3, 4, 2], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var config = new TrainingConfig(spec, new OptimizerSettings(), BatchSize: 2, Epochs: 100, EarlyStopPatience: 2);
        var state = new TrainingState(config, 4, Initializer.Create(spec, 1));
        state.ObserveValidation(0, 1.0);
        state.ObserveValidation(1, 1.1);
        Assert.False(state.IsFinished);
        state.ObserveValidation(2, 1.0);
        Assert.True(state.IsFinished);
        Assert.True(state.StoppedEarly);
        Assert.Throws<InvalidOperationException>(() => state.BeginStep());
    }

    [Theory]
    [InlineData(40)]  // mid-epoch 4, one epoch without improvement? (whatever the run's figures say: bit-identical either way)
    [InlineData(54)]  // an epoch end (9 steps per epoch)
    public void A_run_with_every_option_resumed_from_a_checkpoint_ends_bit_identical(int stopAfter)
    {
        var (train, validation) = ValidationSplit.Carve(MathChecks.MathAssert.Blobs(90, 4, 3, seed: 21), 0.2, seed: 5);
        var spec = new ModelSpec([4, 9, 7, 3], Activation.Relu, LossKind.SoftmaxCrossEntropy) { Regularization = new Regularization(0.25f, 0.1f, Seed: 5) };
        var config = new TrainingConfig(spec, new OptimizerSettings(OptimizerKind.Momentum, 0.5f, Momentum: 0.9f, WeightDecay: 0.01f), BatchSize: 8, Epochs: 40,
            Seed: 5, Shards: 3, Schedule: new LrSchedule(LrScheduleKind.Cosine, MinLr: 0.01, WarmupSteps: 12), ClipGradNorm: 0.5f, EarlyStopPatience: 2);
        var straight = Run(config, train, validation, Initializer.Create(spec, 5), null, int.MaxValue);
        Assert.True(straight.State.StoppedEarly, $"the run must stop early for the test to mean anything (stopped at step {straight.State.Step})");

        using var dir = new TempDirectory();
        var first = Run(config, train, validation, Initializer.Create(spec, 5), null, stopAfter);
        var point = CheckpointStore.LoadNewestValid(CheckpointStore.Save(dir.Path, first.State), spec);
        var resumed = Run(config, train, validation, new float[spec.ParameterCount], point, int.MaxValue);

        Assert.Equal(straight.State.Step, resumed.State.Step);
        Assert.Equal(straight.State.EarlyStopping.BestEpoch, resumed.State.EarlyStopping.BestEpoch);
        Assert.Equal(straight.State.EarlyStopping.BestLoss, resumed.State.EarlyStopping.BestLoss);
        TestParameters.AssertBitIdentical(straight.State.Parameters, resumed.State.Parameters);
    }

    /// <summary>The reference loop with the validation set evaluated at every epoch end (as the host does), up to <paramref name="steps"/> steps.</summary>
    private static ReferenceTrainer Run(TrainingConfig config, Dataset train, Dataset validation, float[] initial, ResumePoint? resume, int steps)
    {
        var trainer = new ReferenceTrainer(config, train, initial);
        if (resume is not null)
        {
            CheckpointStore.Apply(resume, trainer.State);
        }

        var evaluator = new Mlp<float>(config.Spec, 64);
        var all = Enumerable.Range(0, validation.Count).ToArray();
        for (var s = 0; s < steps && trainer.RunStep() is { } outcome; s++)
        {
            if (outcome.EpochCompleted)
            {
                var v = evaluator.Evaluate(trainer.State.Parameters, validation, all);
                trainer.State.ObserveValidation(outcome.Epoch, v.LossSum / v.Samples);
            }
        }

        return trainer;
    }
}
