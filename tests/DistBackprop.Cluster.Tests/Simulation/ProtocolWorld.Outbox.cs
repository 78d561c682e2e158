// The simulation, part 3: the coordinator's commands arrive here (ICoordinatorOutbox) and become messages in
// flight to simulated workers; its published events are where the invariants are checked: every completed step is
// compared, shard by shard and bit by bit, with what the workers computed and with the reference loop.
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Tests.Simulation;

internal sealed partial class ProtocolWorld
{
    private SimWorker? Worker(WorkerHandle h) => _workers.FirstOrDefault(w => w.Handle == h.Value && !w.Forgotten);

    void ICoordinatorOutbox.Tell(WorkerHandle worker, IDistBackpropMessage message)
    {
        if (Worker(worker) is not { Alive: true } w)
        {
            return;
        }

        w.ToWorker.Enqueue((message.GetType().Name, () =>
        {
            if (message is RegistrationRefused)
            {
                w.Refused = true;
                if (!w.Bad)
                {
                    Violate($"a good worker was refused: {((RegistrationRefused)message).Reason}");
                }
            }
        }
        ));
    }

    void ICoordinatorOutbox.Accept(WorkerHandle worker, string workerId, RegistrationAccepted message)
    {
        if (Worker(worker) is not { Alive: true } w)
        {
            return;
        }

        if (w.Bad)
        {
            Violate($"{w} with another architecture was accepted");
        }

        w.ToWorker.Enqueue(("RegistrationAccepted", () => OnAccepted(w)));
    }

    void ICoordinatorOutbox.SendWork(WorkerHandle worker, ComputeShards work, float[]? weights)
    {
        if (Worker(worker) is not { } w)
        {
            Violate($"work for step {work.Step} sent to {worker}, which the coordinator does not know");
            return;
        }

        if (_machine.Round is { IsStar: true })
        {
            foreach (var s in work.Shards)
            {
                _dealtTo[(work.Step, s.Shard)] = w; // an aggregation round's pieces are dealt in Plan
            }
        }

        var copy = weights?.ToArray(); // what travels is the value at the time of sending
        if (w.Alive)
        {
            w.ToWorker.Enqueue(($"ComputeShards step {work.Step} v{work.WeightsVersion} [{string.Join(',', work.Shards.Select(s => s.Shard))}]{(copy is null ? string.Empty : " +weights")}",
                () => OnWork(w, work, copy)));
        }
    }

    void ICoordinatorOutbox.Plan(WorkerHandle worker, long step, int piece, int shards, GroupRole role)
    {
        if (role.Parent.IsNone && Worker(worker) is { } head)
        {
            _dealtTo[(step, piece)] = head;
        }

        if (Worker(worker) is { Alive: true } w)
        {
            w.ToWorker.Enqueue(($"AggregateRole step {step} piece {piece} {role.Node} own [{string.Join(',', role.Own)}] children {role.Children.Length}", () => OnRole(w, step, piece, role)));
        }
    }

    void ICoordinatorOutbox.Watch(WorkerHandle worker)
    {
        if (Worker(worker) is { } w)
        {
            w.Watched = true;
            if (!w.Alive)
            {
                DeathNotices(w); // watching a dead actor: Terminated at once
            }
        }
    }

    void ICoordinatorOutbox.Forget(WorkerHandle worker)
    {
        if (Worker(worker) is { } w)
        {
            w.Forgotten = true;
            w.Registered = false;
        }
    }

    void ICoordinatorOutbox.Publish(ITrainingEvent e)
    {
        switch (e)
        {
            case StepReport r:
                CheckStep(r);
                break;
            case TrainingCompleted c:
                CheckCompleted(c);
                break;
            case TrainingFailed f:
                Violate($"training failed: {f.Reason}");
                break;
            case TrainingNotice n:
                Trace($"  notice: {n.Message}");
                break;
        }
    }

    void ICoordinatorOutbox.Return(float[] gradient)
    {
    }

    void ICoordinatorOutbox.Log(LogSeverity severity, string message)
    {
        if (severity >= LogSeverity.Warning)
        {
            Trace($"  {severity.ToString().ToLowerInvariant()}: {message}");
        }
    }

    /// <summary>A step completed: every slot holds the sum its assignee computed for it, once; the weights equal the reference's.</summary>
    private void CheckStep(StepReport r)
    {
        _lastProgress = _event;
        Trace($"  step {r.Step} complete");
        if (_machine.Round is not { IsComplete: true } round || round.Step != r.Step)
        {
            Violate($"step {r.Step} reported without its complete round");
            return;
        }

        TreeSteps += round.IsStar ? 0 : 1;
        var seen = new HashSet<float[]>(ReferenceEqualityComparer.Instance);
        var outcomes = round.Outcomes();
        for (var s = 0; s < round.Shards; s++)
        {
            var slot = round.Slot(s)!;
            if (!seen.Add(slot.Gradient))
            {
                Violate($"step {r.Step}: one reply summed into two slots (shard {s})");
            }

            if (!_origins.TryGetValue(slot.Gradient, out var origin))
            {
                Violate($"step {r.Step} shard {s}: a gradient no worker computed");
                continue;
            }

            if (origin.Step != r.Step || origin.Shard != s)
            {
                Violate($"step {r.Step} shard {s}: filled with step {origin.Step} shard {origin.Shard}'s sum");
            }

            if (!_dealtTo.TryGetValue((r.Step, s), out var dealt) || dealt != origin.Worker)
            {
                Violate($"step {r.Step} shard {s}: filled by {origin.Worker?.ToString() ?? "an unregistered sender"}, which it was not dealt to (last dealt to {dealt})");
            }

            var by = outcomes[s] switch
            {
                ShardOutcome.Computed c => c.Worker,
                ShardOutcome.Reassigned re => re.By,
                ShardOutcome.TimedOut t => t.By,
                _ => "?",
            };
            if (origin.Worker?.Id != by)
            {
                Violate($"step {r.Step} shard {s}: outcome {outcomes[s]} names {by}, the sum came from {origin.Worker}");
            }
        }

        _reference.RunStep();
        if (r.Step != _reference.State.Step)
        {
            Violate($"report for step {r.Step}, the reference is at step {_reference.State.Step}");
        }

        var diff = TestData.FirstDifference(_reference.State.Parameters, _state.Parameters);
        if (diff != "identical")
        {
            Violate($"step {r.Step}: weights differ from the reference loop: {diff}");
        }
    }

    private void CheckCompleted(TrainingCompleted c)
    {
        _lastProgress = _event;
        _result = c;
        Trace($"  completed after {c.Summary.Steps} steps (stopped: {c.Summary.Stopped})");
        if (c.Summary.Steps != _reference.State.Step)
        {
            Violate($"completed after {c.Summary.Steps} steps, the reference checked {_reference.State.Step}");
        }

        var diff = TestData.FirstDifference(_reference.State.Parameters, c.Parameters);
        if (diff != "identical")
        {
            Violate($"final weights differ from the reference loop: {diff}");
        }
    }
}
