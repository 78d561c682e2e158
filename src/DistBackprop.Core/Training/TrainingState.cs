// The training loop's bookkeeping, shared by the reference trainer and the coordinator actor:
// which rows form the next global batch, and how shard results become a weight update.
//   1. BeginStep: the next B indices of this epoch's order (seeded shuffle, or file order).
//   2. Someone computes the S shard sums (ShardReduction.ShardRange gives each shard's rows).
//   3. CompleteStep: the shard sums added along the reduction tree (from the S leaves, or from any frontier of
//      subtree partial sums that nodes pre-added) ÷ B, finite check, ‖ḡ‖₂ (and clipping with --clip-grad-norm),
//      optimizer step with this step's learning rate (LrSchedule), finite check, advance (StepUpdate: one fused
//      pass — two when clipping — split over the caller's kernel threads, from the current weights buffer into the
//      other one; the two swap roles after a good step, so a bad one leaves the weights as they were).
//   4. Between steps, whoever evaluates the validation set tells EarlyStopping; once its patience is used up the run
//      is finished (IsFinished), so the coordinator ends after the epoch's last step like at the end of the run.
// Leaves out: who computes the shards (a loop here, actors in DistBackprop.Cluster) and the validation loss.
using System.Numerics.Tensors;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Training;

/// <summary>
/// Everything that decides the weights of a run (SPEC §3): with equal configs and data, equal results. <paramref name="Schedule"/>:
/// the learning rate of each step (null = --lr throughout); <paramref name="ClipGradNorm"/>: torch's clip_grad_norm_ on the mean
/// gradient (null = off); <paramref name="EarlyStopPatience"/>: epochs without a better validation loss before the run stops (null = never).
/// Dropout and label smoothing are part of the model: <see cref="ModelSpec.Regularization"/>.
/// </summary>
public sealed record TrainingConfig(
    ModelSpec Spec,
    OptimizerSettings Optimizer,
    int BatchSize = 64,
    int? Epochs = 10,
    long? MaxSteps = null,
    long Seed = 1,
    bool Shuffle = true,
    int Shards = 1,
    LrSchedule? Schedule = null,
    float? ClipGradNorm = null,
    int? EarlyStopPatience = null)
{
    /// <summary>The schedule in force (constant when none was given).</summary>
    public LrSchedule LrSchedule => Schedule ?? LrSchedule.Constant;

    /// <summary>Checks the values that do not depend on data; returns a message naming the option, or null.</summary>
    public string? Validate()
    {
        if (BatchSize < 1)
        {
            return $"--batch must be at least 1 (got {BatchSize})";
        }

        if (Epochs is < 1)
        {
            return $"--epochs must be at least 1 (got {Epochs})";
        }

        if (MaxSteps is < 1)
        {
            return $"--max-steps must be at least 1 (got {MaxSteps})";
        }

        if (Shards < 1)
        {
            return $"--shards must be at least 1 (got {Shards})";
        }

        if (!(Optimizer.LearningRate >= 0) || float.IsInfinity(Optimizer.LearningRate))
        {
            return $"--lr must be a finite number ≥ 0 (got {Optimizer.LearningRate})";
        }

        if (!(Optimizer.WeightDecay >= 0))
        {
            return $"--weight-decay must be ≥ 0 (got {Optimizer.WeightDecay})";
        }

        if (!(Optimizer.Momentum >= 0 && Optimizer.Momentum < 1))
        {
            return $"--momentum must be in [0, 1) (got {Optimizer.Momentum})";
        }

        if (ClipGradNorm is float clip && !(clip > 0 && float.IsFinite(clip)))
        {
            return $"--clip-grad-norm must be a finite number > 0 (got {clip})";
        }

        if (EarlyStopPatience is < 1)
        {
            return $"--early-stop must be at least 1 (got {EarlyStopPatience})";
        }

        return Spec.Regularization.Validate(Spec.Loss) ?? LrSchedule.Validate(Epochs is null && MaxSteps is null ? long.MaxValue : null);
    }

    /// <summary>
    /// The checks that need the run's length (the cosine schedule's T, warmup shorter than the run): <paramref name="sampleCount"/>
    /// training rows give <see cref="TotalSteps"/>. A message naming the options, or null.
    /// </summary>
    public string? Validate(int sampleCount) => Validate() ?? LrSchedule.Validate(TotalSteps(sampleCount));

    /// <summary>Steps of a run over <paramref name="sampleCount"/> rows: epochs × ⌈rows / B⌉, cut by --max-steps; long.MaxValue when unbounded.</summary>
    public long TotalSteps(int sampleCount)
    {
        var stepsPerEpoch = (sampleCount + (long)BatchSize - 1) / BatchSize;
        var byEpochs = Epochs is int e ? e * stepsPerEpoch : long.MaxValue;
        return Math.Min(byEpochs, MaxSteps ?? long.MaxValue);
    }
}

