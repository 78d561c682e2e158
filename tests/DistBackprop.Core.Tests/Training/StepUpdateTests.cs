// The coordinator's fused, chunked, multi-threaded update (TrainingState.CompleteStep with a pool, from one weights buffer into the other)
// against the plain unfused sequence written out per element: the shard sums added along the reduction tree, ÷ B, then
// the torch.optim rule (MathChecks.ScalarOptimizer). Bit for bit, for every optimizer with and without weight decay,
// 1/2/3 threads, 1, 3 and 6 shards (6: a tree that differs from left to right),
// on a model of 17,620 parameters (three chunks, the last partial; chunk ends inside a weight tensor; tensors not
// multiples of the vector width). Also: the buffer a step read keeps its weights until the next step writes it, the
// divergence checks (gradient and weight) leave the last good weights, and zero allocation in steady state.
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Tests.MathChecks;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Training;

public class StepUpdateTests(ITestOutputHelper output)
{
    private static readonly ModelSpec Spec = new([301, 57, 7], Activation.Relu, LossKind.SoftmaxCrossEntropy);

    public static TheoryData<OptimizerKind, float, int, int> Cases()
    {
        var data = new TheoryData<OptimizerKind, float, int, int>();
        foreach (var kind in Enum.GetValues<OptimizerKind>())
        {
            foreach (var decay in new[] { 0f, 0.01f })
            {
                foreach (var threads in new[] { 1, 2, 3 })
                {
                    data.Add(kind, decay, threads, threads switch { 1 => 3, 2 => 1, _ => 6 });
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fused_update_is_bit_identical_to_the_unfused_sequence(OptimizerKind kind, float decay, int threads, int shards)
    {
        Assert.True(Spec.ParameterCount > 2 * StepUpdateChunk && Spec.ParameterCount % StepUpdateChunk != 0, "the model must span a partial third chunk");
        using var pool = new KernelPool(threads);
        const int batch = 12;
        var settings = new OptimizerSettings(kind, LearningRate: 0.05f, Momentum: 0.8f, WeightDecay: decay);
        var config = new TrainingConfig(Spec, settings, batch, Epochs: null, MaxSteps: 10, Seed: 1, Shuffle: false, Shards: shards);
        var initial = Initializer.Create(Spec, 5);
        var state = new TrainingState(config, 48, initial.ToArray()) { KeepMeanGradient = threads != 2 }; // both ways
        var reference = new Unfused(settings, Spec.Layout, initial.ToArray());
        var random = new Random(11);
        double maxDiff = 0;
        for (var t = 1; t <= 3; t++)
        {
            var plan = state.BeginStep();
            var sums = Enumerable.Range(0, shards).Select(s => RandomShard(random, plan.ShardIndices(s).Length)).ToArray();
            var read = state.Parameters;
            var readValues = read.ToArray();

            state.CompleteStep(sums, pool);
            reference.Step(sums, batch);

            for (var i = 0; i < Spec.ParameterCount; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(state.Parameters[i] - reference.Weights[i]));
            }

            if (state.KeepMeanGradient)
            {
                Assert.Equal(reference.Mean, state.LastMeanGradient.ToArray());
            }

            Assert.Equal(reference.Weights, state.Parameters);
            Assert.NotSame(read, state.Parameters); // the other buffer; the one this step was sent with is still intact
            Assert.Equal(readValues, read);
        }

        output.WriteLine($"{kind} λ={decay} threads={threads} S={shards}: max |fused − unfused| = {maxDiff:G3} over 3 steps");
        Assert.Equal(3, state.Optimizer.StepCount); // t advances once per step, not per chunk
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_non_finite_gradient_in_the_last_chunk_is_reported_and_leaves_the_last_good_weights(int threads)
    {
        using var pool = new KernelPool(threads);
        var state = NewState(OptimizerKind.Momentum, shards: 2);
        var current = state.Parameters;
        var before = state.Parameters.ToArray();
        var a = new GradientSum(Spec.ParameterCount) { Samples = 2 };
        var b = new GradientSum(Spec.ParameterCount) { Samples = 2 };
        a.Gradient[Spec.Layout.BiasOffset(1) + 3] = 3e38f; // finite in each shard, +∞ once summed
        b.Gradient[Spec.Layout.BiasOffset(1) + 3] = 3e38f;

        var e = Assert.Throws<TrainingDivergedException>(() => state.CompleteStep([a, b], pool));

        output.WriteLine(e.Message);
        Assert.StartsWith("training diverged at step 1: non-finite gradient in layers.1.bias (layer 1): ", e.Message, StringComparison.Ordinal);
        Assert.Same(current, state.Parameters);
        Assert.Equal(before, state.Parameters);
        Assert.Equal(0, state.Step); // (the optimizer's own state has moved on: a diverged run ends)
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void A_weight_that_overflows_in_the_step_is_reported_with_its_tensor(int threads)
    {
        using var pool = new KernelPool(threads);
        var state = NewState(OptimizerKind.Sgd, shards: 1, learningRate: 10f);
        var at = Spec.Layout.WeightOffset(0) + StepUpdateChunk + 5; // second chunk
        state.Parameters[at] = 3e38f;
        var before = state.Parameters.ToArray();
        var shard = new GradientSum(Spec.ParameterCount) { Samples = 4 };
        shard.Gradient[at] = -2e38f; // mean −5e37 (B = 4): w − 10·ḡ = 3e38 + 5e38 → +∞

        var e = Assert.Throws<TrainingDivergedException>(() => state.CompleteStep([shard], pool));

        output.WriteLine(e.Message);
        Assert.StartsWith("training diverged at step 1: non-finite weight in layers.0.weight (layer 0): ", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, state.Parameters); // the last good weights, not the half-updated ones
    }

    private static int StepUpdateChunk => 8192; // StepUpdate.ChunkLength (internal)

    private static TrainingState NewState(OptimizerKind kind, int shards, float learningRate = 0.1f)
    {
        var config = new TrainingConfig(Spec, new OptimizerSettings(kind, learningRate), BatchSize: 4, Epochs: 1, MaxSteps: null, Seed: 1, Shuffle: false, Shards: shards);
        return new TrainingState(config, 4, Initializer.Create(Spec, 2));
    }

    // gradient sums of varied sign and magnitude, so that the order of additions shows in the bits
    private static GradientSum RandomShard(Random random, int samples)
    {
        var sum = new GradientSum(Spec.ParameterCount) { Samples = samples, LossSum = samples * 0.5 };
        for (var i = 0; i < sum.Gradient.Length; i++)
        {
            sum.Gradient[i] = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-3, 3)));
        }

        return sum;
    }

    /// <summary>The unfused sequence, one element at a time: ḡ = value(root) / B (the tree written out: the largest power of
    /// two below a node's size goes left), then the optimizer rule.</summary>
    private sealed class Unfused(OptimizerSettings s, ParameterLayout layout, float[] weights)
    {
        private readonly float[] _first = new float[layout.Count];
        private readonly float[] _second = new float[layout.Count];
        private long _t;

        public float[] Weights { get; } = weights;

        public float[] Mean { get; } = new float[layout.Count];

        public void Step(GradientSum[] shards, int batch)
        {
            for (var i = 0; i < Mean.Length; i++)
            {
                Mean[i] = Sum(shards, 0, shards.Length, i) / batch;
            }

            _t++;
            ScalarOptimizer.Step(s, layout, _t, Weights, Mean, _first, _second);
        }

        private static float Sum(GradientSum[] shards, int a, int b, int i)
        {
            if (b - a == 1)
            {
                return shards[a].Gradient[i];
            }

            var m = a + 1;
            while (2 * (m - a) < b - a)
            {
                m = a + (2 * (m - a));
            }

            return Sum(shards, a, m, i) + Sum(shards, m, b, i);
        }
    }
}

/// <summary>The coordinator's update allocates nothing in steady state (runs alone: the process-wide counter sees every thread).</summary>
[Collection("AllocationTests")]
public class StepUpdateAllocationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 2, false)]
    [InlineData(2, 2, false)]
    [InlineData(2, 7, false)]
    [InlineData(2, 7, true)]
    public void Complete_step_with_a_pool_allocates_nothing(int threads, int shardCount, bool frontier)
    {
        using var pool = new KernelPool(threads);
        var spec = new ModelSpec([301, 57, 7], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var config = new TrainingConfig(spec, new OptimizerSettings(OptimizerKind.Adam, 1e-3f, WeightDecay: 0.01f), BatchSize: 2 * shardCount, Epochs: null,
            MaxSteps: null, Seed: 1, Shuffle: true, Shards: shardCount);
        var state = new TrainingState(config, 2 * shardCount * 1000, Initializer.Create(spec, 2)); // no epoch end (a reshuffle) inside the windows
        var shards = Enumerable.Range(0, shardCount).Select(s => new GradientSum(spec.ParameterCount) { Samples = 2 }).ToArray();
        for (var s = 0; s < shardCount; s++)
        {
            shards[s].Gradient.AsSpan().Fill(0.01f * (s % 2 == 0 ? 1 : -2));
        }

        // S = 7 as three partial sums ([0, 4) and [4, 6) pre-added the way an aggregator does, shard 6 alone), or the leaves
        var tree = state.Tree;
        PartialSum[] parts = [.. tree.Cut(3).Select(n => new PartialSum(n, new GradientSum(spec.ParameterCount)))];
        foreach (var (node, sum) in parts)
        {
            ShardReduction.SumSubtree([.. Enumerable.Range(node.Start, node.Count).Select(s => new PartialSum(Subtree.Leaf(s), shards[s]))], tree, node, sum, pool);
        }

        var firstLeaves = Enumerable.Range(0, parts[0].Node.Count).Select(s => new PartialSum(Subtree.Leaf(s), shards[s])).ToArray();
        void Step()
        {
            if (frontier)
            {
                ShardReduction.SumSubtree(firstLeaves, tree, parts[0].Node, parts[0].Sum, pool); // an aggregator's pre-add, counted too
                state.CompleteStep(parts, pool);
            }
            else
            {
                state.CompleteStep(shards, pool);
            }
        }

        for (var i = 0; i < 20; i++)
        {
            Step();
        }

        // three windows of 20 steps, the smallest counts (a stray allocation by the test runner cannot fail it, a per-step one would)
        long thread = long.MaxValue, total = long.MaxValue;
        for (var window = 0; window < 3; window++)
        {
            var thread0 = GC.GetAllocatedBytesForCurrentThread();
            var total0 = GC.GetTotalAllocatedBytes(true);
            for (var i = 0; i < 20; i++)
            {
                Step();
            }

            thread = Math.Min(thread, GC.GetAllocatedBytesForCurrentThread() - thread0);
            total = Math.Min(total, GC.GetTotalAllocatedBytes(true) - total0);
        }

        output.WriteLine($"threads={threads} S={shardCount} frontier={frontier}: this thread {thread} B, process {total} B over 20 steps");
        Assert.Equal(0, thread);
        Assert.True(total == 0, $"{total} bytes allocated process-wide over 20 steps");
    }
}
