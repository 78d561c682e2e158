// One step's bookkeeping inside the coordinator's state machine (not an actor: a step should allocate next
// to nothing): one slot per piece of the step — a shard in the star, a whole subtree of shards when an aggregation
// group answers for it (--fan-in) — which worker each piece is dealt to (and, for a group, every member it depends
// on), each slot's outcome, the per-piece deadline. Its rules, and the only place they live: a piece has at most one
// assignee at a time; only that assignee's reply can fill the piece's slot; a reply for another step is stale; a reply
// for a filled slot is a duplicate. Complete when every slot is filled; the slots are then a frontier of the
// reduction tree (pieces that tile [0, S) in shard order), which TrainingState.CompleteStep reduces.
// Leaves out: sending anything (CoordinatorMachine) and any arithmetic (Core).
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Coordination;

/// <summary>How a shard's slot got filled. Every shard of a completed round has exactly one.</summary>
public abstract record ShardOutcome
{
    private ShardOutcome()
    {
    }

    /// <summary>The worker it was dealt to first delivered it.</summary>
    public sealed record Computed(string Worker) : ShardOutcome;

    /// <summary>Its first worker was lost (died, unreachable, left, declined); <paramref name="By"/> computed it instead.</summary>
    public sealed record Reassigned(string From, string By, string Reason) : ShardOutcome;

    /// <summary>Its first worker missed the deadline; <paramref name="By"/> (to whom it was dealt again) delivered it.</summary>
    public sealed record TimedOut(string From, string By) : ShardOutcome;
}

/// <summary>What <see cref="GradientRound.Accept"/> did with a reply.</summary>
public enum AcceptResult
{
    Accepted,

    /// <summary>For another step (or no such shard).</summary>
    Stale,

    /// <summary>The slot is filled already.</summary>
    Duplicate,

    /// <summary>The sender is not the shard's current assignee (never dealt it, or it was taken back).</summary>
    NotAssignee,

    /// <summary>From the assignee, but malformed or not finite: refused, the shard is to be computed again elsewhere.</summary>
    Rejected,
}

/// <summary>The pieces of one step: assignment, slots, outcomes, deadlines. "Shard" in member names means a slot.</summary>
public sealed class GradientRound
{
    private readonly Subtree[] _nodes; // the piece of each slot: one shard (star) or a subtree (aggregation)
    private readonly int[][] _indices; // its dataset rows (the rows of its shards, in shard order)
    private readonly WorkerHandle[]?[] _members; // an aggregation group's members (its head is the assignee); null: the assignee alone
    private readonly WorkerHandle[] _assignee; // WorkerHandle.None: nobody holds it (lost, or not dealt yet)
    private readonly WorkerHandle[] _lostFrom; // the last worker it was taken from (dealing avoids it while others are live)
    private readonly string?[] _firstWorker;
    private readonly string?[] _lostReason; // set when the first assignee was given up on
    private readonly bool[] _timedOut;
    private readonly long[] _deadline; // TimeProvider timestamp; 0 = not assigned
    private readonly GradientSum?[] _slots;
    private readonly ShardOutcome?[] _outcomes;
    private readonly bool[] _suspect; // a non-finite result came in once: a second one is believed (divergence)

    /// <summary>A star round: one slot per shard, shard s's rows <paramref name="shardIndices"/>[s].</summary>
    public GradientRound(long step, int[][] shardIndices, long dispatchTimestamp)
        : this(step, [.. Enumerable.Range(0, shardIndices?.Length ?? 0).Select(Subtree.Leaf)], shardIndices!, dispatchTimestamp)
    {
        IsStar = true;
    }

    /// <summary>One slot per piece <paramref name="pieces"/>[i] (a frontier of the reduction tree), with its rows <paramref name="pieceIndices"/>[i].</summary>
    public GradientRound(long step, Subtree[] pieces, int[][] pieceIndices, long dispatchTimestamp)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        ArgumentNullException.ThrowIfNull(pieceIndices);
        if (pieces.Length != pieceIndices.Length)
        {
            throw new ArgumentException($"{pieces.Length} pieces, {pieceIndices.Length} row lists", nameof(pieceIndices));
        }

