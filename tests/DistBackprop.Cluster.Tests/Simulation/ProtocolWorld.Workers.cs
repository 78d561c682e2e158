// The simulation, part 2: what simulated workers do with the coordinator's messages, the faults a schedule injects,
// and the coordinator's commands (ICoordinatorOutbox) — where the invariants are checked as each step completes.
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Tests.Simulation;

internal sealed partial class ProtocolWorld
{
    // ---- workers ---------------------------------------------------------------------------------------

    private void Join(bool bad)
    {
        var w = new SimWorker(++_nextHandle, $"w{_nextHandle:D2}{(bad ? "-bad" : string.Empty)}", bad);
        _workers.Add(w);
        Trace($"{w} joins");
        SendRegister(w);
    }

    private WorkerHandle HandleOf(SimWorker w) => w.Forgotten ? WorkerHandle.None : new WorkerHandle(w.Handle);

    private void SendRegister(SimWorker w) => Send(w, "RegisterWorker", () =>
    {
        if (w.Forgotten)
        {
            w.Forgotten = false; // the shell gives a registering sender a new handle
            w.Handle = ++_nextHandle;
        }

        _machine.Register(HandleOf(w), new RegisterWorker(w.Id, Gemm.KernelPath, w.Bad ? OtherModel : null, null, 1), "sim");
    });

    private static void Send(SimWorker w, string what, Action deliver)
    {
        if (w.Alive)
        {
            w.ToCoordinator.Enqueue((what, deliver));
        }
    }

    private void OnAccepted(SimWorker w)
    {
        if (!w.Good || w.Registered)
        {
            return; // an answer to a retry
        }

        w.Registered = true;
        var ready = ("WorkerReady", (Action)(() => _machine.Ready(HandleOf(w), new WorkerReady(w.Id, Data.Fingerprint))));
        var opened = ("ChannelOpened", (Action)(() => _machine.ChannelOpened(HandleOf(w))));
        if (_channel && _rng.Next(2) == 0)
        {
            (ready, opened) = (opened, ready);
        }

        Send(w, ready.Item1, ready.Item2);
        if (_channel)
        {
            Send(w, opened.Item1, opened.Item2);
        }
    }

    private void OnWork(SimWorker w, ComputeShards work, float[]? weights)
    {
        if (!w.Good || w.Left)
        {
            return;
        }

        if (weights is not null)
        {
            (w.Weights, w.HeldVersion) = (weights, work.WeightsVersion);
        }

        if (w.Silent)
        {
            w.HeldWork.Add((work, w.Role is { } r && r.Step == work.Step ? r : null));
            return;
        }

        Compute(w, work);
    }

    /// <summary>The real worker's rule: compute with the weights version the work names, or decline it.</summary>
    private void Compute(SimWorker w, ComputeShards work)
    {
        if (w.Role is { } role && role.Step == work.Step)
        {
            TreeCompute(w, role, work); // ProtocolWorld.Tree.cs
            return;
        }

        StarCompute(w, work);
    }

    private void StarCompute(SimWorker w, ComputeShards work)
    {
        if (work.WeightsVersion != w.HeldVersion || w.Weights is null)
        {
            Send(w, $"WorkDeclined step {work.Step}", () => _machine.Declined(HandleOf(w), new WorkDeclined(w.Id, work.Step, work.WeightsVersion, work.Shards.Select(s => s.Shard).ToArray())));
            return;
        }

        foreach (var s in work.Shards)
        {
            var sum = new GradientSum(Spec.ParameterCount);
            ReferenceTrainer.ComputeShard(_mlp, w.Weights, Data, s.Indices, sum);
            _origins[sum.Gradient] = (w, work.Step, s.Shard);
            var reply = new ShardComputed(work.Step, s.Shard, sum.Gradient, sum.LossSum, sum.Samples, sum.Correct, 0.1, 0);
            if (w.LastReply is { } last && last.Step < work.Step)
            {
                w.OlderReply = last;
            }

            w.LastReply = reply;
            SendReply(w, reply, $"ShardComputed step {work.Step} shard {s.Shard}");
        }
    }

    /// <summary>A reply over the worker's transport: its tensor channel when the run has one, else inside an Akka message.</summary>
    private void SendReply(SimWorker w, ShardComputed reply, string what) => Send(w, what, () => _machine.ShardComputed(HandleOf(w), reply,
        _channel ? ReplyPath.Channel : ReplyPath.Akka, GradientSum.AllFinite(reply.Gradient, reply.LossSum)));

    // ---- faults -------------------------------------------------------------------------------------------

