// The coordinator's state machine, part 2: replies, step completion, deadlines and the end of the run (protocol steps
// 4, 6 and 7 in CoordinatorMachine.cs). Leaves out: worker membership events (CoordinatorMachine.Workers.cs).
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Coordination;

public sealed partial class CoordinatorMachine
{
    /// <summary>
    /// One shard's sum arrived from <paramref name="from"/> (None: a sender that never registered) by <paramref name="path"/>;
    /// <paramref name="finite"/>: whether the transport found every value finite (null: not checked, an in-process worker).
    /// Step 4: stale, duplicate and foreign replies are dropped; with a tensor channel only channel replies count (a reply
    /// inside an Akka message can name any sender); a reply from the assignee that is malformed (length, sample count,
    /// correct count) or not finite is refused and its worker marked failed: the shard is computed again elsewhere, and a
    /// second non-finite result for the same shard is believed (the run has diverged: exit 3 at completion).
    /// </summary>
    public void ShardComputed(WorkerHandle from, ShardComputed m, ReplyPath path, bool? finite)
    {
        ArgumentNullException.ThrowIfNull(m);
        var w = _workers.Find(from);
        if (w is not null)
        {
            w.LastReply = Now;
        }

        var id = w?.Id ?? from.ToString();
        var slot = _round?.SlotOf(m.Shard) ?? -1;
        var verdict = _round is not { } round ? AcceptResult.Stale
            : _usesChannel && path != ReplyPath.Channel ? AcceptResult.NotAssignee
            : round.Classify(m.Step, slot, w is null ? WorkerHandle.None : from);
        if (verdict == AcceptResult.Accepted && Problem(_round!, slot, m, finite) is { } problem)
        {
            verdict = Refuse(_round!, w!, m, problem);
        }

        if (verdict == AcceptResult.Accepted)
        {
            _round!.Accept(m.Step, slot, from, id, new GradientSum(m.Gradient, m.LossSum, m.Samples, m.Correct));
            _shardsByWorker[id] = _shardsByWorker.GetValueOrDefault(id) + 1;
            w!.Shards++;
            w.ComputeMs += m.ComputeMs;
            _timer.Arrived(from, m.ComputeMs, m.SerializeMs, Now);
        }
        else
        {
            Dropped(verdict, m, id);
            _out.Return(m.Gradient); // unread: in process it may be the worker's buffer, already reused
        }

        Advance();
    }

    /// <summary>What is wrong with an assignee's reply, or null. Non-finite values only count once per shard (see ShardComputed).</summary>
    private string? Problem(GradientRound round, int slot, ShardComputed m, bool? finite)
    {
        var expected = round.SamplesOf(slot);
        if (m.Gradient.Length != _state.Config.Spec.ParameterCount)
        {
            return $"{m.Gradient.Length} gradient values, the model has {_state.Config.Spec.ParameterCount}";
        }

        if (m.Samples != expected || m.Correct < 0 || m.Correct > m.Samples)
        {
            return $"{m.Samples} samples ({m.Correct} correct), the shard has {expected}";
        }

        var nonFinite = finite == false || (finite is null && !double.IsFinite(m.LossSum));
        return nonFinite && !round.NonFiniteAgain(slot) ? "non-finite values" : null;
    }

    /// <summary>The assignee sent a bad sum: its shards go elsewhere (Advance deals them) and it counts as failed.</summary>
    private AcceptResult Refuse(GradientRound round, WorkerEntry w, ShardComputed m, string problem)
    {
        _rejected++;
        w.Failures++;
        _out.Log(LogSeverity.Warning, $"step {m.Step} shard {m.Shard} from worker {w.Id}: {problem}; refused, computing it again elsewhere");
        TakeBack(w, "a refused result");
        return AcceptResult.Rejected;
    }

    private void Dropped(AcceptResult verdict, ShardComputed m, string id)
    {
        var (what, count) = verdict switch
        {
            AcceptResult.Stale => ("stale", ++_stale),
            AcceptResult.Duplicate => ("duplicate", ++_duplicates),
            AcceptResult.NotAssignee => ("foreign", ++_foreign),
            _ => ("refused", _rejected),
        };
        _out.Log(LogSeverity.Debug, $"{what} reply for step {m.Step} shard {m.Shard} from {id} dropped ({count} so far)");
    }

    /// <summary>Step 5 for deadlines: shards past theirs are taken from their silent workers.</summary>
    private void TakeBackExpired()
    {
        if (_round is not { } round)
        {
            return;
        }

        _shards.Clear();
        round.Expired(Now, _shards);
        while (_shards.Count > 0)
        {
            var holder = round.AssigneeOf(_shards[0]);
            var taken = new List<int>();
            foreach (var s in _shards)
            {
                if (round.AssigneeOf(s) == holder)
                {
                    taken.Add(s);
                }
            }

            foreach (var s in taken)
            {
                round.Release(s, "deadline", timedOut: true);
            }

            var w = _workers.Find(holder);
            if (w is not null)
            {
                w.WeightsVersion = -1; // it may have missed the weights: send them again with its next work
                w.Failures += taken.Count;
            }

            _out.Log(LogSeverity.Warning, $"step {round.Step}: worker {w?.Id ?? holder.ToString()} silent for {_settings.ShardDeadline.TotalSeconds:0.#} s on shard(s) {string.Join(',', taken)}; reassigning");
            _shards.RemoveAll(taken.Contains);
        }
    }

