// The simulation, part 4: simulated workers in an aggregation tree (--fan-in), doing what a real worker is seen to do —
// take its role, get the weights from the coordinator (a head) or its parent (relayed; a relay that comes before the role
// is kept for it), relay them to its children at once, compute its own leaves, take its children's partial sums (each
// from that child only), and add everything along the reduction tree (the same Core call) into one sum for its parent or,
// a head, for the coordinator. Faults come from the chaos phase as for the star: a member that dies or goes silent
// leaves its group's piece to the coordinator's rules.
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Tests.Simulation;

/// <summary>A simulated worker's place in one step's aggregation tree.</summary>
internal sealed class SimRole(long step, int piece, GroupRole role)
{
    public long Step { get; } = step;

    public int Piece { get; } = piece;

    public GroupRole Role { get; } = role;

    public int? OwnExpected { get; set; }

    public bool Relayed { get; set; }

    public bool Sent { get; set; }

    public List<PartialSum> Parts { get; } = new();

    public List<ComputeShards> Parked { get; } = new();
}

internal sealed partial class ProtocolWorld
{
    private SimWorker? ByHandle(WorkerHandle h) => _workers.FirstOrDefault(w => w.Handle == h.Value);

    private void OnRole(SimWorker w, long step, int piece, GroupRole role)
    {
        if (!w.Good)
        {
            return;
        }

        w.Role = new SimRole(step, piece, role);
        if (w.EarlyRelay is { } early && early.Step == step)
        {
            w.EarlyRelay = null;
            OnRelay(w, early.From, step, early.Version, early.Weights);
        }
    }

    /// <summary>Work of a step the worker has a role in.</summary>
    private void TreeCompute(SimWorker w, SimRole r, ComputeShards work)
    {
        if (!work.Shards.All(s => r.Role.Own.Contains(s.Shard)))
        {
            Send(w, $"WorkDeclined step {work.Step} (not its role's)", () => _machine.Declined(HandleOf(w), new WorkDeclined(w.Id, work.Step, work.WeightsVersion, work.Shards.Select(s => s.Shard).ToArray())));
            return;
        }

        r.OwnExpected = r.Role.Own.Length; // all of its own leaves, whatever one message carries
        if (!r.Role.Parent.IsNone && work.WeightsVersion > w.HeldVersion)
        {
            r.Parked.Add(work); // its parent relays the weights
            return;
        }

        if (work.WeightsVersion != w.HeldVersion || w.Weights is null)
        {
            Send(w, $"WorkDeclined step {work.Step}", () => _machine.Declined(HandleOf(w), new WorkDeclined(w.Id, work.Step, work.WeightsVersion, work.Shards.Select(s => s.Shard).ToArray())));
            return;
        }

        if (!r.Relayed)
        {
            r.Relayed = true;
            foreach (var (child, _) in r.Role.Children)
            {
                if (ByHandle(child) is { Alive: true } c && w.Alive)
                {
                    var weights = w.Weights;
                    c.ToWorker.Enqueue(($"RelayedWeights step {work.Step} from {w}", () => OnRelay(c, w, work.Step, work.WeightsVersion, weights)));
                }
            }
        }

        foreach (var s in work.Shards)
        {
            if (r.Parts.Exists(p => p.Node == Subtree.Leaf(s.Shard)))
            {
                continue;
            }

            var sum = new GradientSum(Spec.ParameterCount);
            ReferenceTrainer.ComputeShard(_mlp, w.Weights, Data, s.Indices, sum);
            r.Parts.Add(new PartialSum(Subtree.Leaf(s.Shard), sum));
        }

        TryFinish(w, r);
    }

    private void OnRelay(SimWorker w, SimWorker from, long step, long version, float[] weights)
    {
        if (!w.Good)
        {
            return;
        }

        if (w.Role is not { } r || r.Step < step)
        {
            w.EarlyRelay = (step, version, weights, from); // before its role: kept for it
            return;
        }

        if (r.Step != step || r.Role.Parent.Value != from.Handle)
        {
            return;
        }

        if (version > w.HeldVersion)
        {
            (w.Weights, w.HeldVersion) = (weights, version);
        }

        var parked = r.Parked.ToList();
        r.Parked.Clear();
        foreach (var work in parked)
        {
            Compute(w, work);
        }
    }

    private void OnPartial(SimWorker w, SimWorker from, long step, Subtree node, GradientSum sum)
    {
        if (!w.Good || w.Role is not { } r || r.Step != step)
        {
            return;
        }

        var child = Array.FindIndex(r.Role.Children, c => c.Node == node);
        if (child < 0 || r.Role.Children[child].Worker.Value != from.Handle || r.Parts.Exists(p => p.Node == node))
        {
            return;
        }

        r.Parts.Add(new PartialSum(node, sum));
        TryFinish(w, r);
    }

    private void TryFinish(SimWorker w, SimRole r)
    {
        if (r.Sent || r.OwnExpected is not int own || r.Parts.Count != own + r.Role.Children.Length || w.Silent)
        {
            return;
        }

        r.Sent = true;
        r.Parts.Sort((a, b) => a.Node.Start.CompareTo(b.Node.Start));
        var sum = new GradientSum(Spec.ParameterCount);
        ShardReduction.SumSubtree(r.Parts, _state.Tree, r.Role.Node, sum);
        if (ByHandle(r.Role.Parent) is { } parent)
        {
            if (parent.Alive && w.Alive)
            {
                parent.ToWorker.Enqueue(($"PartialComputed step {r.Step} {r.Role.Node} from {w}", () => OnPartial(parent, w, r.Step, r.Role.Node, sum)));
            }

            return;
        }

        _origins[sum.Gradient] = (w, r.Step, r.Piece);
        var reply = new ShardComputed(r.Step, ~r.Piece, sum.Gradient, sum.LossSum, sum.Samples, sum.Correct, 0.1, 0); // ~piece, as a real head
        if (w.LastReply is { } last && last.Step < r.Step)
        {
            w.OlderReply = last;
        }

        w.LastReply = reply;
        SendReply(w, reply, $"ShardComputed step {r.Step} piece {r.Piece} {r.Role.Node}");
    }
}
