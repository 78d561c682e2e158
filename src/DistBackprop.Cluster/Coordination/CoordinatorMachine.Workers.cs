// The coordinator's state machine, part 3: workers coming and going — registration, readiness, the tensor channel,
// reachability, death, graceful leave, declined work (protocol steps 1 and 5 in CoordinatorMachine.cs). Each event
// changes the WorkerRegistry, takes back what a lost worker held, and ends in Advance(). Leaves out: the round itself.
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Coordination;

public sealed partial class CoordinatorMachine
{
    /// <summary>A worker asks to join (again, after its tensor channel broke: it is accepted anew with a fresh channel token).</summary>
    /// <param name="address">For the members table: "in process" or its node's address.</param>
    public void Register(WorkerHandle worker, RegisterWorker m, string address)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (_workers.TryGet(worker, out var known))
        {
            _out.Accept(worker, known.Id, Accepted());
            return;
        }

        var d = _settings.Dataset;
        if (m.Model is not null && !m.Model.Equals(_model))
        {
            Refuse(worker, $"worker {m.WorkerId} refused: its architecture {m.Model} differs from the coordinator's {_model}");
            return;
        }

        if (m.DatasetFingerprint is not null && m.DatasetFingerprint != d.Fingerprint)
        {
            Refuse(worker, $"worker {m.WorkerId} refused: its dataset fingerprint {m.DatasetFingerprint} differs from the coordinator's {d.Fingerprint} ({d.Source ?? "default data"}, seed {d.DataSeed})");
            return;
        }

        if (!string.Equals(m.KernelPath, _settings.KernelPath, StringComparison.Ordinal))
        {
            _out.Log(LogSeverity.Warning, $"worker {m.WorkerId} runs kernel path {m.KernelPath}, the coordinator {_settings.KernelPath}: shard sums may differ in the last bits");
        }

