// GradientRound's rules, one at a time: a shard has one assignee; only that assignee fills its slot; another step's
// reply is stale, a second reply a duplicate; every completed shard has exactly one outcome, which says who computed
// it and why it moved. Leaves out: dealing (ShardDealerTests) and the machine around it (the simulation).
using DistBackprop.Cluster.Coordination;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Tests.Coordination;

public sealed class GradientRoundTests
{
    private static readonly WorkerHandle A = new(1);
    private static readonly WorkerHandle B = new(2);

    private static GradientRound Round(int shards = 3) => new(7, Enumerable.Range(0, shards).Select(s => new[] { s }).ToArray(), dispatchTimestamp: 100);

    private static GradientSum Sum() => new(4);

    [Fact]
    public void Only_the_current_assignee_fills_a_slot()
    {
        var round = Round();
        round.Assign(0, A, "a", deadline: 1000);
        Assert.Equal(AcceptResult.NotAssignee, round.Accept(7, 0, B, "b", Sum()));
        Assert.Equal(AcceptResult.NotAssignee, round.Accept(7, 1, A, "a", Sum())); // never dealt
        Assert.Equal(AcceptResult.NotAssignee, round.Accept(7, 0, WorkerHandle.None, "?", Sum()));
        Assert.Equal(AcceptResult.Accepted, round.Accept(7, 0, A, "a", Sum()));
        Assert.Equal(1, round.Filled);
        Assert.True(round.AssigneeOf(0).IsNone);
    }

    [Fact]
    public void Other_steps_are_stale_and_second_replies_duplicates()
    {
        var round = Round();
        round.Assign(1, A, "a", 1000);
        Assert.Equal(AcceptResult.Stale, round.Accept(6, 1, A, "a", Sum()));
        Assert.Equal(AcceptResult.Stale, round.Accept(7, 3, A, "a", Sum())); // no such shard
        Assert.Equal(AcceptResult.Accepted, round.Accept(7, 1, A, "a", Sum()));
        Assert.Equal(AcceptResult.Duplicate, round.Accept(7, 1, A, "a", Sum()));
        Assert.Equal(AcceptResult.Duplicate, round.Accept(7, 1, B, "b", Sum()));
    }

    [Fact]
    public void A_taken_back_shard_belongs_to_its_new_assignee_and_its_outcome_says_why()
    {
        var round = Round(3);
        round.Assign(0, A, "a", 1000);
        round.Assign(1, A, "a", 1000);
        round.Assign(2, B, "b", 1000);
        round.Release(0, "worker unreachable", timedOut: false);
        round.Release(2, "deadline", timedOut: true);
        Assert.Throws<InvalidOperationException>(() => round.Assign(1, B, "b", 1000)); // held by a: one assignee at a time
        round.Assign(0, B, "b", 2000);
        round.Assign(2, A, "a", 2000);
        Assert.Equal(A, round.LostFrom(0));
        Assert.Equal(AcceptResult.NotAssignee, round.Accept(7, 0, A, "a", Sum())); // a's late reply no longer counts
        Assert.Equal(AcceptResult.Accepted, round.Accept(7, 0, B, "b", Sum()));
        Assert.Equal(AcceptResult.Accepted, round.Accept(7, 1, A, "a", Sum()));
        Assert.Equal(AcceptResult.Accepted, round.Accept(7, 2, A, "a", Sum()));
        Assert.True(round.IsComplete);
        Assert.Equal(2, round.ReassignedCount);
        Assert.Equal(1, round.TimedOutCount);
        Assert.Equal(
            [new ShardOutcome.Reassigned("a", "b", "worker unreachable"), new ShardOutcome.Computed("a"), new ShardOutcome.TimedOut("b", "a")],
            round.Outcomes());
    }

    [Fact]
    public void Pending_unassigned_and_expired_shards_are_listed_in_shard_order()
    {
        var round = Round(4);
        round.Assign(3, A, "a", 500);
        round.Assign(1, A, "a", 1500);
        round.Assign(2, B, "b", 500);
        var list = new List<int>();
        round.PendingOf(A, list);
        Assert.Equal([1, 3], list);
        Assert.Equal(2, round.PendingCount(A));
        list.Clear();
        round.Unassigned(list);
        Assert.Equal([0], list);
        list.Clear();
        round.Expired(now: 1000, list);
        Assert.Equal([2, 3], list);
        Assert.Throws<InvalidOperationException>(() => round.Frontier());
    }
}
