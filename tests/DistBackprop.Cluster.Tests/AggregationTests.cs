// The aggregation tree (--fan-in) through real actors: in process, every message crossing the serializers
// (serialize-messages on, so RelayedWeights and PartialComputed round-trip through TensorSerializer), 3–5 workers
// with fan-in 1 or 2 give the reference loop's weights bit for bit; and the planner's groups tile the tree.
// Leaves out: faults in the tree (ProtocolSimulationTests drive thousands of them), other hosts (NetBedTests).
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public sealed class AggregationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(3, 1, 5)]
    [InlineData(4, 2, 8)]
    [InlineData(5, 2, 7)]
    [InlineData(5, 1, 4)]
    public async Task Aggregating_workers_give_the_reference_bits(int workers, int fanIn, int shards)
    {
        var data = TestData.Blobs();
        var config = TestData.Config(shards, steps: 12);
        var reference = TestData.Reference(config, data);
        var state = new TrainingState(config, data.Count, Initializer.Create(config.Spec, 5));
        var options = TestData.Local(workers);
        var result = await LocalTraining.RunLocalAsync(state, data, new LocalTrainingOptions
        {
            Workers = workers,
            ThreadsPerWorker = 1,
            Akka = options.Akka,
            FanIn = fanIn,
        });
        var diff = TestData.FirstDifference(reference, result.Parameters);
        output.WriteLine($"{workers} workers, fan-in {fanIn}, S = {shards}: {diff}; shards delivered: {string.Join(", ", result.Summary.ShardsByWorker!.Select(c => $"{c.WorkerId} {c.Shards}"))}");
        Assert.True(diff == "identical", diff);
        Assert.Equal(12, result.Steps.Count);
        Assert.True(result.Summary.ShardsByWorker!.Length <= Math.Min(fanIn, shards), "more than K workers answered the coordinator"); // only heads
    }

    [Theory]
    [InlineData(8, 6, 2)]
    [InlineData(16, 9, 3)]
    [InlineData(5, 8, 2)]
    [InlineData(1, 3, 1)]
    public void Every_group_tiles_its_piece_and_the_pieces_tile_the_tree(int shards, int workers, int fanIn)
    {
        var tree = new ReductionTree(shards);
        var handles = Enumerable.Range(1, workers).Select(i => new WorkerHandle(i)).ToArray();
        var (pieces, groups) = AggregationPlanner.Plan(tree, handles, fanIn);
        Assert.True(pieces.Length <= fanIn);
        Assert.Null(tree.CheckFrontier(pieces, tree.Root));
        var used = new HashSet<WorkerHandle>();
        for (var i = 0; i < pieces.Length; i++)
        {
            Assert.Equal(pieces[i], groups[i][0].Node);
            Assert.True(groups[i][0].Parent.IsNone);
            foreach (var role in groups[i])
            {
                Assert.True(used.Add(role.Worker), $"{role.Worker} has two roles");
                Assert.True(role.Children.Length <= fanIn);
                // its own leaves and its children's subtrees tile its subtree
                Subtree[] parts = [.. role.Own.Select(Subtree.Leaf), .. role.Children.Select(c => c.Node)];
                Assert.Null(tree.CheckFrontier(parts.OrderBy(p => p.Start).ToArray(), role.Node));
                foreach (var (child, node) in role.Children)
                {
                    Assert.Contains(groups[i], r => r.Worker == child && r.Node == node && r.Parent == role.Worker);
                }
            }
        }

        output.WriteLine($"S = {shards}, {workers} workers, K = {fanIn}: pieces {string.Join(" ", pieces)}; {used.Count} workers with a role");
    }
}
