// How a step is arranged when more workers are live than the fan-in K (docs/aggregation.md): the root of the
// reduction tree is cut into at most K pieces (whole subtrees, ReductionTree.Cut), the live workers are split among
// the pieces in dealing order, in proportion to each piece's shards (at least one each), and each piece's workers form a
// tree of their own: the first is the head, answers for the whole piece, computes the leftmost part of it itself, and
// gives the other parts (at most K) to child groups built the same way from the remaining workers. Every part is a
// whole subtree, so each head's own leaves and its children's partial sums are a frontier of its subtree: it can add
// them along the reduction tree to exactly the bits the whole tree gives its subtree, whoever computed what.
// A pure function of (tree, pieces, workers, K). Leaves out: sending (CoordinatorMachine) and the sums (Core).
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Coordination;

/// <summary>
/// One worker's place in a step's aggregation tree: it answers for <paramref name="Node"/>, computes <paramref name="Own"/>
/// (leaves, in shard order) itself, adds its <paramref name="Children"/>' partial sums, and sends the result to
/// <paramref name="Parent"/> (<see cref="WorkerHandle.None"/>: the coordinator).
/// </summary>
public sealed record GroupRole(WorkerHandle Worker, Subtree Node, int[] Own, WorkerHandle Parent, (WorkerHandle Worker, Subtree Node)[] Children);

public static class AggregationPlanner
{
    /// <summary>
    /// The pieces of a step and who answers for each: <c>pieces[i]</c> and the roles of its group (its head first).
    /// Fewer pieces than K when S is smaller; a worker left over (more workers than shards) gets no role.
    /// </summary>
    public static (Subtree[] Pieces, GroupRole[][] Groups) Plan(ReductionTree tree, IReadOnlyList<WorkerHandle> workers, int fanIn)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(workers);
        ArgumentOutOfRangeException.ThrowIfLessThan(fanIn, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers.Count, 1);
        var pieces = tree.Cut(Math.Min(fanIn, workers.Count));
        var sizes = Split(pieces, workers.Count);
        var groups = new GroupRole[pieces.Length][];
        for (int i = 0, next = 0; i < pieces.Length; next += sizes[i], i++)
        {
            var roles = new List<GroupRole>();
            Build(tree, pieces[i], [.. workers.Skip(next).Take(sizes[i])], WorkerHandle.None, fanIn, roles);
            groups[i] = [.. roles];
        }

        return (pieces, groups);
    }

    /// <summary>
    /// <paramref name="workers"/> split among <paramref name="parts"/> in proportion to their shards (largest remainders), each
    /// at least one; all of them when there are at least as many workers as parts.
    /// </summary>
    public static int[] Split(IReadOnlyList<Subtree> parts, int workers)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (workers < parts.Count)
        {
            throw new ArgumentException($"{workers} workers for {parts.Count} parts: each part needs one", nameof(workers));
        }

        var total = parts.Sum(p => p.Count);
        var spare = workers - parts.Count; // one each first, the rest by share
        var sizes = parts.Select(p => 1 + (int)((long)spare * p.Count / total)).ToArray();
        var remainders = parts.Select((p, i) => (Remainder: ((long)spare * p.Count) % total, Index: i)).OrderByDescending(x => x.Remainder).ThenBy(x => x.Index).ToArray();
        for (var k = 0; sizes.Sum() < workers; k++)
        {
            sizes[remainders[k % remainders.Length].Index]++;
        }

        return sizes;
    }

    /// <summary><paramref name="node"/> cut into at most <paramref name="parts"/> whole subtrees that tile it (the widest split first, as ReductionTree.Cut).</summary>
    public static Subtree[] Cut(ReductionTree tree, Subtree node, int parts)
    {
        ArgumentNullException.ThrowIfNull(tree);
        return tree.Cut(node, parts);
    }

    private static void Build(ReductionTree tree, Subtree node, WorkerHandle[] members, WorkerHandle parent, int fanIn, List<GroupRole> roles)
    {
        var head = members[0];
        var parts = members.Length == 1 ? [node] : Cut(tree, node, Math.Min(fanIn, members.Length - 1) + 1);
        if (parts.Length == 1)
        {
            roles.Add(new GroupRole(head, node, Leaves(node), parent, []));
            return; // alone, or a single shard: the other members idle this step
        }

        var childParts = parts[1..];
        var sizes = Split(childParts, members.Length - 1);
        var children = new (WorkerHandle, Subtree)[childParts.Length];
        var at = roles.Count;
        roles.Add(null!); // the head's role, once its children are known
        for (int j = 0, next = 1; j < childParts.Length; next += sizes[j], j++)
        {
            var sub = members[next..(next + sizes[j])];
            children[j] = (sub[0], childParts[j]);
            Build(tree, childParts[j], sub, head, fanIn, roles);
        }

        roles[at] = new GroupRole(head, node, Leaves(parts[0]), parent, children);
    }

    private static int[] Leaves(Subtree node) => [.. Enumerable.Range(node.Start, node.Count)];
}
