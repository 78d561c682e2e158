// The shape of a step's aggregation tree as the coordinator really builds it (AggregationPlanner.Plan on the reduction
// tree of S shards, N workers, fan-in K), reduced to what the scaling model needs: the levels of workers on the
// deepest path and the copies on the critical path, i.e. the largest sum, over the paths from the coordinator to a
// leaf worker, of the children each node on the path serves (its link carries that many copies of 4P bytes, one after
// the other through its rate limit, in each direction: weights down, partial sums up). The star: 1 level, N copies.
// Cached per (N, S, K). Leaves out: the time those copies take (ScalingModel).
using System.Collections.Concurrent;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Core.Training;

namespace DistBackprop.Host.Scaling;

/// <param name="Levels">Workers on the deepest path from the coordinator (1: the star).</param>
/// <param name="PathCopies">Copies per direction on the critical path: the coordinator's children plus, along the
/// heaviest path, each aggregator's children.</param>
/// <param name="CoordinatorChildren">Messages the coordinator sends (and receives) per step: N in the star, the pieces with the tree.</param>
public readonly record struct TreeShape(int Levels, int PathCopies, int CoordinatorChildren)
{
    private static readonly ConcurrentDictionary<(int N, int S, int K), TreeShape> Cache = new();

    /// <summary>The shape for <paramref name="workers"/> live workers, <paramref name="shards"/> shards, fan-in <paramref name="fanIn"/> (K ≥ N: the star).</summary>
    public static TreeShape Of(int workers, int shards, int fanIn)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(fanIn, 1);
        if (fanIn >= workers)
        {
            return new TreeShape(1, workers, workers);
        }

        return Cache.GetOrAdd((workers, shards, fanIn), key =>
        {
            var handles = Enumerable.Range(1, key.N).Select(i => new WorkerHandle(i)).ToArray();
            var (pieces, groups) = AggregationPlanner.Plan(new ReductionTree(key.S), handles, key.K);
            var byWorker = groups.SelectMany(g => g).ToDictionary(r => r.Worker);
            (int Levels, int Copies) Walk(GroupRole role)
            {
                var (levels, copies) = (0, 0);
                foreach (var (child, _) in role.Children)
                {
                    var (l, c) = Walk(byWorker[child]);
                    (levels, copies) = (Math.Max(levels, l), Math.Max(copies, c));
                }

                return (1 + levels, role.Children.Length + copies);
            }

            var heads = groups.Select(g => Walk(g[0])).ToList();
            return new TreeShape(heads.Max(h => h.Levels), pieces.Length + heads.Max(h => h.Copies), pieces.Length);
        });
    }
}
