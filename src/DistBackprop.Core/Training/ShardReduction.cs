// The only place that says how shard results combine (SPEC §3): the S shard sums are added along the fixed
// reduction tree (ReductionTree: its shape depends only on S), never in arrival order, and the root's value is
// divided by the global batch size B, so uneven shards weigh right and nothing depends on who computed what:
//   mean = value([0, S)) / B,   value([a, b)) = value([a, m)) + value([m, b)),   value([a, a + 1)) = g_a
// The additions can start from any frontier (whole-subtree partial sums that tile [0, S) in shard order): a node
// that pre-added a subtree (SumSubtree) gives the value that subtree has inside the full tree, bit for bit, since
// every element goes through the same float additions in the same association. The loss sums (double) follow the
// same tree; samples and correct counts are integers, exact in any order.
// Leaves out: the optimizer and the fused pass over the weights (StepUpdate), who holds which subtree.
using System.Numerics.Tensors;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Training;

/// <summary>Shard sums (or subtree partial sums) → the mean gradient of the global batch.</summary>
public static class ShardReduction
{
    /// <summary>Floats per chunk of <see cref="SumSubtree"/>'s pass (the same as the coordinator's update pass).</summary>
    internal const int ChunkLength = 8192;

    [ThreadStatic]
    private static float[]? t_scratch;

    /// <summary>Splits a batch of <paramref name="rows"/> rows into <paramref name="shards"/> contiguous
    /// ranges whose sizes differ by at most one (the first rows % S shards get one more).</summary>
    public static (int Start, int Length) ShardRange(int rows, int shards, int shard)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        if ((uint)shard >= (uint)shards)
        {
            throw new ArgumentOutOfRangeException(nameof(shard));
        }

