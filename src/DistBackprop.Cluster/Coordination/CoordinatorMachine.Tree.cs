// The coordinator's state machine, part 4: a step dealt as an aggregation tree (--fan-in K, more than K live workers;
// docs/aggregation.md). The slots of the round are the pieces AggregationPlanner cut the reduction tree into; each goes
// to a group, whose head is the slot's assignee and whose every member the slot depends on (any of them lost: the
// whole piece is taken back, and goes to one worker alone). Each member gets its role, then its ComputeShards (its own
// leaves); only heads get the weights from the coordinator, the others from their parent. Leaves out: the star.
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Coordination;

public sealed partial class CoordinatorMachine
{
    /// <summary>Step 2–3 with aggregation groups: pieces, groups, roles and work for every member of <see cref="_live"/>.</summary>
    private void BeginTreeRound(long step, int[][] shardIndices)
    {
        var handles = _live.Select(w => w.Handle).ToArray();
        var (pieces, groups) = AggregationPlanner.Plan(_state.Tree, handles, _settings.FanIn);
        var rows = pieces.Select(p => shardIndices[p.Start..p.End].SelectMany(x => x).ToArray()).ToArray();
        _round = new GradientRound(step, pieces, rows, Now);
        _shardIndices = shardIndices;
        for (var i = 0; i < pieces.Length; i++)
        {
            SendGroup(i, groups[i]);
        }
    }

    private void SendGroup(int piece, GroupRole[] roles)
    {
        var round = _round!;
        var head = _workers.Find(roles[0].Worker)!;
        round.Assign(piece, head.Handle, head.Id, Now + _deadlineTicks, [.. roles.Select(r => r.Worker)]);
        foreach (var role in roles)
        {
            SendRole(piece, role);
        }
    }

    /// <summary>A piece taken back from its group: one live worker computes all of its shards and adds them up.</summary>
    private void SendSolo(WorkerEntry w, int piece)
    {
        var round = _round!;
        round.Assign(piece, w.Handle, w.Id, Now + _deadlineTicks);
        var node = round.NodeOf(piece);
        SendRole(piece, new GroupRole(w.Handle, node, [.. Enumerable.Range(node.Start, node.Count)], WorkerHandle.None, []));
    }

    /// <summary>One member's role and work: the weights only when it reports to the coordinator (its parent relays them otherwise).</summary>
    private void SendRole(int piece, GroupRole role)
    {
        var w = _workers.Find(role.Worker)!;
        var version = _state.Step;
        _out.Plan(role.Worker, _round!.Step, piece, _state.Config.Shards, role);
        var work = role.Own.Select(s => new ShardWork(s, _shardIndices[s])).ToArray();
        var weights = role.Parent.IsNone && w.WeightsVersion != version ? _snapshot : null;
        w.WeightsVersion = version; // a relay that never arrives is declined by the worker, and then sent again
        _out.SendWork(role.Worker, new ComputeShards(_round.Step, version, work, null), weights);
    }
}
