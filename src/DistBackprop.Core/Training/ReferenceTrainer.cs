// The plain training loop with no actors: computes the S shards of each step one after another
// with one Mlp, then completes the step through TrainingState. The ground truth that the actor
// trainer must match bit for bit with the same S (SPEC §3).
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Training;

public sealed class ReferenceTrainer
{
    private readonly Dataset _train;
    private readonly Mlp<float> _mlp;
    private readonly GradientSum[] _shards;
    private readonly KernelPool _pool;

    public ReferenceTrainer(TrainingConfig config, Dataset train, float[] initialParameters, KernelPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        _train = train ?? throw new ArgumentNullException(nameof(train));
        State = new TrainingState(config, train.Count, initialParameters);
        var maxShard = (config.BatchSize + config.Shards - 1) / config.Shards;
        _mlp = new Mlp<float>(config.Spec, Math.Max(1, maxShard), pool);
        _pool = pool ?? KernelPool.Single; // also splits the coordinator's update: the shards are done by then
        _shards = new GradientSum[config.Shards];
        for (var s = 0; s < _shards.Length; s++)
        {
            _shards[s] = new GradientSum(config.Spec.ParameterCount);
        }
    }

    public TrainingState State { get; }

    /// <summary>Runs one step; returns null when training is finished.</summary>
    public StepOutcome? RunStep()
    {
        if (State.IsFinished)
        {
            return null;
        }

        var plan = State.BeginStep();
        for (var s = 0; s < _shards.Length; s++)
        {
            ComputeShard(_mlp, State.Parameters, _train, plan.ShardIndices(s).Span, _shards[s], plan.Step);
        }

        return State.CompleteStep(_shards, _pool);
    }

    /// <summary>Runs to the end, calling <paramref name="onStep"/> after every step.</summary>
    public void Run(Action<StepOutcome>? onStep = null, CancellationToken cancellation = default)
    {
        while (!cancellation.IsCancellationRequested && RunStep() is { } outcome)
        {
            onStep?.Invoke(outcome);
        }
    }

    /// <summary>One shard's sum, computed whole: the same call a worker makes. Dropout masks as for step 1.</summary>
    public static void ComputeShard(Mlp<float> mlp, ReadOnlySpan<float> parameters, Dataset data, ReadOnlySpan<int> indices, GradientSum into) =>
        ComputeShard(mlp, parameters, data, indices, into, step: 1, default(NoLayerDone));

    /// <summary>One shard's sum for step <paramref name="step"/> (1-based, as StepPlan.Step and the round protocol number it; it keys the
    /// dropout masks, drawn for the 0-based optimizer-step index t = step − 1).</summary>
    public static void ComputeShard(Mlp<float> mlp, ReadOnlySpan<float> parameters, Dataset data, ReadOnlySpan<int> indices, GradientSum into, long step) =>
        ComputeShard(mlp, parameters, data, indices, into, step, default(NoLayerDone));

    /// <summary>One shard's sum (overwriting <paramref name="into"/>), telling <paramref name="done"/> each layer as soon as its part is final.
    /// Dropout masks as for step 1.</summary>
    public static void ComputeShard<TDone>(Mlp<float> mlp, ReadOnlySpan<float> parameters, Dataset data, ReadOnlySpan<int> indices, GradientSum into, TDone done)
        where TDone : ILayerDone => ComputeShard(mlp, parameters, data, indices, into, step: 1, done);

    /// <summary>One shard's sum for step <paramref name="step"/> (1-based, see above), telling <paramref name="done"/> each layer as soon as
    /// its part is final.</summary>
    public static void ComputeShard<TDone>(Mlp<float> mlp, ReadOnlySpan<float> parameters, Dataset data, ReadOnlySpan<int> indices, GradientSum into, long step, TDone done)
        where TDone : ILayerDone
    {
        ArgumentNullException.ThrowIfNull(mlp);
        ArgumentNullException.ThrowIfNull(into);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        var stats = mlp.ComputeGradient(parameters, into.Gradient, data, indices, step - 1, done);
        into.LossSum = stats.LossSum;
        into.Samples = stats.Samples;
        into.Correct = stats.Correct;
    }
}