    private void Fault()
    {
        var any = _workers.Where(w => w.Alive).ToList();
        var w = any.Count > 0 ? any[_rng.Next(any.Count)] : null;
        switch (_rng.Next(w is null ? 1 : 13))
        {
            case 0:
                Join(bad: _rng.Next(10) == 0); // late joiner (one in ten with the wrong architecture)
                break;
            case 1:
                Crash(w!);
                break;
            case 2 when !w!.Unreachable:
                w.Unreachable = true;
                Trace($"fault: {w} unreachable");
                _cluster.Enqueue(($"{w} unreachable", () => _machine.Reachability(new WorkerHandle(w.Handle), reachable: false)));
                break;
            case 2:
                Heal(w);
                break;
            case 3 when _channel && w!.Registered:
                Trace($"fault: {w} channel breaks");
                Send(w, "ChannelClosed", () => _machine.ChannelClosed(HandleOf(w), "connection reset (simulated)"));
                (w.Registered, w.Weights, w.HeldVersion) = (false, null, -1);
                w.HeldWork.Clear();
                SendRegister(w);
                break;
            case 4 when w!.Good && _rng.Next(3) == 0:
                Trace($"fault: {w} leaves");
                w.Left = true;
                Send(w, "WorkerLeaving", () => _machine.Leaving(HandleOf(w), new WorkerLeaving(w.Id, _machine.CurrentStep, [])));
                break;
            case 5 when !w!.Silent:
                Trace($"fault: {w} goes silent");
                w.Silent = true;
                break;
            case 5:
                Resume(w);
                break;
            case 6:
                Trace($"fault: {w} loses its weights");
                (w!.Weights, w.HeldVersion) = (null, -1);
                break;
            case 7 when w!.LastReply is { } dup:
                SendReply(w, dup, $"duplicate ShardComputed step {dup.Step} shard {dup.Shard}");
                break;
            case 8 when w!.OlderReply is { } old:
                SendReply(w, old, $"stale ShardComputed step {old.Step} shard {old.Shard}");
                break;
            case 9 or 10:
                Forge(w!);
                break;
            case 11 when w!.LastReply is { } last && last.Step == _machine.CurrentStep:
                Corrupt(w, last);
                break;
        }
    }

    private void Crash(SimWorker w)
    {
        Trace($"fault: {w} crashes");
        w.Alive = false;
        w.ToWorker.Clear();
        if (_rng.Next(2) == 0)
        {
            w.ToCoordinator.Clear(); // what it sent may die with it
        }

        if (w.Watched)
        {
            DeathNotices(w);
        }
    }

    private void DeathNotices(SimWorker w)
    {
        _cluster.Enqueue(($"{w} terminated", () => _machine.Terminated(HandleOf(w), removed: false)));
        if (_rng.Next(2) == 0)
        {
            _cluster.Enqueue(($"{w} removed from the cluster", () => _machine.Terminated(HandleOf(w), removed: true)));
        }
    }

    private void Heal(SimWorker w)
    {
        w.Unreachable = false;
        Trace($"fault: {w} reachable again");
        _cluster.Enqueue(($"{w} reachable", () => _machine.Reachability(new WorkerHandle(w.Handle), reachable: true)));
    }

    private void Resume(SimWorker w)
    {
        Trace($"{w} answers again");
        w.Silent = false;
        var held = w.HeldWork.ToList();
        w.HeldWork.Clear();
        foreach (var (work, role) in held)
        {
            if (role is null)
            {
                StarCompute(w, work); // it came before any role of its step: star work
            }
            else if (ReferenceEquals(role, w.Role))
            {
                TreeCompute(w, role, work); // work of a role replaced meanwhile feeds nothing
            }
        }

        if (w.Role is { } r)
        {
            TryFinish(w, r); // its children's sums may all be in
        }
    }

    /// <summary>
    /// <paramref name="w"/> sends its own reply again, damaged: a sample count off by one, a gradient one value short, or (at
    /// most once per shard, since a second non-finite result is believed) a NaN. It must be refused and the shard recomputed.
    /// </summary>
    private void Corrupt(SimWorker w, ShardComputed reply)
    {
        var kind = _rng.Next(3);
        if (kind == 2 && !_poisoned.Add((reply.Step, reply.Shard)))
        {
            kind = 0;
        }

        var bad = kind switch
        {
            0 => reply with { Gradient = reply.Gradient.ToArray(), Samples = reply.Samples + (_rng.Next(2) == 0 ? 1 : -1) },
            1 => reply with { Gradient = reply.Gradient[..^1] },
            _ => reply with { Gradient = reply.Gradient.ToArray() },
        };
        if (kind == 2)
        {
            bad.Gradient[_rng.Next(bad.Gradient.Length)] = float.NaN;
        }

        _origins[bad.Gradient] = (w, reply.Step, Slot(reply.Shard));
        SendReply(w, bad, $"corrupt ({(kind == 0 ? "samples" : kind == 1 ? "short" : "NaN")}) ShardComputed step {reply.Step} shard {reply.Shard}");
    }

    /// <summary>The slot a reply's Shard field names (a head answers for piece p as ~p).</summary>
    private static int Slot(int replyShard) => replyShard < 0 ? ~replyShard : replyShard;

    /// <summary>Another worker's reply for the open step, sent as <paramref name="w"/>'s own (a fresh array, correct bits).</summary>
    private void Forge(SimWorker w)
    {
        var victim = _workers.Where(v => v != w && v.LastReply is { } r && r.Step == _machine.CurrentStep).Select(v => v.LastReply!).FirstOrDefault();
        if (victim is null)
        {
            return;
        }

        var copy = victim.Gradient.ToArray();
        var unregistered = _rng.Next(2) == 0;
        _origins[copy] = (unregistered ? null : w, victim.Step, Slot(victim.Shard));
        var forged = victim with { Gradient = copy };
        Trace($"fault: forged ShardComputed step {forged.Step} shard {forged.Shard} from {(unregistered ? "an unregistered sender" : w.ToString())}");
        var path = _channel && _rng.Next(2) == 0 ? ReplyPath.Channel : ReplyPath.Akka; // with a channel, an Akka reply can claim any sender
        Send(w, "forged ShardComputed", () => _machine.ShardComputed(unregistered ? WorkerHandle.None : HandleOf(w), forged, path, true));
    }
}