        int size = rows / shards, extra = rows % shards;
        return ((shard * size) + Math.Min(shard, extra), size + (shard < extra ? 1 : 0));
    }

    /// <summary>The batch rows of the shards of <paramref name="node"/> (contiguous: shards are).</summary>
    public static (int Start, int Length) SubtreeRange(int rows, int shards, Subtree node)
    {
        if (node.Count < 1 || node.Start < 0 || node.End > shards)
        {
            throw new ArgumentOutOfRangeException(nameof(node), node, $"not inside [0, {shards})");
        }

        var (start, _) = ShardRange(rows, shards, node.Start);
        var (last, lastLength) = ShardRange(rows, shards, node.End - 1);
        return (start, last + lastLength - start);
    }

    /// <summary>
    /// meanGradient = value of the tree over the S shard sums / globalBatch; returns the summed loss, samples and correct
    /// count. <paramref name="shardsInOrder"/>[s] must be shard s. (Allocates its scratch: for tests and tools; the
    /// training step goes through TrainingState.CompleteStep.)
    /// </summary>
    public static (double LossSum, int Samples, int Correct) Reduce(IReadOnlyList<GradientSum> shardsInOrder, int globalBatch, Span<float> meanGradient)
    {
        ArgumentNullException.ThrowIfNull(shardsInOrder);
        if (shardsInOrder.Count == 0)
        {
            throw new ArgumentException("no shards", nameof(shardsInOrder));
        }

        var leaves = new PartialSum[shardsInOrder.Count];
        for (var s = 0; s < leaves.Length; s++)
        {
            leaves[s] = new PartialSum(Subtree.Leaf(s), shardsInOrder[s]);
        }

        return Reduce(leaves, new ReductionTree(leaves.Length), globalBatch, meanGradient);
    }

    /// <summary>
    /// meanGradient = value of <paramref name="frontier"/> (partial sums that tile [0, S) in shard order) / globalBatch;
    /// the summed loss, samples and correct count. Bit-identical to reducing from the S leaves. (Allocates its scratch.)
    /// </summary>
    public static (double LossSum, int Samples, int Correct) Reduce(IReadOnlyList<PartialSum> frontier, ReductionTree tree, int globalBatch, Span<float> meanGradient)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var totals = Totals(frontier, tree, tree.Root, globalBatch, meanGradient.Length);
        ReduceRange(frontier, tree.Root, globalBatch, 0, meanGradient, new float[tree.Depth * meanGradient.Length]);
        return totals;
    }

    /// <summary>
    /// Checks that <paramref name="frontier"/> is a frontier of <paramref name="of"/> whose sums all have
    /// <paramref name="length"/> gradient values; the loss summed along the tree, the samples and the correct count.
    /// </summary>
    public static (double LossSum, int Samples, int Correct) Totals(IReadOnlyList<PartialSum> frontier, ReductionTree tree, Subtree of, int globalBatch, int length)
    {
        ArgumentNullException.ThrowIfNull(frontier);
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentOutOfRangeException.ThrowIfLessThan(globalBatch, 1);
        if (CheckFrontier(frontier, tree, of) is { } wrong)
        {
            throw new ArgumentException(wrong, nameof(frontier));
        }

        int samples = 0, correct = 0;
        for (var i = 0; i < frontier.Count; i++)
        {
            var part = frontier[i];
            if (part.Sum.Gradient.Length != length)
            {
                throw new ArgumentException($"the partial sum of {part.Node} has {part.Sum.Gradient.Length} gradient values, expected {length}", nameof(frontier));
            }

            samples += part.Sum.Samples;
            correct += part.Sum.Correct;
        }

        var next = 0;
        return (LossSum(frontier, ref next, of.Start, of.End), samples, correct);
    }

    /// <summary>Null when <paramref name="parts"/> is a frontier of <paramref name="of"/> with a sum in every entry; otherwise what is wrong.</summary>
    public static string? CheckFrontier(IReadOnlyList<PartialSum> parts, ReductionTree tree, Subtree of)
    {
        ArgumentNullException.ThrowIfNull(parts);
        ArgumentNullException.ThrowIfNull(tree);
        if (tree.CheckTarget(of) is { } bad)
        {
            return bad;
        }

        if (parts.Count == 0)
        {
            return $"no partial sums for {of}";
        }

        var next = of.Start;
        for (var i = 0; i < parts.Count; i++)
        {
            if (parts[i].Sum is null)
            {
                return $"partial sum {i} ({parts[i].Node}) has no sum";
            }

            if (tree.CheckPart(i, parts[i].Node, ref next, of) is { } wrong)
            {
                return wrong;
            }
        }

        return ReductionTree.CheckEnd(next, of);
    }

    /// <summary>
    /// The mean on elements [start, start + mean.Length) only (frontier already checked by <see cref="Totals"/>): the
    /// additions are element-wise, so reducing a buffer range by range gives the same bits as all at once.
    /// </summary>
    /// <param name="of">The node the frontier tiles: the root for a step's mean.</param>
    /// <param name="mean">[length] receives value(of)[start..] / globalBatch.</param>
    /// <param name="scratch">At least tree depth × mean.Length floats (partial values of right subtrees); contents ignored.</param>
    public static void ReduceRange(IReadOnlyList<PartialSum> frontier, Subtree of, int globalBatch, int start, Span<float> mean, Span<float> scratch)
    {
        var next = 0;
        var value = Evaluate(frontier, ref next, of.Start, of.End, start, mean.Length, mean, scratch);
        TensorPrimitives.Divide(value, (float)globalBatch, mean); // S = 1: g_0 / B straight from the shard
    }

    /// <summary>
    /// What an aggregating node sends up: <paramref name="into"/> = the sum over <paramref name="target"/>'s shards,
    /// added along the tree from <paramref name="parts"/> (its own shards as leaves and the partial sums of its children:
    /// a frontier of <paramref name="target"/>), with the loss summed along the tree and the counts added. The result is
    /// bit-identical to the value <paramref name="target"/> has when the whole tree is reduced from its leaves.
    /// Zero allocations in steady state; split over <paramref name="pool"/>'s threads (same bits for any count).
    /// </summary>
    public static void SumSubtree(IReadOnlyList<PartialSum> parts, ReductionTree tree, Subtree target, GradientSum into, KernelPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(into);
        var (loss, samples, correct) = Totals(parts, tree, target, 1, into.Gradient.Length);
        for (var i = 0; i < parts.Count; i++)
        {
            if (ReferenceEquals(parts[i].Sum, into) && parts.Count > 1)
            {
                throw new ArgumentException($"the result buffer is also the partial sum of {parts[i].Node}", nameof(into));
            }
        }

        var length = into.Gradient.Length;
        var chunks = (length + ChunkLength - 1) / ChunkLength;
        var job = new SubtreeJob(parts, target, tree.Depth, into.Gradient);
        (chunks >= 4 ? pool ?? KernelPool.Single : KernelPool.Single).Run(chunks, job, static (chunk, j) => j.Chunk(chunk));
        into.LossSum = loss;
        into.Samples = samples;
        into.Correct = correct;
    }

    /// <summary>This thread's scratch for <see cref="ReduceRange"/>, at least <paramref name="length"/> floats (grows once, then reused).</summary>
    internal static Span<float> ThreadScratch(int length)
    {
        if (t_scratch is null || t_scratch.Length < length)
        {
            t_scratch = new float[Math.Max(length, ChunkLength)];
        }

        return t_scratch.AsSpan(0, length);
    }

    // value([a, b)) on elements [start, start + length): a frontier entry's own values, or left + right computed into dest
    // (the right child's value goes to the first scratch slot, and the slots after it serve the levels below)
    private static ReadOnlySpan<float> Evaluate(IReadOnlyList<PartialSum> parts, ref int next, int a, int b, int start, int length, Span<float> dest, Span<float> scratch)
    {
        var part = parts[next];
        if (part.Node.Start == a && part.Node.End == b)
        {
            next++;
            return part.Sum.Gradient.AsSpan(start, length);
        }

        var m = ReductionTree.SplitPoint(a, b);
        var left = Evaluate(parts, ref next, a, m, start, length, dest, scratch);
        var right = Evaluate(parts, ref next, m, b, start, length, scratch[..length], scratch[length..]);
        TensorPrimitives.Add(left, right, dest); // value(left) + value(right), element by element
        return dest;
    }

    private static double LossSum(IReadOnlyList<PartialSum> parts, ref int next, int a, int b)
    {
        var part = parts[next];
        if (part.Node.Start == a && part.Node.End == b)
        {
            next++;
            return part.Sum.LossSum;
        }

        var m = ReductionTree.SplitPoint(a, b);
        var left = LossSum(parts, ref next, a, m);
        return left + LossSum(parts, ref next, m, b);
    }

    private readonly struct SubtreeJob(IReadOnlyList<PartialSum> parts, Subtree target, int depth, float[] into)
    {
        public void Chunk(int chunk)
        {
            var start = chunk * ChunkLength;
            var length = Math.Min(ChunkLength, into.Length - start);
            var dest = into.AsSpan(start, length);
            var next = 0;
            var value = Evaluate(parts, ref next, target.Start, target.End, start, length, dest, ThreadScratch(depth * length));
            if (!value.Overlaps(dest))
            {
                value.CopyTo(dest); // the target is one of the parts: its own values
            }
        }
    }
}