        Step = step;
        _nodes = pieces;
        _indices = pieceIndices;
        var s = pieces.Length;
        _members = new WorkerHandle[]?[s];
        _assignee = new WorkerHandle[s];
        _lostFrom = new WorkerHandle[s];
        _firstWorker = new string?[s];
        _lostReason = new string?[s];
        _timedOut = new bool[s];
        _deadline = new long[s];
        _slots = new GradientSum?[s];
        _outcomes = new ShardOutcome?[s];
        _suspect = new bool[s];
        DispatchTimestamp = dispatchTimestamp;
    }

    public long Step { get; }

    /// <summary>Slots: shards in the star, pieces when aggregation groups answer for subtrees.</summary>
    public int Shards => _slots.Length;

    /// <summary>A star round (every worker answers the coordinator shard by shard), not one of aggregation groups (whose
    /// pieces may be single shards too).</summary>
    public bool IsStar { get; }

    /// <summary>
    /// The slot a reply's Shard field names: the shard itself in a star round; in an aggregation round a group's head answers
    /// for piece p as Shard = ~p (−1 − p), so a shard number can never be taken for a piece. −1: no slot (the reply is stale).
    /// </summary>
    public int SlotOf(int replyShard) => IsStar ? replyShard : replyShard < 0 ? ~replyShard : -1;

    /// <summary>The Shard field of the reply that fills <paramref name="slot"/> (see <see cref="SlotOf"/>).</summary>
    public int ReplyShardOf(int slot) => IsStar ? slot : ~slot;

    /// <summary>The subtree of slot <paramref name="shard"/>.</summary>
    public Subtree NodeOf(int shard) => _nodes[shard];

    public int Filled { get; private set; }

    public bool IsComplete => Filled == Shards;

    public long DispatchTimestamp { get; }

    /// <summary>Shards dealt again during this round (deaths, unreachability, leaves, declines, deadlines).</summary>
    public int ReassignedCount { get; private set; }

    /// <summary>Shards taken back at their deadline.</summary>
    public int TimedOutCount { get; private set; }

    public ReadOnlySpan<int> IndicesOf(int shard) => _indices[shard];

    public ShardWork Work(int shard) => new(shard, _indices[shard]);

    /// <summary>Who holds <paramref name="shard"/> now (<see cref="WorkerHandle.None"/>: nobody).</summary>
    public WorkerHandle AssigneeOf(int shard) => _assignee[shard];

    /// <summary>The last worker <paramref name="shard"/> was taken from (<see cref="WorkerHandle.None"/>: never taken back).</summary>
    public WorkerHandle LostFrom(int shard) => _lostFrom[shard];

    public bool IsFilled(int shard) => _slots[shard] is not null;

    /// <summary>Deals <paramref name="shard"/> (unfilled, unassigned) to <paramref name="worker"/> until <paramref name="deadline"/>;
    /// <paramref name="members"/>: the aggregation group answering for it with <paramref name="worker"/> as its head (null: alone).</summary>
    public void Assign(int shard, WorkerHandle worker, string workerId, long deadline, WorkerHandle[]? members = null)
    {
        if (_slots[shard] is not null || !_assignee[shard].IsNone)
        {
            throw new InvalidOperationException($"step {Step}: shard {shard} is {(_slots[shard] is not null ? "filled" : $"held by {_assignee[shard]}")}; it cannot be dealt to {workerId}");
        }

        if (_firstWorker[shard] is null)
        {
            _firstWorker[shard] = workerId;
        }
        else
        {
            ReassignedCount++;
        }

        _assignee[shard] = worker;
        _members[shard] = members;
        _deadline[shard] = deadline;
    }

    /// <summary>Whether <paramref name="worker"/> holds <paramref name="shard"/> or is a member of the group that does.</summary>
    public bool DependsOn(int shard, WorkerHandle worker) =>
        _slots[shard] is null && !_assignee[shard].IsNone && (_assignee[shard] == worker || (_members[shard] is { } m && Array.IndexOf(m, worker) >= 0));

    /// <summary>Takes <paramref name="shard"/> from its assignee (it stays unassigned until <see cref="Assign"/>).</summary>
    public void Release(int shard, string reason, bool timedOut)
    {
        _lostFrom[shard] = _assignee[shard];
        _assignee[shard] = WorkerHandle.None;
        _members[shard] = null;
        _deadline[shard] = 0;
        _lostReason[shard] ??= reason;
        if (timedOut && !_timedOut[shard])
        {
            _timedOut[shard] = true;
            TimedOutCount++;
        }
    }

    /// <summary>Adds to <paramref name="into"/> the unfilled slots held by <paramref name="worker"/> or by a group it is a member of, in order.</summary>
    public void PendingOf(WorkerHandle worker, List<int> into)
    {
        for (var s = 0; s < Shards; s++)
        {
            if (DependsOn(s, worker))
            {
                into.Add(s);
            }
        }
    }

    /// <summary>Unfilled shards held by <paramref name="worker"/>.</summary>
    public int PendingCount(WorkerHandle worker)
    {
        var n = 0;
        for (var s = 0; s < Shards; s++)
        {
            n += _slots[s] is null && _assignee[s] == worker ? 1 : 0;
        }

        return n;
    }

    /// <summary>Adds to <paramref name="into"/> the unfilled shards nobody holds (their worker was lost and none was free).</summary>
    public void Unassigned(List<int> into)
    {
        for (var s = 0; s < Shards; s++)
        {
            if (_slots[s] is null && _assignee[s].IsNone)
            {
                into.Add(s);
            }
        }
    }

    /// <summary>Adds to <paramref name="into"/> the unfilled, held shards whose deadline is before <paramref name="now"/>.</summary>
    public void Expired(long now, List<int> into)
    {
        for (var s = 0; s < Shards; s++)
        {
            if (_slots[s] is null && !_assignee[s].IsNone && _deadline[s] < now)
            {
                into.Add(s);
            }
        }
    }

    /// <summary>
    /// What a reply for (<paramref name="step"/>, <paramref name="shard"/>) from <paramref name="from"/> would be: for another step
    /// stale, for a filled slot a duplicate, from anyone but the shard's current assignee not the assignee's; else Accepted (the
    /// slot is open to it). (Every worker computes a shard to the same bits, but only the one it was dealt to may fill it.)
    /// </summary>
    public AcceptResult Classify(long step, int shard, WorkerHandle from) =>
        step != Step || (uint)shard >= (uint)Shards ? AcceptResult.Stale
        : _slots[shard] is not null ? AcceptResult.Duplicate
        : from.IsNone || _assignee[shard] != from ? AcceptResult.NotAssignee
        : AcceptResult.Accepted;

    /// <summary>Rows the slot's sum must cover (a reply with another sample count is malformed).</summary>
    public int SamplesOf(int shard) => _indices[shard].Length;

    /// <summary>A non-finite result for <paramref name="shard"/> came in: false the first time (compute it again elsewhere), true
    /// when one came before (two workers agree: it is the training that diverged, not a worker).</summary>
    public bool NonFiniteAgain(int shard)
    {
        var again = _suspect[shard];
        _suspect[shard] = true;
        return again;
    }

    /// <summary>Stores a shard's sum in its slot when <see cref="Classify"/> says Accepted; otherwise returns what it says.</summary>
    public AcceptResult Accept(long step, int shard, WorkerHandle from, string workerId, GradientSum sum)
    {
        ArgumentNullException.ThrowIfNull(sum);
        if (Classify(step, shard, from) is var verdict and not AcceptResult.Accepted)
        {
            return verdict;
        }

        _slots[shard] = sum;
        _outcomes[shard] = _lostReason[shard] is null ? new ShardOutcome.Computed(workerId)
            : _timedOut[shard] ? new ShardOutcome.TimedOut(_firstWorker[shard] ?? "?", workerId)
            : new ShardOutcome.Reassigned(_firstWorker[shard] ?? "?", workerId, _lostReason[shard]!);
        _assignee[shard] = WorkerHandle.None;
        _members[shard] = null;
        _deadline[shard] = 0;
        Filled++;
        return AcceptResult.Accepted;
    }

    /// <summary>The sum in slot <paramref name="shard"/> (null: not filled yet).</summary>
    public GradientSum? Slot(int shard) => _slots[shard];

    /// <summary>The filled slots as the frontier of the reduction tree they are (pieces in shard order). Only when complete.</summary>
    public IReadOnlyList<PartialSum> Frontier()
    {
        if (!IsComplete)
        {
            throw new InvalidOperationException($"step {Step}: {Shards - Filled} of {Shards} shards still missing");
        }

        var frontier = new PartialSum[Shards];
        for (var s = 0; s < frontier.Length; s++)
        {
            frontier[s] = new PartialSum(_nodes[s], _slots[s]!);
        }

        return frontier;
    }

    /// <summary>Each shard's outcome, index = shard. Only when complete.</summary>
    public IReadOnlyList<ShardOutcome> Outcomes() =>
        IsComplete ? _outcomes.Select(x => x!).ToArray() : throw new InvalidOperationException($"step {Step}: {Shards - Filled} of {Shards} shards still missing");
}
