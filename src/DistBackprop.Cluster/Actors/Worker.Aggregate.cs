// The worker actor, part 4: its place in a step's aggregation tree (--fan-in, docs/aggregation.md). The coordinator's
// AggregateRole comes just before the ComputeShards of the step (the parent's relay may come before both: it is kept
// until the role for its step arrives); once the worker holds the weights (from the coordinator, or relayed by its parent) it relays them to its children at once, computes its own leaves without
// sending them, takes its children's partial sums (only from each child's path, each once), and when all are in adds
// them along the reduction tree (Core) into one sum for its subtree: to its parent, or — a group's head — to the
// coordinator as the ShardComputed of its piece. Leaves out: the star (Worker.Serving.cs) and the math (Core).
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

public sealed partial class Worker
{
    private readonly Dictionary<int, ReductionTree> _trees = new();
    private (RelayedWeights Relayed, string From)? _early; // weights relayed before this worker's role for their step arrived

    private void HandleRole(AggregateRole m)
    {
        if (_aggregation is { } old)
        {
            Abandon(old); // a role for another step (or a new role in this one): the old parts are no use any more
        }

        if (!_trees.TryGetValue(m.Shards, out var tree))
        {
            _trees[m.Shards] = tree = new ReductionTree(m.Shards);
        }

        _aggregation = new Aggregation(m, tree);
        _parked.RemoveAll(p => p.Step <= m.Step); // work parked under an older role: its ComputeShards comes again with this one
        if (_early is { } early && early.Relayed.Step <= m.Step)
        {
            _early = null;
            ApplyRelayed(early.Relayed, early.From); // the parent was quicker than the coordinator's role (two senders, no order between them)
        }
    }

    /// <summary>The parent's copy of the weights: only from the parent the role names, for the role's step.</summary>
    private void HandleRelayed(RelayedWeights m)
    {
        var from = Sender.Path.ToString();
        if (_aggregation is null || _aggregation.Step < m.Step)
        {
            // the role for that step has not come yet: keep the newest such copy until it does (then checked against it)
            if (_early is { } older)
            {
                _serializer?.Pool.Return(older.Relayed.Weights);
            }

            _early = (m, from);
            return;
        }

        ApplyRelayed(m, from);
    }

    private void ApplyRelayed(RelayedWeights m, string from)
    {
        if (_aggregation is not { FromParent: true } a || a.Step != m.Step || !string.Equals(from, a.Role.ParentPath, StringComparison.Ordinal))
        {
            _log.Debug("worker {0}: weights relayed by {1} for step {2}, not expected; dropped", _settings.WorkerId, from, m.Step);
            _serializer?.Pool.Return(m.Weights);
            return;
        }

        if (m.WeightsVersion > _weightsVersion)
        {
            _buffers.Retire(_weights);
            (_weights, _weightsVersion) = (m.Weights, m.WeightsVersion);
        }

        var parked = _parked.ToArray();
        _parked.Clear();
        foreach (var work in parked)
        {
            if (work.WeightsVersion >= m.WeightsVersion)
            {
                Accept(work);
            }
        }

        _buffers.ReturnRetired(_jobs, _weights);
    }

    private void RelayWeights(Aggregation a)
    {
        if (a.Relayed || _weights is null)
        {
            return;
        }

        a.Relayed = true;
        foreach (var child in a.Role.Children)
        {
            Context.ActorSelection(child.Path).Tell(new RelayedWeights(a.Step, _weightsVersion, _weights));
        }
    }

    private void OwnLeafDone(Job job, GradientSum sum, double computeMs, string? error)
    {
        if (error is not null || _aggregation is not { } a || !ReferenceEquals(a, job.Aggregation) || !a.AddOwn(job.Work.Shard, sum))
        {
            if (error is not null)
            {
                _log.Error("worker {0}: step {1} shard {2} failed: {3}", _settings.WorkerId, job.Step, job.Work.Shard, error);
            }

            _buffers.Free(sum); // never sent (the coordinator takes the piece back at its deadline)
            return;
        }

        a.ComputeMs += computeMs;
        TryFinish(a);
    }

    private void HandlePartial(PartialComputed m)
    {
        if (_aggregation is not { } a || a.Step != m.Step || a.AddChild(Sender.Path.ToString(), m) is { } problem && Drop(problem))
        {
            _serializer?.Pool.Return(m.Gradient);
            return;
        }

        TryFinish(a);

        bool Drop(string why)
        {
            _log.Warning("worker {0}: step {1}: a partial sum from {2} dropped: {3}", _settings.WorkerId, m.Step, Sender.Path, why);
            return true;
        }
    }

    /// <summary>Every part is in: add them along the reduction tree and send the subtree's sum up.</summary>
    private void TryFinish(Aggregation a)
    {
        if (!a.IsComplete)
        {
            return;
        }

        var start = Stopwatch.GetTimestamp();
        var output = _buffers.Rent(_mlp!.Spec.ParameterCount);
        ShardReduction.SumSubtree(a.Parts(), a.Tree, a.Node, output, _pool);
        var ms = a.ComputeMs + Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        Abandon(a); // own sums and the children's arrays are read: free
        if (a.Role.ParentPath is { } parent)
        {
            Context.ActorSelection(parent).Tell(new PartialComputed(a.Step, a.Role.NodeStart, a.Role.NodeEnd, output.Gradient, output.LossSum, output.Samples, output.Correct, ms));
        }
        else
        {
            _transport?.DeliverPiece(a.Step, _weightsVersion, ~a.Role.Piece, output, ms); // ~piece: never taken for a shard (GradientRound.SlotOf)
        }

        _buffers.Lend(a.Step, output); // free again when work for a later step arrives
    }

    /// <summary>Frees what an aggregation holds (its own leaves' sums; its children's arrays back to the pool) and forgets it.</summary>
    private void Abandon(Aggregation a)
    {
        foreach (var own in a.OwnSums.ToList())
        {
            _buffers.Free(own);
        }

        foreach (var borrowed in a.Borrowed)
        {
            _serializer?.Pool.Return(borrowed);
        }

        if (ReferenceEquals(_aggregation, a))
        {
            _aggregation = null;
        }
    }

    /// <summary>An aggregation's own leaf is computed without streaming (it stays here); a star shard through the transport.</summary>
    private static double Compute(IWorkerTransport transport, Job job, Mlp<float> mlp, Dataset data, GradientSum sum)
    {
        if (!job.Aggregate)
        {
            return transport.Compute(job, mlp, data, sum);
        }

        var start = Stopwatch.GetTimestamp();
        ReferenceTrainer.ComputeShard(mlp, job.Weights, data, job.Work.Indices, sum, job.Step);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
