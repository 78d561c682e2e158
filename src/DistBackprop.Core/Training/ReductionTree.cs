// The fixed binary tree that says in which order a step's S shard sums are added (SPEC §3, README "The
// distributed contract"). Its shape depends only on S:
//   the root is the shard range [0, S); a node [a, b) with b − a ≥ 2 has the children [a, m) and [m, b), where
//   m = a + 2^⌊log₂(b − a − 1)⌋ (the largest power of two strictly below b − a goes left); [a, a + 1) is shard a.
//   value([a, a + 1)) = g_a;  value([a, b)) = value([a, m)) + value([m, b))  (float32, element by element)
// So S = 2: g0 + g1; S = 3: (g0 + g1) + g2 (both as the old left-to-right order); S = 4: (g0 + g1) + (g2 + g3);
// S = 6: ((g0 + g1) + (g2 + g3)) + (g4 + g5). A "subtree" is any node of this tree; a node may pre-add exactly the
// shards of a whole subtree, and a "frontier" is a list of subtrees that tile a node, in shard order.
// Leaves out: the additions themselves (ShardReduction) and who holds which subtree (the cluster's business).
namespace DistBackprop.Core.Training;

/// <summary>A node of the reduction tree: the shards [<see cref="Start"/>, <see cref="End"/>).</summary>
public readonly record struct Subtree(int Start, int End)
{
    public int Count => End - Start;

    public bool IsLeaf => Count == 1;

    /// <summary>The leaf of shard <paramref name="shard"/>.</summary>
    public static Subtree Leaf(int shard) => new(shard, shard + 1);

    public bool Contains(int shard) => shard >= Start && shard < End;

    public bool Contains(Subtree other) => other.Start >= Start && other.End <= End;

    public override string ToString() => Count == 1 ? $"[{Start}]" : $"[{Start}, {End})";
}

/// <summary>
/// The reduction tree of <see cref="Shards"/> shards (see the file comment for the rule). Immutable; nothing here
/// allocates except the methods that return new arrays (<see cref="Cut"/>, the <see cref="Decompose(IEnumerable{int})"/>
/// convenience overload).
/// </summary>
public sealed class ReductionTree
{
    public ReductionTree(int shards)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        Shards = shards;
        Depth = shards == 1 ? 0 : 32 - int.LeadingZeroCount(shards - 1); // ⌈log₂ S⌉
        var leaves = new Subtree[shards];
        for (var s = 0; s < shards; s++)
        {
            leaves[s] = Subtree.Leaf(s);
        }