/// <summary>The rows of one global batch. <see cref="Indices"/> stays valid until the next BeginStep.</summary>
public readonly record struct StepPlan(long Step, int Epoch, ReadOnlyMemory<int> Indices, int Shards)
{
    public int BatchSize => Indices.Length;

    /// <summary>The rows of shard <paramref name="shard"/> (contiguous in the batch).</summary>
    public ReadOnlyMemory<int> ShardIndices(int shard)
    {
        var (start, length) = ShardReduction.ShardRange(Indices.Length, Shards, shard);
        return Indices.Slice(start, length);
    }

    /// <summary>The rows of the shards of <paramref name="node"/> (contiguous in the batch): what a pre-added partial sum covers.</summary>
    public ReadOnlyMemory<int> SubtreeIndices(Subtree node)
    {
        var (start, length) = ShardReduction.SubtreeRange(Indices.Length, Shards, node);
        return Indices.Slice(start, length);
    }
}

/// <summary>
/// What a completed step measured. Loss is the mean over the batch; epochs are 0-based. <paramref name="LearningRate"/> is the rate this
/// step's update used (lr_t); <paramref name="GradNorm"/> ‖ḡ‖₂ of its mean gradient over all parameters, before clipping (NaN: not known).
/// </summary>
public readonly record struct StepOutcome(long Step, int Epoch, double Loss, double Accuracy, int Samples, bool EpochCompleted,
    double LearningRate = double.NaN, double GradNorm = double.NaN);

/// <summary>Training stopped on a non-finite loss, gradient or weight (exit code 3).</summary>
public sealed class TrainingDivergedException : Exception
{
    public TrainingDivergedException(long step, string detail)
        : base($"training diverged at step {step}: {detail}") => (Step, Detail) = (step, detail);

    public long Step { get; }

    /// <summary>What diverged, without the "training diverged at step N: " prefix.</summary>
    public string Detail { get; }
}

/// <summary>Order of the rows in an epoch: identity, or a Fisher–Yates shuffle seeded by (seed, epoch).</summary>
public static class EpochOrder
{
    public const ulong Stream = 0x73687566; // "shuf"

    public static void Fill(long seed, int epoch, bool shuffle, Span<int> order)
    {
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        if (shuffle)
        {
            DeterministicRandom.For(seed, Stream, (ulong)epoch).Shuffle(order);
        }
    }
}

/// <summary>Parameters, optimizer and data position of a run. Single-threaded: one owner.</summary>
public sealed class TrainingState
{
    private readonly int[] _order;
    private readonly float[] _meanGradient;
    private readonly StepUpdate _update;
    private readonly float[][] _weights; // [2]: the current weights and where the next step writes its new ones
    private readonly PartialSum[] _leaves; // the S leaves of a step whose shard sums come on their own (refilled per step)
    private int _current;

    public TrainingState(TrainingConfig config, int sampleCount, float[] initialParameters)
    {
        Config = config ?? throw new ArgumentNullException(nameof(config));
        ArgumentNullException.ThrowIfNull(initialParameters);
        ArgumentOutOfRangeException.ThrowIfLessThan(sampleCount, 1);
        if (initialParameters.Length != config.Spec.ParameterCount)
        {
            throw new ArgumentException($"{initialParameters.Length} initial parameters, the model has {config.Spec.ParameterCount}", nameof(initialParameters));
        }

        SampleCount = sampleCount;
        _weights = [initialParameters, new float[initialParameters.Length]];
        Optimizer = new Optimizer(config.Optimizer, config.Spec.Layout);
        _order = new int[sampleCount];
        _meanGradient = new float[config.Spec.ParameterCount];
        EpochOrder.Fill(config.Seed, 0, config.Shuffle, _order);
        _update = new StepUpdate(_meanGradient, Optimizer);
        Tree = new ReductionTree(config.Shards);
        _leaves = new PartialSum[config.Shards];
        EarlyStopping = new EarlyStopping(config.EarlyStopPatience);
    }

    /// <summary>The reduction tree of this run's S shards: the order in which shard sums are added.</summary>
    public ReductionTree Tree { get; }

    public TrainingConfig Config { get; }

    public int SampleCount { get; }

    /// <summary>
    /// The current weights (flat, ParameterLayout order). One of two buffers that CompleteStep alternates between: read
    /// the property again after a step rather than keeping the array. The buffer of the weights after step t is not
    /// written again before step t + 2 completes (the coordinator sends it while step t + 1 runs). Before the first
    /// step it is the array given to the constructor.
    /// </summary>
    public float[] Parameters => _weights[_current];

