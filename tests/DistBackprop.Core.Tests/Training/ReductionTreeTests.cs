// The reduction tree (SPEC §3 as amended in the README): its shape for each S against the rule written out
// independently (and by hand for S ≤ 8), the additions against a scalar oracle with values where float addition is
// not associative, every frontier of the tree for S ≤ 16 giving the bits of the S leaves (through TrainingState, so
// the weights too), nodes pre-adding subtrees (SumSubtree, chained like aggregators) bit-identical, Decompose/Cut/
// CheckFrontier, and the by-design change from left-to-right at S = 4. Leaves out: the fused update's optimizer
// side (StepUpdateTests) and who holds which subtree (the cluster tests).
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Training;

public class ReductionTreeTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, "0")]
    [InlineData(2, "(0+1)")]
    [InlineData(3, "((0+1)+2)")]
    [InlineData(4, "((0+1)+(2+3))")]
    [InlineData(5, "(((0+1)+(2+3))+4)")]
    [InlineData(6, "(((0+1)+(2+3))+(4+5))")]
    [InlineData(7, "(((0+1)+(2+3))+((4+5)+6))")]
    [InlineData(8, "(((0+1)+(2+3))+((4+5)+(6+7)))")]
    [InlineData(12, "((((0+1)+(2+3))+((4+5)+(6+7)))+((8+9)+(10+11)))")]
    public void The_shape_is_the_written_rule(int shards, string expected)
    {
        var tree = new ReductionTree(shards);
        Assert.Equal(expected, Render(tree, tree.Root));
        Assert.Equal(expected, Oracle.Render(0, shards));
    }

    [Fact]
    public void Shapes_and_depths_match_the_rule_for_every_S_up_to_300()
    {
        for (var s = 1; s <= 300; s++)
        {
            var tree = new ReductionTree(s);
            Assert.Equal(Oracle.Render(0, s), Render(tree, tree.Root));
            Assert.Equal((int)Math.Ceiling(Math.Log2(s)), tree.Depth);
            Assert.Equal(tree.Depth, Enumerable.Range(0, s).Max(i => tree.DepthOf(Subtree.Leaf(i))));
            foreach (var node in Nodes(tree, tree.Root))
            {
                Assert.True(tree.IsNode(node));
                if (node != tree.Root)
                {
                    Assert.True(tree.TryGetParent(node, out var parent));
                    var (l, r) = tree.Children(parent);
                    Assert.True(l == node || r == node, $"S={s}: {node} is not a child of its parent {parent}");
                }
            }

            Assert.False(tree.TryGetParent(tree.Root, out _));
            Assert.Equal(2 * s - 1, Nodes(tree, tree.Root).Count()); // a full binary tree over S leaves
        }

        Assert.False(new ReductionTree(4).IsNode(new Subtree(1, 3))); // straddles the split at 2
        Assert.False(new ReductionTree(6).IsNode(new Subtree(3, 6)));
        Assert.False(new ReductionTree(6).IsNode(new Subtree(0, 7)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(13)]
    [InlineData(64)]
    public void The_mean_is_the_tree_sum_over_B_element_by_element(int shards)
    {
        const int length = 1000, batch = 97;
        var random = new Random(shards);
        var sums = Enumerable.Range(0, shards).Select(_ => RandomSum(random, length)).ToArray();
        var mean = new float[length];

        ShardReduction.Reduce(sums, batch, mean);

        for (var i = 0; i < length; i++)
        {
            var expected = Oracle.Value(sums, 0, shards, i) / batch;
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(mean[i]), $"S={shards} element {i}: {mean[i]} vs oracle {expected}");
        }
    }

    [Fact]
    public void Four_shards_are_added_pairwise_not_left_to_right()
    {
        // float: (1e8 + 1) + (−1e8 + 1) = 1e8 − 1e8 (each 1 is lost) = 0; left to right ((1e8 + 1) − 1e8) + 1 = 1
        var sums = new[] { new GradientSum([1e8f], samples: 1), new GradientSum([1f], samples: 1), new GradientSum([-1e8f], samples: 1), new GradientSum([1f], samples: 1) };
        var mean = new float[1];
        ShardReduction.Reduce(sums, 1, mean);
        Assert.Equal(0f, mean[0]);
        Assert.Equal(1f, ((1e8f + 1f) + -1e8f) + 1f); // the old order's answer, for the record
    }

    [Fact]
    public void The_loss_follows_the_tree()
    {
        // double: 1e17 + 1 loses the 1; pairwise (1e17 + 1) + (−1e17 + 1) = 0, left to right gives 1
        var sums = new[] { 1e17, 1.0, -1e17, 1.0, 0.5 }.Select(l => new GradientSum([0f], lossSum: l, samples: 2, correct: 1)).ToArray();
        var leaves = sums.Select((g, s) => new PartialSum(Subtree.Leaf(s), g)).ToArray();
        var (loss, samples, correct) = ShardReduction.Totals(leaves, new ReductionTree(5), new Subtree(0, 5), 10, 1);
        Assert.Equal(((1e17 + 1.0) + (-1e17 + 1.0)) + 0.5, loss);
        Assert.Equal(0.5, loss);
        Assert.Equal(10, samples);
        Assert.Equal(5, correct);
    }

    [Fact]
    public void Every_frontier_gives_the_bits_of_the_leaves_up_to_16_shards()
    {
        // three chunks and a partial one, so the chunked pass and its scratch run at every depth
        var length = (3 * 8192) + 77;
        var frontiers = 0;
        for (var s = 1; s <= 16; s++)
        {
            var tree = new ReductionTree(s);
            var random = new Random(100 + s);
            var leaves = Enumerable.Range(0, s).Select(_ => RandomSum(random, length)).ToArray();
            var expected = new float[length];
            var expectedTotals = ShardReduction.Reduce(leaves, 123, expected);
            var sums = AllSubtreeSums(tree, leaves);
            foreach (var frontier in Frontiers(tree, tree.Root))
            {
                var parts = frontier.Select(n => new PartialSum(n, sums[n])).ToArray();
                var mean = new float[length];
                var totals = ShardReduction.Reduce(parts, tree, 123, mean);
                Assert.True(expected.AsSpan().SequenceEqual(mean), $"S={s} frontier {string.Join(' ', frontier)} differs from the leaves");
                Assert.Equal(expectedTotals, totals);
                frontiers++;
            }
        }

        output.WriteLine($"{frontiers} frontiers checked");
        Assert.Equal(Enumerable.Range(1, 16).Sum(s => CountFrontiers(0, s)), frontiers); // 1898: every one was seen
        Assert.Equal(677, CountFrontiers(0, 16)); // a perfect tree of depth 4: 1 + 26²

        // a node is a frontier by itself, or any frontier of its left child followed by any of its right child
        static int CountFrontiers(int a, int b) => b - a == 1 ? 1 : 1 + (CountFrontiers(a, Oracle.Split(a, b)) * CountFrontiers(Oracle.Split(a, b), b));
    }

    [Theory]
    [InlineData(6, 1)]
    [InlineData(6, 3)]
    [InlineData(11, 2)]
    public void Aggregators_pre_adding_subtrees_leave_the_weights_bit_identical(int shards, int threads)
    {
        // A coordinator with fan-in 2 over S shards: its two children pre-add the root's children, each of them from its
        // own leaves and the partial sum of a grandchild (chained SumSubtree, on a pool); the coordinator completes from
        // the 2 partial sums. The same steps from the S leaves give the same weights bit for bit.
        var spec = new ModelSpec([301, 57, 7], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        using var pool = new KernelPool(threads);
        var config = new TrainingConfig(spec, new OptimizerSettings(OptimizerKind.Adam, 1e-2f, WeightDecay: 0.01f), BatchSize: 40, Epochs: null, MaxSteps: 5,
            Seed: 1, Shuffle: false, Shards: shards);
        var fromLeaves = new TrainingState(config, 400, Initializer.Create(spec, 3));
        var fromTree = new TrainingState(config, 400, Initializer.Create(spec, 3));
        var tree = fromTree.Tree;
        var random = new Random(7);
        for (var step = 0; step < 3; step++)
        {
            var plan = fromLeaves.BeginStep();
            var leaves = Enumerable.Range(0, shards).Select(s => RandomSum(random, spec.ParameterCount, plan.ShardIndices(s).Length)).ToArray();

            var top = tree.Cut(2);
            var partials = top.Select(node => new PartialSum(node, Aggregate(tree, node, leaves, pool))).ToArray();
            Assert.Equal(plan.SubtreeIndices(top[0]).Length, partials[0].Sum.Samples);

            fromLeaves.CompleteStep(leaves, pool);
            fromTree.CompleteStep(partials, pool);
            Assert.True(fromLeaves.Parameters.AsSpan().SequenceEqual(fromTree.Parameters), $"step {step + 1}: weights differ");
        }
    }

    [Fact]
    public void Sum_subtree_on_a_pool_gives_the_bits_of_one_thread_and_of_the_oracle()
    {
        // six chunks and a partial one, so the pool's threads each take chunks (below four chunks it stays on one thread)
        var length = (6 * 8192) + 5;
        var tree = new ReductionTree(7);
        var random = new Random(3);
        var leaves = Enumerable.Range(0, 7).Select(_ => RandomSum(random, length)).ToArray();
        var target = new Subtree(4, 7);
        PartialSum[] parts = [new(new Subtree(4, 6), new GradientSum(length)), new(Subtree.Leaf(6), leaves[6])];
        ShardReduction.SumSubtree([new(Subtree.Leaf(4), leaves[4]), new(Subtree.Leaf(5), leaves[5])], tree, parts[0].Node, parts[0].Sum);
        var single = new GradientSum(length);
        var pooled = new GradientSum(length);
        using var pool = new KernelPool(3);

        ShardReduction.SumSubtree(parts, tree, target, single);
        ShardReduction.SumSubtree(parts, tree, target, pooled, pool);

        Assert.True(single.Gradient.AsSpan().SequenceEqual(pooled.Gradient), "the pool changed bits");
        for (var i = 0; i < length; i += 997)
        {
            Assert.Equal(Oracle.Value(leaves, 4, 7, i), pooled.Gradient[i]);
        }

        Assert.Equal((leaves[4].LossSum + leaves[5].LossSum) + leaves[6].LossSum, pooled.LossSum);
        Assert.Equal(leaves[4].Samples + leaves[5].Samples + leaves[6].Samples, pooled.Samples);
    }

    [Fact]
    public void Sum_subtree_of_one_part_copies_it_and_rejects_what_is_not_a_frontier()
    {
        var tree = new ReductionTree(6);
        var a = new GradientSum([1f, 2f], lossSum: 3, samples: 4, correct: 1);
        var into = new GradientSum(2);
        ShardReduction.SumSubtree([new PartialSum(new Subtree(0, 4), a)], tree, new Subtree(0, 4), into);
        Assert.Equal(a.Gradient, into.Gradient);
        Assert.Equal((3.0, 4, 1), (into.LossSum, into.Samples, into.Correct));

        var b = new GradientSum(2);
        var e = Assert.Throws<ArgumentException>(() => ShardReduction.SumSubtree([new(Subtree.Leaf(0), a), new(Subtree.Leaf(2), b)], tree, new Subtree(0, 2), into));
        Assert.Contains("shards [1, 2) of [0, 2) are missing before partial sum 1 ([2])", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => ShardReduction.SumSubtree([new(Subtree.Leaf(0), a), new(new Subtree(1, 3), b), new(Subtree.Leaf(3), b)], tree, new Subtree(0, 4), into));
        Assert.Contains("partial sum 1 covers [1, 3), which is not a subtree of [0, 4)", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => ShardReduction.SumSubtree([new(Subtree.Leaf(0), a)], tree, new Subtree(0, 2), into));
        Assert.Contains("shards [1, 2) of [0, 2) are missing", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => ShardReduction.SumSubtree([new(Subtree.Leaf(0), a), new(Subtree.Leaf(1), into)], tree, new Subtree(0, 2), into));
        Assert.Contains("result buffer", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_frontier_names_what_is_wrong()
    {
        var tree = new ReductionTree(6);
        Assert.Null(tree.CheckFrontier([new(0, 4), new(4, 6)], tree.Root));
        Assert.Null(tree.CheckFrontier([new(0, 2), new(2, 3), new(3, 4), new(4, 5), new(5, 6)], tree.Root));
        Assert.Equal("shards [4, 6) of [0, 6) are missing", tree.CheckFrontier([new(0, 4)], tree.Root));
        Assert.Equal("shards [2, 4) of [0, 6) are missing before partial sum 1 ([4, 6))", tree.CheckFrontier([new(0, 2), new(4, 6)], tree.Root));
        Assert.Equal("partial sum 1 covers [0, 2), which overlaps or comes before shard 4", tree.CheckFrontier([new(0, 4), new(0, 2)], tree.Root));
        Assert.Equal("partial sum 0 covers [0, 3), which is not a subtree of [0, 6) in the reduction tree of 6 shards", tree.CheckFrontier([new(0, 3), new(3, 6)], tree.Root));
        Assert.Equal("partial sum 1 covers [4, 7), which is not a subtree of [0, 6) in the reduction tree of 6 shards", tree.CheckFrontier([new(0, 4), new(4, 7)], tree.Root));
        Assert.Equal("[1, 3) is not a subtree of the reduction tree of 6 shards", tree.CheckFrontier([new(1, 3)], new Subtree(1, 3)));
        Assert.Equal("no partial sums for [0, 6)", tree.CheckFrontier([], tree.Root));

        var state = new TrainingState(new TrainingConfig(new ModelSpec([2, 2], Activation.Relu, LossKind.Mse), new OptimizerSettings(OptimizerKind.Sgd, 0.1f),
            BatchSize: 6, Shards: 6), 6, new float[6]);
        var e = Assert.Throws<ArgumentException>(() => state.CompleteStep([new PartialSum(new Subtree(0, 4), new GradientSum(6) { Samples = 6 })], KernelPool.Single));
        Assert.Contains("shards [4, 6) of [0, 6) are missing", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, state.Step);
    }

    [Fact]
    public void Decompose_finds_the_largest_subtrees_a_set_of_shards_forms()
    {
        var tree = new ReductionTree(6);
        Assert.Equal([new(0, 4), Subtree.Leaf(5)], tree.Decompose([0, 1, 2, 3, 5]));
        Assert.Equal([new Subtree(4, 6)], tree.Decompose([5, 4]));
        Assert.Equal([Subtree.Leaf(1), Subtree.Leaf(2)], tree.Decompose([1, 2])); // 1 and 2 are in different subtrees
        Assert.Equal([tree.Root], tree.Decompose(Enumerable.Range(0, 6)));
        Assert.Empty(tree.Decompose([]));

        // an aggregator's own shard plus the subtrees its children sent
        var into = new Subtree[6];
        var n = tree.Decompose([Subtree.Leaf(0), Subtree.Leaf(1), new Subtree(2, 4)], into);
        Assert.Equal([new Subtree(0, 4)], into[..n]);
        n = tree.Decompose([new Subtree(0, 4), Subtree.Leaf(4)], into);
        Assert.Equal([new Subtree(0, 4), Subtree.Leaf(4)], into[..n]);
        Assert.Throws<ArgumentException>(() => tree.Decompose([new Subtree(0, 2), Subtree.Leaf(1)], into));
        Assert.Throws<ArgumentException>(() => tree.Decompose([new Subtree(1, 3)], into));
        Assert.Throws<ArgumentException>(() => tree.Decompose([2, 1], into));
    }

    [Fact]
    public void Cut_gives_frontiers_of_the_asked_size()
    {
        for (var s = 1; s <= 40; s++)
        {
            var tree = new ReductionTree(s);
            for (var k = 1; k <= s + 2; k++)
            {
                var cut = tree.Cut(k);
                Assert.Equal(Math.Min(k, s), cut.Length);
                Assert.Null(tree.CheckFrontier(cut, tree.Root));
            }
        }

        Assert.Equal([new(0, 4), new(4, 6)], new ReductionTree(6).Cut(2));
        Assert.Equal([new(0, 2), new(2, 4), new(4, 6)], new ReductionTree(6).Cut(3));
        Assert.Equal([new(0, 2), new(2, 4), new(4, 7)], new ReductionTree(7).Cut(3)); // [0, 4) has more shards than [4, 7)
    }

    [Fact]
    public void Cutting_a_subtree_tiles_that_subtree_and_only_nodes_can_be_cut()
    {
        var tree = new ReductionTree(13);
        Assert.Equal(tree.Cut(4), tree.Cut(tree.Root, 4));
        foreach (var node in new Subtree[] { new(0, 8), new(8, 13), new(8, 12), new(12, 13) })
        {
            for (var k = 1; k <= 6; k++)
            {
                var cut = tree.Cut(node, k);
                Assert.Equal(Math.Min(k, node.Count), cut.Length);
                Assert.Null(tree.CheckFrontier(cut, node));
            }
        }

        Assert.Throws<ArgumentException>(() => tree.Cut(new Subtree(1, 3), 2)); // not a node of the tree
    }

    [Fact]
    public void Subtree_rows_are_the_rows_of_its_shards()
    {
        Assert.Equal((0, 8), ShardReduction.SubtreeRange(10, 6, new Subtree(0, 4))); // shard sizes 2,2,2,2,1,1
        Assert.Equal((8, 2), ShardReduction.SubtreeRange(10, 6, new Subtree(4, 6)));
        Assert.Equal(ShardReduction.ShardRange(10, 6, 3), ShardReduction.SubtreeRange(10, 6, Subtree.Leaf(3)));
    }

    // the subtree's sum as an aggregator computes it: SumSubtree from its own leaves and its children's partial sums,
    // where a child is the right child of each node on the way (chained, like a chain of aggregators)
    private static GradientSum Aggregate(ReductionTree tree, Subtree node, GradientSum[] leaves, KernelPool pool)
    {
        if (node.IsLeaf)
        {
            return leaves[node.Start];
        }

        var (left, right) = tree.Children(node);
        var parts = new List<PartialSum>();
        parts.AddRange(Enumerable.Range(left.Start, left.Count).Select(s => new PartialSum(Subtree.Leaf(s), leaves[s]))); // own shards
        parts.Add(new PartialSum(right, Aggregate(tree, right, leaves, pool))); // a child aggregator's partial sum
        var into = new GradientSum(leaves[0].Gradient.Length);
        ShardReduction.SumSubtree(parts, tree, node, into, pool);
        return into;
    }

    private static Dictionary<Subtree, GradientSum> AllSubtreeSums(ReductionTree tree, GradientSum[] leaves)
    {
        var sums = new Dictionary<Subtree, GradientSum>();
        foreach (var node in Nodes(tree, tree.Root))
        {
            var into = new GradientSum(leaves[0].Gradient.Length);
            var parts = Enumerable.Range(node.Start, node.Count).Select(s => new PartialSum(Subtree.Leaf(s), leaves[s])).ToArray();
            ShardReduction.SumSubtree(parts, tree, node, into);
            sums[node] = into;
        }

        return sums;
    }

    private static IEnumerable<Subtree> Nodes(ReductionTree tree, Subtree node)
    {
        yield return node;
        if (!node.IsLeaf)
        {
            var (l, r) = tree.Children(node);
            foreach (var n in Nodes(tree, l).Concat(Nodes(tree, r)))
            {
                yield return n;
            }
        }
    }

    private static IEnumerable<Subtree[]> Frontiers(ReductionTree tree, Subtree node)
    {
        yield return [node];
        if (!node.IsLeaf)
        {
            var (l, r) = tree.Children(node);
            foreach (var a in Frontiers(tree, l))
            {
                foreach (var b in Frontiers(tree, r))
                {
                    yield return [.. a, .. b];
                }
            }
        }
    }

    private static string Render(ReductionTree tree, Subtree node)
    {
        if (node.IsLeaf)
        {
            return $"{node.Start}";
        }

        var (l, r) = tree.Children(node);
        return $"({Render(tree, l)}+{Render(tree, r)})";
    }

    // values of varied sign and magnitude (and loss sums), so that any other association shows in the bits
    private static GradientSum RandomSum(Random random, int length, int samples = 3)
    {
        var sum = new GradientSum(length) { Samples = samples, LossSum = random.NextDouble() * Math.Pow(10, random.Next(-2, 12)), Correct = random.Next(0, samples + 1) };
        for (var i = 0; i < length; i++)
        {
            sum.Gradient[i] = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-4, 8)));
        }

        return sum;
    }

    /// <summary>The rule of the README, written again from its words: the largest power of two below the size goes left.</summary>
    private static class Oracle
    {
        public static int Split(int a, int b)
        {
            var p = 1;
            while (p * 2 < b - a)
            {
                p *= 2;
            }

            return a + p;
        }

        public static string Render(int a, int b) => b - a == 1 ? $"{a}" : $"({Render(a, Split(a, b))}+{Render(Split(a, b), b)})";

        public static float Value(GradientSum[] leaves, int a, int b, int i) =>
            b - a == 1 ? leaves[a].Gradient[i] : Value(leaves, a, Split(a, b), i) + Value(leaves, Split(a, b), b, i);
    }
}