    /// <summary>Step 6: every slot is full.</summary>
    private void CompleteStep()
    {
        var round = _round!;
        var now = Now;
        var times = _timer.Finish(round.DispatchTimestamp, now);
        StepOutcome outcome;
        try
        {
            // the new weights go into the state's other buffer, the one of step Step − 1, which they replace now anyway
            outcome = _state.CompleteStep(round.Frontier(), _updatePool);
        }
        catch (TrainingDivergedException e)
        {
            Fail(e.Message, 3, e.Step, new TrainingDivergence(e.Step, e.Detail));
            return;
        }
        catch (Exception e)
        {
            Fail($"step {round.Step} failed: {e.Message}", 1, round.Step);
            return;
        }

        for (var s = 0; s < round.Shards; s++)
        {
            _out.Return(round.Slot(s)!.Gradient); // reduced: ours no more (arrays of in-process workers are ignored)
        }

        _timedOut += round.TimedOutCount;
        _reassigned += round.ReassignedCount;
        var report = new StepReport(outcome.Step, outcome.Epoch, outcome.Loss, outcome.Accuracy, times.WallMs > 0 ? outcome.Samples * 1000.0 / times.WallMs : 0,
            _workers.LiveCount(), times.ComputeMs, times.SerializeMs, times.TransportMs, times.WaitMs, outcome.Samples, round.ReassignedCount, _stale, _duplicates,
            round.TimedOutCount, _reassigned, times.WallMs, outcome.EpochCompleted, _foreign, outcome.LearningRate, outcome.GradNorm, _rejected);
        LastReport = report;
        _out.Publish(report);
        try
        {
            // the host's hooks first (an epoch's validation updates early stopping, which the checkpoint then holds)
            _settings.AfterStep?.Invoke(_state, report);
            if (_settings.AfterStepEvent?.Invoke(_state, report) is { } extra)
            {
                _out.Publish(extra);
            }

            if (_checkpoints.AfterStep(_state, outcome.EpochCompleted) is { } written)
            {
                Written(written);
            }
        }
        catch (CheckpointWriteException e)
        {
            Fail(e.Message, 1, _state.Step);
            return;
        }
        catch (Exception e)
        {
            Fail($"after step {round.Step}: {e.Message}", 1, round.Step);
            return;
        }

        BeginStep();
    }

    private void Written(CheckpointWritten c)
    {
        _out.Log(LogSeverity.Info, $"step {c.Step}: checkpoint {c.Path} ({c.Milliseconds:0.0} ms)");
        _out.Publish(c);
    }

    /// <summary>Step 7: the run is over (completed, or stopped): the final checkpoint, the summary, the weights.</summary>
    private void Finish()
    {
        if (_phase == Phase.Over)
        {
            return;
        }

        _phase = Phase.Over;
        _round = null;
        try
        {
            if (_checkpoints.Final(_state) is { } written)
            {
                Written(written);
            }
        }
        catch (CheckpointWriteException e)
        {
            Fail(e.Message, 1, _state.Step);
            return;
        }

        var elapsed = _runStart == 0 ? 0 : _time.GetElapsedTime(_runStart).TotalSeconds;
        var stopped = _stopRequested && !_state.IsFinished;
        var summary = new TrainingSummary(_state.Step, _state.Epoch, LastReport?.Loss ?? double.NaN, LastReport?.Accuracy ?? double.NaN, elapsed,
            _reassigned, _timedOut, _stale, _duplicates, stopped,
            _shardsByWorker.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new WorkerShardCount(p.Key, p.Value)).ToArray(), _foreign, _rejected);
        _out.Log(LogSeverity.Info, $"training {(stopped ? "stopped" : "completed")} after {summary.Steps} steps in {elapsed:0.0} s (reassigned {_reassigned}, timed out {_timedOut}, stale {_stale}, duplicates {_duplicates}, foreign {_foreign}, refused {_rejected})");
        _out.Publish(Status()); // the members table's final figures
        _out.Publish(new TrainingCompleted(_state.Parameters.ToArray(), summary));
        TellWorkers(new TrainingFinished(_state.Step));
    }

    /// <summary>The driver cannot run the coordinator (e.g. its tensor channel cannot listen): the run fails at once.</summary>
    public void Abort(string reason, int exitCode) => Fail(reason, exitCode, _state.Step);

    private void Fail(string reason, int exitCode, long step, TrainingDivergence? divergence = null)
    {
        _phase = Phase.Over;
        _round = null;
        _out.Log(LogSeverity.Error, reason);
        _out.Publish(new TrainingFailed(reason, exitCode, step, divergence));
        TellWorkers(new TrainingFinished(_state.Step));
    }

    private void TellWorkers(IDistBackpropMessage message)
    {
        foreach (var w in _workers.All)
        {
            _out.Tell(w.Handle, message);
        }
    }

    /// <summary>The members table and the run's length, for subscribers (about once a second, on changes, to a new subscriber).</summary>
    public ClusterStatus Status()
    {
        var now = Now;
        var members = _workers.Members(w => _time.GetElapsedTime(w.LastReply, now).TotalSeconds);
        var c = _state.Config;
        var total = _state.TotalSteps == long.MaxValue ? 0 : _state.TotalSteps;
        return new ClusterStatus(_state.Step, _state.Epoch, total, _state.StepsPerEpoch, c.Epochs ?? 0, c.BatchSize, _model.ToString(), members);
    }

    /// <summary>A line worth showing the user: logged, published as a TrainingNotice, with the members table after it.</summary>
    private void Notice(LogSeverity severity, string message)
    {
        _out.Log(severity, message);
        _out.Publish(new TrainingNotice(severity == LogSeverity.Warning ? "warning" : "info", message, _workers.LiveCount()));
        _out.Publish(Status());
    }
}