    public Optimizer Optimizer { get; }

    /// <summary>The best validation loss and the patience counter; tell it every epoch's validation loss (<see cref="ObserveValidation"/>).</summary>
    public EarlyStopping EarlyStopping { get; }

    /// <summary>Steps completed so far.</summary>
    public long Step { get; private set; }

    /// <summary>The epoch in progress (0-based).</summary>
    public int Epoch { get; private set; }

    /// <summary>Rows of the current epoch already trained on.</summary>
    public int Position { get; private set; }

    /// <summary>
    /// Keep the mean gradient of each step for <see cref="LastMeanGradient"/> (tests, diagnostics): one more pass over
    /// memory per step, so off by default.
    /// </summary>
    public bool KeepMeanGradient
    {
        get => _update.KeepMeanGradient;
        set => _update.KeepMeanGradient = value;
    }

    /// <summary>The mean gradient of the last completed step (after clipping); only with <see cref="KeepMeanGradient"/>.</summary>
    public ReadOnlySpan<float> LastMeanGradient => KeepMeanGradient
        ? _meanGradient
        : throw new InvalidOperationException("the mean gradient is kept only with KeepMeanGradient = true");

    public int StepsPerEpoch => (SampleCount + Config.BatchSize - 1) / Config.BatchSize;

    /// <summary>The total number of steps this run will take (unless early stopping ends it sooner); long.MaxValue when unbounded.</summary>
    public long TotalSteps => Config.TotalSteps(SampleCount);

    /// <summary>The run is over: all its steps are done, or early stopping used up its patience (at an epoch end).</summary>
    public bool IsFinished => Step >= TotalSteps || EarlyStopping.ShouldStop;

    /// <summary>Early stopping ended the run before its last step.</summary>
    public bool StoppedEarly => EarlyStopping.ShouldStop && Step < TotalSteps;

    /// <summary>The learning rate the next step will use (lr_t for t = <see cref="Step"/>).</summary>
    public float NextLearningRate => Config.LrSchedule.Rate(Config.Optimizer.LearningRate, Step, TotalSteps);

    /// <summary>The validation loss at the end of 0-based epoch <paramref name="epoch"/> (call it between steps): updates the best value and
    /// the patience counter; when the patience is used up, <see cref="IsFinished"/> becomes true.</summary>
    public EarlyStopDecision ObserveValidation(int epoch, double loss) => EarlyStopping.Observe(epoch, loss);

    /// <summary>The rows of the next step. Calling it twice without CompleteStep returns the same plan.</summary>
    public StepPlan BeginStep()
    {
        if (IsFinished)
        {
            throw new InvalidOperationException("training is finished");
        }

        var length = Math.Min(Config.BatchSize, SampleCount - Position);
        return new StepPlan(Step + 1, Epoch, _order.AsMemory(Position, length), Config.Shards);
    }

    /// <summary>Reduces the shard sums (index = shard) along the tree, checks them, applies the optimizer and advances.</summary>
    public StepOutcome CompleteStep(IReadOnlyList<GradientSum> shardsInOrder) => CompleteStep(shardsInOrder, KernelPool.Single);

    /// <summary>
    /// As <see cref="CompleteStep(IReadOnlyList{GradientSum})"/>, with the update split over <paramref name="pool"/>'s
    /// threads (same bits for any count). The new weights go into the other buffer, which <see cref="Parameters"/>
    /// returns from then on; on divergence (<see cref="TrainingDivergedException"/>) it still returns the last good ones.
    /// </summary>
    public StepOutcome CompleteStep(IReadOnlyList<GradientSum> shardsInOrder, KernelPool pool)
    {
        ArgumentNullException.ThrowIfNull(shardsInOrder);
        if (shardsInOrder.Count != Config.Shards)
        {
            throw new ArgumentException($"expected {Config.Shards} shard results, got {shardsInOrder.Count}", nameof(shardsInOrder));
        }

        for (var s = 0; s < _leaves.Length; s++)
        {
            _leaves[s] = new PartialSum(Subtree.Leaf(s), shardsInOrder[s]);
        }

        try
        {
            return CompleteStep(_leaves, pool);
        }
        finally
        {
            Array.Clear(_leaves); // hold no caller's buffer past the step
        }
    }

