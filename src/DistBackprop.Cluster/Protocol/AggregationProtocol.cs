// The aggregation tree of one step (`--fan-in K`, docs/aggregation.md): when more workers are live than the fan-in, the
// coordinator deals each of at most K pieces of the reduction tree (whole subtrees of shards) to a group of workers
// arranged as a tree. Every member gets its AggregateRole (which subtree it answers for, the leaves it computes itself,
// its children and their subtrees, its parent) just before its ComputeShards; a parent relays the weights to its
// children (RelayedWeights) and adds its own leaves and its children's partial sums along the reduction tree into one
// PartialComputed for its subtree, which it sends up — the group's head sends it to the coordinator as the piece's
// ShardComputed (Shard = the piece's index). Leaves out: the star (RoundProtocol.cs), where every shard goes back alone.
namespace DistBackprop.Cluster.Protocol;

/// <summary>A child of an aggregating worker: the actor path to relay weights to, and the subtree [NodeStart, NodeEnd) it answers for.</summary>
public sealed record AggregateChild(string Path, int NodeStart, int NodeEnd) : IControlMessage;

/// <summary>
/// A worker's place in step <paramref name="Step"/>'s aggregation tree: it answers for the subtree [<paramref name="NodeStart"/>,
/// <paramref name="NodeEnd"/>) of the <paramref name="Shards"/>-shard reduction tree, computes the leaves its ComputeShards lists,
/// and adds its <paramref name="Children"/>' partial sums. <paramref name="ParentPath"/>: where its partial sum goes (null: the
/// coordinator, as the ShardComputed of piece <paramref name="Piece"/>) and where its weights come from (null: the coordinator).
/// </summary>
public sealed record AggregateRole(long Step, int Piece, int Shards, int NodeStart, int NodeEnd, string? ParentPath, AggregateChild[] Children) : IControlMessage;

/// <summary>A parent's copy of weights version <paramref name="WeightsVersion"/> for its child (read-only; in process the array itself).</summary>
public sealed record RelayedWeights(long Step, long WeightsVersion, float[] Weights) : ITensorMessage;

/// <summary>
/// A child's sum over its whole subtree [<paramref name="NodeStart"/>, <paramref name="NodeEnd"/>) of step <paramref name="Step"/>,
/// added along the reduction tree (the only pre-adding SPEC §3 allows), for its parent. Ownership of <paramref name="Gradient"/>
/// as for ShardComputed: the receiver may read it until the child gets work for a later step.
/// </summary>
public sealed record PartialComputed(long Step, int NodeStart, int NodeEnd, float[] Gradient, double LossSum, int Samples, int Correct, double ComputeMs) : ITensorMessage;
