// One step's aggregation on a worker (docs/aggregation.md): its role (the subtree it answers for, its parent, its
// children), the sums of the leaves it computes itself, and the partial sums its children send. Complete when every
// own leaf and every child's subtree is in; the parts are then a frontier of its subtree, which Core adds along the
// reduction tree (ShardReduction.SumSubtree) into the one sum it sends up. It checks that a child's partial comes from
// that child's path and covers exactly that child's subtree, once. Leaves out: computing and sending (the Worker).
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

/// <summary>A worker's aggregation state for one step. Actor thread only.</summary>
internal sealed class Aggregation(AggregateRole role, ReductionTree tree)
{
    private readonly List<PartialSum> _parts = new();
    private readonly List<float[]> _borrowed = new(); // children's arrays (pool arrays across nodes; their lent buffers in process)
    private readonly int _ownExpected = role.NodeEnd - role.NodeStart - role.Children.Sum(c => c.NodeEnd - c.NodeStart); // its leaves
    private int _own;
    private int _children;

    public AggregateRole Role { get; } = role;

    public ReductionTree Tree { get; } = tree;

    public long Step => Role.Step;

    public Subtree Node => new(Role.NodeStart, Role.NodeEnd);

    /// <summary>The weights come from the parent (RelayedWeights), not from the coordinator.</summary>
    public bool FromParent => Role.ParentPath is not null;

    /// <summary>The weights have been relayed to the children already.</summary>
    public bool Relayed { get; set; }

    /// <summary>Time spent computing its own leaves.</summary>
    public double ComputeMs { get; set; }

    /// <summary>The sums of its own leaves: the worker's buffers, freed once the partial sum is made.</summary>
    public IEnumerable<GradientSum> OwnSums => _parts.Where(p => !_borrowed.Contains(p.Sum.Gradient)).Select(p => p.Sum);

    public IReadOnlyList<float[]> Borrowed => _borrowed;

    /// <summary>Whether <paramref name="shard"/> is one of its own leaves: in its subtree and in none of its children's.</summary>
    public bool Owns(int shard) => Node.Contains(shard) && Array.TrueForAll(Role.Children, c => shard < c.NodeStart || shard >= c.NodeEnd);

    public bool IsComplete => _own == _ownExpected && _children == Role.Children.Length;

    /// <summary>One of its own leaves; false (nothing taken) for a leaf it has already.</summary>
    public bool AddOwn(int shard, GradientSum sum)
    {
        var leaf = Subtree.Leaf(shard);
        if (_parts.Exists(p => p.Node == leaf))
        {
            return false;
        }

        _parts.Add(new PartialSum(leaf, sum));
        _own++;
        return true;
    }

    /// <summary>A child's partial sum; null when taken, else why it was not (the array is then the caller's to return).</summary>
    public string? AddChild(string senderPath, PartialComputed p)
    {
        var node = new Subtree(p.NodeStart, p.NodeEnd);
        var child = Array.FindIndex(Role.Children, c => c.NodeStart == p.NodeStart && c.NodeEnd == p.NodeEnd);
        if (child < 0)
        {
            return $"no child of {Node} answers for {node}";
        }

        if (!string.Equals(Role.Children[child].Path, senderPath, StringComparison.Ordinal))
        {
            return $"{node} is {Role.Children[child].Path}'s, not {senderPath}'s";
        }

        if (_parts.Exists(x => x.Node == node))
        {
            return $"{node} arrived twice";
        }

        _parts.Add(new PartialSum(node, new GradientSum(p.Gradient, p.LossSum, p.Samples, p.Correct)));
        _borrowed.Add(p.Gradient);
        _children++;
        return null;
    }

    /// <summary>The parts in shard order (a frontier of <see cref="Node"/>).</summary>
    public IReadOnlyList<PartialSum> Parts()
    {
        _parts.Sort(static (a, b) => a.Node.Start.CompareTo(b.Node.Start));
        return _parts;
    }
}