    /// <summary>
    /// Completes the step from a frontier of <see cref="Tree"/>: partial sums of whole subtrees that tile [0, S) in shard
    /// order (the S leaves, the root alone, or anything between, e.g. one partial sum per aggregating child). The weights
    /// are bit-identical to completing it from the S shard sums. Otherwise as
    /// <see cref="CompleteStep(IReadOnlyList{GradientSum}, KernelPool)"/>; the frontier's buffers are only read.
    /// </summary>
    public StepOutcome CompleteStep(IReadOnlyList<PartialSum> frontier, KernelPool pool)
    {
        ArgumentNullException.ThrowIfNull(frontier);
        ArgumentNullException.ThrowIfNull(pool);
        var plan = BeginStep();
        var (lossSum, samples, correct) = ShardReduction.Totals(frontier, Tree, Tree.Root, plan.BatchSize, _meanGradient.Length);
        if (samples != plan.BatchSize)
        {
            throw new InvalidOperationException($"step {plan.Step}: shards covered {samples} samples, the batch has {plan.BatchSize}");
        }

        var loss = lossSum / plan.BatchSize;
        if (!double.IsFinite(loss))
        {
            throw new TrainingDivergedException(plan.Step, $"the loss is {loss} ({LargestWeight()})");
        }

        // the fused pass: mean gradient, its norm (clipping), optimizer step into the other buffer, finite checks on both
        var next = _weights[1 - _current];
        var lr = NextLearningRate;
        var (bad, gradNorm, _) = _update.Run(pool, frontier, Tree, plan.BatchSize, Parameters, next, lr, Config.ClipGradNorm);
        if ((bad & NonFinite.Gradient) != 0) // not HasFlag: unoptimised (tier-0) code boxes its arguments
        {
            // whole, to name the layer tensor where it broke (chunk by chunk, with this thread's scratch)
            for (var start = 0; start < _meanGradient.Length; start += StepUpdate.ChunkLength)
            {
                var length = Math.Min(StepUpdate.ChunkLength, _meanGradient.Length - start);
                ShardReduction.ReduceRange(frontier, Tree.Root, plan.BatchSize, start, _meanGradient.AsSpan(start, length), ShardReduction.ThreadScratch(Tree.Depth * length));
            }

            CheckFinite(plan.Step, _meanGradient, "gradient");
        }

        if ((bad & NonFinite.Weight) != 0)
        {
            CheckFinite(plan.Step, next, "weight");
        }

        _current = 1 - _current;
        Step++;
        Position += plan.BatchSize;
        var epochDone = Position >= SampleCount;
        var epoch = Epoch;
        if (epochDone)
        {
            Epoch++;
            Position = 0;
            EpochOrder.Fill(Config.Seed, Epoch, Config.Shuffle, _order);
        }

        return new StepOutcome(plan.Step, epoch, loss, (double)correct / plan.BatchSize, plan.BatchSize, epochDone, lr, gradNorm);
    }

    /// <summary>Continues a run from a checkpoint: parameters and optimizer state already restored by the caller.</summary>
    public void RestorePosition(long step, int epoch, int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (position < 0 || position >= SampleCount)
        {
            throw new ArgumentOutOfRangeException(nameof(position), position, $"must be in [0, {SampleCount})");
        }

        Step = step;
        Epoch = epoch;
        Position = position;
        EpochOrder.Fill(Config.Seed, Epoch, Config.Shuffle, _order);
    }

    private void CheckFinite(long step, ReadOnlySpan<float> values, string what)
    {
        if (HasNonFinite(values))
        {
            var layout = Config.Spec.Layout;
            for (var l = 0; l < layout.LayerCount; l++)
            {
                Report(values.Slice(layout.WeightOffset(l), layout.WeightLength(l)), ParameterLayout.WeightName(l), l);
                Report(values.Slice(layout.BiasOffset(l), layout.BiasLength(l)), ParameterLayout.BiasName(l), l);
            }
        }

        void Report(ReadOnlySpan<float> slice, string name, int layer)
        {
            for (var i = 0; i < slice.Length; i++)
            {
                if (!float.IsFinite(slice[i]))
                {
                    throw new TrainingDivergedException(step, $"non-finite {what} in {name} (layer {layer}): {slice[i]}");
                }
            }
        }
    }

    /// <summary>"largest |weight| 3.1E+30 in layers.0.weight": where the loss most likely blew up.</summary>
    private string LargestWeight()
    {
        var layout = Config.Spec.Layout;
        var (max, at) = (0f, 0);
        for (var l = 0; l < layout.LayerCount; l++)
        {
            foreach (var w in layout.Weight<float>(Parameters, l))
            {
                (max, at) = MathF.Abs(w) > max ? (MathF.Abs(w), l) : (max, at);
            }
        }

        return $"largest |weight| {max:G3} in {ParameterLayout.WeightName(at)}";
    }

    private static bool HasNonFinite(ReadOnlySpan<float> values) => !TensorPrimitives.IsFiniteAll(values);
}