        Leaves = leaves;
    }

    public int Shards { get; }

    /// <summary>Edges from the root to the deepest leaf: ⌈log₂ S⌉. The additions of a node need this many partial buffers at most.</summary>
    public int Depth { get; }

    public Subtree Root => new(0, Shards);

    /// <summary>The S leaves in shard order: the frontier of a step whose shards all arrive on their own.</summary>
    public IReadOnlyList<Subtree> Leaves { get; }

    /// <summary>Where a node [<paramref name="start"/>, <paramref name="end"/>) of two or more shards splits: start + the largest power of two below end − start.</summary>
    public static int SplitPoint(int start, int end)
    {
        var count = end - start;
        if (count < 2)
        {
            throw new ArgumentException($"[{start}, {end}) has no children", nameof(end));
        }

        return start + (int)(1u << (31 - int.LeadingZeroCount(count - 1)));
    }

    /// <summary>The two children of an inner node (left first).</summary>
    public (Subtree Left, Subtree Right) Children(Subtree node)
    {
        Check(node, nameof(node));
        if (node.IsLeaf)
        {
            throw new ArgumentException($"{node} is a leaf", nameof(node));
        }

        var m = SplitPoint(node.Start, node.End);
        return (new Subtree(node.Start, m), new Subtree(m, node.End));
    }

    /// <summary>Whether <paramref name="node"/> is a node of this tree (a whole subtree that may be pre-added).</summary>
    public bool IsNode(Subtree node)
    {
        if (node.Start < 0 || node.End > Shards || node.Count < 1)
        {
            return false;
        }

        int a = 0, b = Shards;
        while (true)
        {
            if (a == node.Start && b == node.End)
            {
                return true;
            }

            if (b - a < 2)
            {
                return false;
            }

            var m = SplitPoint(a, b);
            if (node.End <= m)
            {
                b = m;
            }
            else if (node.Start >= m)
            {
                a = m;
            }
            else
            {
                return false; // straddles the split
            }
        }
    }

    /// <summary>The node one level up; false for the root.</summary>
    public bool TryGetParent(Subtree node, out Subtree parent)
    {
        Check(node, nameof(node));
        parent = default;
        int a = 0, b = Shards;
        while (!(a == node.Start && b == node.End))
        {
            parent = new Subtree(a, b);
            var m = SplitPoint(a, b);
            (a, b) = node.End <= m ? (a, m) : (m, b);
        }

        return parent.Count > 0;
    }

    /// <summary>How many edges below the root <paramref name="node"/> lies.</summary>
    public int DepthOf(Subtree node)
    {
        Check(node, nameof(node));
        var depth = 0;
        for (int a = 0, b = Shards; !(a == node.Start && b == node.End); depth++)
        {
            var m = SplitPoint(a, b);
            (a, b) = node.End <= m ? (a, m) : (m, b);
        }

        return depth;
    }

    /// <summary>
    /// The largest subtrees that a set of shards forms (what a node holding exactly those shards may pre-add), in shard
    /// order, written to <paramref name="into"/>; returns how many. <paramref name="shards"/>: distinct, ascending. A
    /// shard that completes no subtree with the others comes back as its own leaf.
    /// </summary>
    public int Decompose(ReadOnlySpan<int> shards, Span<Subtree> into)
    {
        for (var i = 0; i < shards.Length; i++)
        {
            if ((uint)shards[i] >= (uint)Shards || (i > 0 && shards[i] <= shards[i - 1]))
            {
                throw new ArgumentException($"shards must be distinct, ascending and in [0, {Shards}); got {shards[i]} at {i}", nameof(shards));
            }
        }

        var count = 0;
        Collect(0, Shards, shards, into, ref count);
        return count;
    }

    /// <summary>
    /// The largest subtrees that disjoint subtrees <paramref name="parts"/> (e.g. a node's own shards as leaves plus the
    /// subtrees its children sent) form together, in shard order; returns how many were written to <paramref name="into"/>.
    /// </summary>
    public int Decompose(ReadOnlySpan<Subtree> parts, Span<Subtree> into)
    {
        for (var i = 0; i < parts.Length; i++)
        {
            if (!IsNode(parts[i]))
            {
                throw new ArgumentException($"{parts[i]} is not a subtree of the reduction tree of {Shards} shards", nameof(parts));
            }

            for (var j = 0; j < i; j++)
            {
                if (parts[j].Start < parts[i].End && parts[i].Start < parts[j].End)
                {
                    throw new ArgumentException($"{parts[j]} and {parts[i]} overlap", nameof(parts));
                }
            }
        }

        var count = 0;
        Collect(0, Shards, parts, into, ref count);
        return count;
    }

    /// <summary>The largest subtrees a set of shards forms (allocates; see <see cref="Decompose(ReadOnlySpan{int}, Span{Subtree})"/>).</summary>
    public Subtree[] Decompose(IEnumerable<int> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        var sorted = shards.Distinct().Order().ToArray();
        var into = new Subtree[Math.Max(1, sorted.Length)];
        return into[..Decompose(sorted, into)];
    }

    /// <summary>
    /// A frontier of min(<paramref name="parts"/>, S) subtrees that tile [0, S): starting from the root, the subtree
    /// with the most shards (the leftmost among equals) is replaced by its two children until there are enough. A
    /// coordinator with fan-in K can give each of K children one of <c>Cut(K)</c>.
    /// </summary>
    public Subtree[] Cut(int parts) => Cut(Root, parts);

    /// <summary>The same cut of the subtree <paramref name="node"/>: min(<paramref name="parts"/>, its shards) whole subtrees that tile it.</summary>
    public Subtree[] Cut(Subtree node, int parts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        if (!IsNode(node))
        {
            throw new ArgumentException($"{node} is not a node of the {Shards}-shard reduction tree", nameof(node));
        }

        var frontier = new List<Subtree>(Math.Min(parts, node.Count)) { node };
        while (frontier.Count < parts)
        {
            var widest = -1;
            for (var i = 0; i < frontier.Count; i++)
            {
                if (!frontier[i].IsLeaf && (widest < 0 || frontier[i].Count > frontier[widest].Count))
                {
                    widest = i;
                }
            }

            if (widest < 0)
            {
                break; // all leaves
            }

            var (left, right) = Children(frontier[widest]);
            frontier[widest] = left;
            frontier.Insert(widest + 1, right);
        }

        return [.. frontier];
    }

    /// <summary>
    /// Null when <paramref name="parts"/> (in this order) is a frontier of <paramref name="of"/>: subtrees of this tree, in
    /// shard order, that tile it exactly; otherwise what is wrong.
    /// </summary>
    public string? CheckFrontier(ReadOnlySpan<Subtree> parts, Subtree of)
    {
        if (CheckTarget(of) is { } bad)
        {
            return bad;
        }

        if (parts.Length == 0)
        {
            return $"no partial sums for {of}";
        }

        var next = of.Start;
        for (var i = 0; i < parts.Length; i++)
        {
            if (CheckPart(i, parts[i], ref next, of) is { } wrong)
            {
                return wrong;
            }
        }

        return CheckEnd(next, of);
    }

    // one entry of a frontier of `of` that should start at shard `next` (then `next` moves past it)
    internal string? CheckPart(int index, Subtree p, ref int next, Subtree of)
    {
        if (p.Start != next)
        {
            return p.Start < next
                ? $"partial sum {index} covers {p}, which overlaps or comes before shard {next}"
                : $"shards [{next}, {p.Start}) of {of} are missing before partial sum {index} ({p})";
        }

        if (p.End > of.End || !IsNode(p))
        {
            return $"partial sum {index} covers {p}, which is not a subtree of {of} in the reduction tree of {Shards} shards";
        }

        next = p.End;
        return null;
    }

    internal string? CheckTarget(Subtree of) => IsNode(of) ? null : $"{of} is not a subtree of the reduction tree of {Shards} shards";

    internal static string? CheckEnd(int next, Subtree of) => next == of.End ? null : $"shards [{next}, {of.End}) of {of} are missing";

    // the largest nodes inside [a, b) wholly covered by the given shards or parts, left to right
    private static void Collect(int a, int b, ReadOnlySpan<int> shards, Span<Subtree> into, ref int count)
    {
        var inside = CountInside(shards, a, b);
        if (inside == 0)
        {
            return;
        }

        if (inside == b - a)
        {
            into[count++] = new Subtree(a, b);
            return;
        }

        var m = SplitPoint(a, b);
        Collect(a, m, shards, into, ref count);
        Collect(m, b, shards, into, ref count);
    }

    private static void Collect(int a, int b, ReadOnlySpan<Subtree> parts, Span<Subtree> into, ref int count)
    {
        var covered = 0;
        foreach (var p in parts)
        {
            covered += Math.Max(0, Math.Min(b, p.End) - Math.Max(a, p.Start));
        }

        if (covered == 0)
        {
            return;
        }

        if (covered == b - a)
        {
            into[count++] = new Subtree(a, b);
            return;
        }

        var m = SplitPoint(a, b);
        Collect(a, m, parts, into, ref count);
        Collect(m, b, parts, into, ref count);
    }

    private static int CountInside(ReadOnlySpan<int> sorted, int a, int b)
    {
        var lo = LowerBound(sorted, a);
        return LowerBound(sorted, b) - lo;
    }

    private static int LowerBound(ReadOnlySpan<int> sorted, int value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private void Check(Subtree node, string name)
    {
        if (!IsNode(node))
        {
            throw new ArgumentException($"{node} is not a subtree of the reduction tree of {Shards} shards", name);
        }
    }
}
