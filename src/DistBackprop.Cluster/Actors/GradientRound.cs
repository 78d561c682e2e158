// One step's bookkeeping, owned by the coordinator (not an actor: a step should allocate next to
// nothing): which worker each shard went to, one slot per shard, each shard's outcome, the per-shard
// deadline. Complete when every slot is filled; the slots then go to TrainingState.CompleteStep in
// shard order. Leaves out: sending messages (the coordinator does that) and any arithmetic.
using Akka.Actor;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

/// <summary>How a shard's slot got filled. Every shard of a completed round has exactly one.</summary>
public abstract record ShardOutcome
{
    private ShardOutcome()
    {
    }

    /// <summary>The first worker it went to delivered it.</summary>
    public sealed record Computed(string Worker) : ShardOutcome;

    /// <summary>Its worker died or became unreachable; <paramref name="By"/> computed it instead.</summary>
    public sealed record Reassigned(string From, string By, string Reason) : ShardOutcome;

    /// <summary>Its worker missed the deadline; <paramref name="By"/> delivered first (possibly the late worker itself).</summary>
    public sealed record TimedOut(string From, string By) : ShardOutcome;
}

/// <summary>What <see cref="GradientRound.Accept"/> did with a reply.</summary>
public enum AcceptResult
{
    Accepted,
    Stale,
    Duplicate,
}

/// <summary>The shards of one step: assignment, slots, outcomes, deadlines.</summary>
public sealed class GradientRound
{
    private readonly int[][] _indices;
    private readonly IActorRef?[] _assignee;
    private readonly string?[] _firstWorker;
    private readonly string?[] _lostReason; // set when the first assignee was given up on
    private readonly bool[] _timedOut;
    private readonly long[] _deadline;      // Stopwatch timestamp; 0 = not assigned
    private readonly GradientSum?[] _slots;
    private readonly ShardOutcome?[] _outcomes;

    public GradientRound(long step, int[][] shardIndices, long dispatchTimestamp)
    {
        ArgumentNullException.ThrowIfNull(shardIndices);
        Step = step;
        _indices = shardIndices;
        var s = shardIndices.Length;
        _assignee = new IActorRef?[s];
        _firstWorker = new string?[s];
        _lostReason = new string?[s];
        _timedOut = new bool[s];
        _deadline = new long[s];
        _slots = new GradientSum?[s];
        _outcomes = new ShardOutcome?[s];
        DispatchTimestamp = dispatchTimestamp;
    }

    public long Step { get; }

    public int Shards => _slots.Length;

    public int Filled { get; private set; }

    public bool IsComplete => Filled == Shards;

    public long DispatchTimestamp { get; }

    /// <summary>Shards given to another worker during this round (deaths, unreachability, deadlines).</summary>
    public int ReassignedCount { get; private set; }

    public int TimedOutCount { get; private set; }

    public ReadOnlySpan<int> IndicesOf(int shard) => _indices[shard];

    public ShardWork Work(int shard) => new(shard, _indices[shard]);

    public IActorRef? AssigneeOf(int shard) => _assignee[shard];

    public bool IsFilled(int shard) => _slots[shard] is not null;

    /// <summary>Gives <paramref name="shard"/> to <paramref name="worker"/> until <paramref name="deadline"/> (a Stopwatch timestamp).</summary>
    public void Assign(int shard, IActorRef worker, string workerId, long deadline)
    {
        if (_firstWorker[shard] is null)
        {
            _firstWorker[shard] = workerId;
        }
        else
        {
            ReassignedCount++;
        }

        _assignee[shard] = worker;
        _deadline[shard] = deadline;
    }

    /// <summary>Marks the shard's current assignee as lost (it stays unassigned until <see cref="Assign"/>).</summary>
    public void Release(int shard, string reason, bool timedOut)
    {
        _assignee[shard] = null;
        _deadline[shard] = 0;
        _lostReason[shard] ??= reason;
        if (timedOut && !_timedOut[shard])
        {
            _timedOut[shard] = true;
            TimedOutCount++;
        }
    }

    /// <summary>Unfilled shards currently assigned to <paramref name="worker"/>.</summary>
    public IEnumerable<int> PendingOf(IActorRef worker)
    {
        for (var s = 0; s < Shards; s++)
        {
            if (_slots[s] is null && worker.Equals(_assignee[s]))
            {
                yield return s;
            }
        }
    }

    /// <summary>Unfilled shards with no live assignee (their worker was lost and none was free).</summary>
    public IEnumerable<int> Unassigned()
    {
        for (var s = 0; s < Shards; s++)
        {
            if (_slots[s] is null && _assignee[s] is null)
            {
                yield return s;
            }
        }
    }

    /// <summary>Unfilled, assigned shards whose deadline is before <paramref name="now"/>.</summary>
    public IEnumerable<int> Expired(long now)
    {
        for (var s = 0; s < Shards; s++)
        {
            if (_slots[s] is null && _assignee[s] is not null && _deadline[s] < now)
            {
                yield return s;
            }
        }
    }

    /// <summary>Unfilled shards assigned to <paramref name="worker"/>, counted.</summary>
    public int PendingCount(IActorRef worker) => PendingOf(worker).Count();

    /// <summary>
    /// Stores a shard's sum in its slot. Replies for another step are stale; a second reply for a filled
    /// slot is a duplicate: neither ever enters a sum. Any worker's reply fills an empty slot, since every
    /// worker computes a shard to the same bits.
    /// </summary>
    public AcceptResult Accept(long step, int shard, string workerId, GradientSum sum)
    {
        ArgumentNullException.ThrowIfNull(sum);
        if (step != Step || (uint)shard >= (uint)Shards)
        {
            return AcceptResult.Stale;
        }

        if (_slots[shard] is not null)
        {
            return AcceptResult.Duplicate;
        }

        _slots[shard] = sum;
        _outcomes[shard] = _lostReason[shard] is null ? new ShardOutcome.Computed(workerId)
            : _timedOut[shard] ? new ShardOutcome.TimedOut(_firstWorker[shard] ?? "?", workerId)
            : new ShardOutcome.Reassigned(_firstWorker[shard] ?? "?", workerId, _lostReason[shard]!);
        _assignee[shard] = null;
        Filled++;
        return AcceptResult.Accepted;
    }

    /// <summary>The filled slots, index = shard. Only when complete.</summary>
    public IReadOnlyList<GradientSum> SlotsInShardOrder() =>
        IsComplete ? _slots.Select(x => x!).ToArray() : throw new InvalidOperationException($"step {Step}: {Shards - Filled} of {Shards} shards still missing");

    /// <summary>Each shard's outcome, index = shard. Only when complete.</summary>
    public IReadOnlyList<ShardOutcome> Outcomes() =>
        IsComplete ? _outcomes.Select(x => x!).ToArray() : throw new InvalidOperationException($"step {Step}: {Shards - Filled} of {Shards} shards still missing");
}