        _workers.Add(new WorkerEntry(worker, m.WorkerId, address, channelOpen: !_usesChannel, Now));
        _out.Watch(worker);
        _out.Log(LogSeverity.Info, $"worker {m.WorkerId} registered ({m.Threads} threads, kernels {m.KernelPath}) from {address}");
        _out.Accept(worker, m.WorkerId, Accepted());
        Advance();
    }

    /// <summary>The worker loaded its data and built its workspace.</summary>
    public void Ready(WorkerHandle worker, WorkerReady m)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (!_workers.TryGet(worker, out var w))
        {
            _out.Log(LogSeverity.Warning, $"WorkerReady from unregistered {m.WorkerId} ({worker}) ignored");
            return;
        }

        var d = _settings.Dataset;
        if (m.DatasetFingerprint != d.Fingerprint)
        {
            _workers.Drop(w);
            Refuse(worker, $"worker {w.Id} refused: the dataset it loaded has fingerprint {m.DatasetFingerprint}, the coordinator's is {d.Fingerprint} ({d.Source ?? "default data"}, seed {d.DataSeed})");
            return;
        }

        Change(w, () => w.DataReady = true);
        if (!w.ChannelOpen)
        {
            _out.Log(LogSeverity.Info, $"worker {w.Id} has its data; waiting for its tensor channel");
        }

        Advance();
    }

    /// <summary>The worker's tensor channel said hello (the shell checked it is the worker's current registration).</summary>
    public void ChannelOpened(WorkerHandle worker)
    {
        if (_workers.TryGet(worker, out var w))
        {
            Change(w, () =>
            {
                w.WeightsVersion = -1; // a new connection holds no weights yet
                w.ChannelOpen = true;
            });
            Advance();
        }
    }

    /// <summary>
    /// The worker's tensor channel broke: a failed worker until it registers again, reconnects and says ready.
    /// <paramref name="malformed"/>: it broke on a frame that is no valid part of a result (overlapping parts, bad bounds),
    /// counted among the refused results.
    /// </summary>
    public void ChannelClosed(WorkerHandle worker, string reason, bool malformed = false)
    {
        if (_workers.TryGet(worker, out var w))
        {
            if (malformed)
            {
                _rejected++;
            }

            Change(w, () =>
            {
                w.ChannelOpen = false;
                w.DataReady = false;
                w.Reconnecting = true;
                w.WeightsVersion = -1;
            });
            Lost($"worker {w.Id}: tensor channel closed ({reason}); {_workers.LiveCount()} worker(s) live");
            TakeBack(w, "tensor channel closed");
            Advance();
        }
    }

    /// <summary>Cluster membership says the worker's node is unreachable, or reachable again.</summary>
    public void Reachability(WorkerHandle worker, bool reachable)
    {
        if (!_workers.TryGet(worker, out var w) || w.Reachable == reachable)
        {
            return;
        }

        w.Reachable = reachable;
        var line = $"worker {w.Id} is {(reachable ? "reachable again" : "unreachable")}; {_workers.LiveCount()} worker(s) live";
        if (reachable)
        {
            Notice(LogSeverity.Info, line);
            w.WeightsVersion = -1; // what was sent meanwhile may be lost
        }
        else
        {
            Lost(line);
            w.Failures += 1 + TakeBack(w, "worker unreachable");
        }

        Advance();
    }

    /// <summary>
    /// The worker is gone for good: DeathWatch (<paramref name="removed"/> false) or removed from the cluster; <paramref name="graceful"/>:
    /// its node left the cluster on purpose (shown as "left", not "dead"; so is every departure once the run is over).
    /// </summary>
    public void Terminated(WorkerHandle worker, bool removed, bool graceful = false)
    {
        if (!_workers.TryGet(worker, out var w))
        {
            return;
        }

        w.Failures += TakeBack(w, removed ? "worker removed from the cluster" : "worker terminated");
        _workers.Remove(w, graceful || _phase == Phase.Over ? "left" : "dead", _time.GetElapsedTime(w.LastReply).TotalSeconds);
        _out.Forget(worker);
        Lost($"worker {w.Id} {(removed ? "removed from the cluster" : "left")}; {_workers.LiveCount()} worker(s) live");
        Advance();
    }

    /// <summary>
    /// A worker was lost: a warning while the run goes on; once it is over, workers stopping is the expected teardown,
    /// logged but not announced (no warning line after "done").
    /// </summary>
    private void Lost(string line)
    {
        if (_phase == Phase.Over)
        {
            _out.Log(LogSeverity.Info, line);
            _out.Publish(Status());
        }
        else
        {
            Notice(LogSeverity.Warning, line);
        }
    }

    /// <summary>The worker's node is shutting down: take its shards back at once, never send it work again (not a failure).</summary>
    public void Leaving(WorkerHandle worker, WorkerLeaving m)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (!_workers.TryGet(worker, out var w))
        {
            return;
        }

        _workers.Remove(w, "left", _time.GetElapsedTime(w.LastReply).TotalSeconds);
        _out.Forget(worker);
        Notice(LogSeverity.Info, $"worker {w.Id} is leaving (hands back shard(s) [{string.Join(',', m.Shards)}] of step {m.Step}); {_workers.LiveCount()} worker(s) live");
        TakeBack(w, "worker leaving");
        Advance();
    }

    /// <summary>The worker lacks the weights a step needs (its channel was replaced): take those shards back, resend the weights.</summary>
    public void Declined(WorkerHandle worker, WorkDeclined m)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (!_workers.TryGet(worker, out var w) || _round is not { } round || round.Step != m.Step)
        {
            return; // a step already completed (or a worker already gone): nothing to take back
        }

        w.WeightsVersion = -1;
        _shards.Clear();
        round.PendingOf(worker, _shards);
        if (round.IsStar)
        {
            _shards.RemoveAll(s => !m.Shards.Contains(s)); // the shards it named
        }
        // an aggregation round: a member that cannot compute its leaves fails its whole piece
        foreach (var s in _shards)
        {
            round.Release(s, "declined", timedOut: false);
        }

        if (_shards.Count > 0)
        {
            _out.Log(LogSeverity.Warning, $"step {m.Step}: worker {w.Id} lacks weights version {m.WeightsVersion}; reassigning shard(s) {string.Join(',', _shards)}");
        }

        Advance();
    }

    /// <summary>Step 5: releases the worker's unfilled shards of this step (Advance deals them again); returns how many.</summary>
    private int TakeBack(WorkerEntry w, string reason)
    {
        if (_round is not { } round)
        {
            return 0;
        }

        _shards.Clear();
        round.PendingOf(w.Handle, _shards);
        foreach (var s in _shards)
        {
            round.Release(s, reason, timedOut: false);
        }

        if (_shards.Count > 0)
        {
            _out.Log(LogSeverity.Warning, $"step {round.Step}: {reason}; reassigning shard(s) {string.Join(',', _shards)}");
        }

        return _shards.Count;
    }

    /// <summary>Applies a change to a worker and says so when it made the worker live.</summary>
    private void Change(WorkerEntry w, Action change)
    {
        var was = w.IsLive;
        change();
        if (was || !w.IsLive)
        {
            return;
        }

        w.Reconnecting = false;
        Notice(LogSeverity.Info, $"worker {w.Id} ready; {_workers.LiveCount()} worker(s) live");
        if (_phase == Phase.Over)
        {
            _out.Tell(w.Handle, new TrainingFinished(_state.Step));
        }
    }

    private void Refuse(WorkerHandle worker, string reason)
    {
        _out.Log(LogSeverity.Warning, reason);
        _out.Tell(worker, new RegistrationRefused(reason));
        _out.Forget(worker);
        _out.Publish(new TrainingNotice("warning", reason, _workers.LiveCount()));
    }

    private RegistrationAccepted Accepted() =>
        new(_settings.CoordinatorId, _model, _settings.Dataset, _maxShardRows, _settings.KernelPath);
}
