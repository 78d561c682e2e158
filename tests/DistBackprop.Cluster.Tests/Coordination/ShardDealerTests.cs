// The dealing policy: a fresh step is shard s → worker s mod n; taken-back shards go to the worker holding the fewest,
// in dealing order on ties, never to the worker they came from while another is live.
using DistBackprop.Cluster.Coordination;

namespace DistBackprop.Cluster.Tests.Coordination;

public sealed class ShardDealerTests
{
    private static List<int>[] Deal(int[] shards, int[] avoid, int[] pending)
    {
        var dealt = Enumerable.Range(0, pending.Length).Select(_ => new List<int>()).ToArray();
        ShardDealer.Deal(shards, avoid, pending, pending.Length, dealt);
        return dealt;
    }

    [Theory]
    [InlineData(4, 2)]
    [InlineData(5, 3)]
    [InlineData(2, 4)]
    [InlineData(7, 1)]
    public void A_fresh_step_deals_shard_s_to_worker_s_mod_n(int shards, int workers)
    {
        var dealt = Deal([.. Enumerable.Range(0, shards)], [.. Enumerable.Repeat(-1, shards)], new int[workers]);
        for (var k = 0; k < workers; k++)
        {
            Assert.Equal(Enumerable.Range(0, shards).Where(s => s % workers == k), dealt[k]);
        }
    }

    [Fact]
    public void Taken_back_shards_go_to_the_least_loaded_worker_in_dealing_order()
    {
        var dealt = Deal([1, 4, 6], [-1, -1, -1], [2, 0, 1]);
        Assert.Equal([], dealt[0]);
        Assert.Equal([1, 4], dealt[1]); // 0 pending, then a tie at 1 with worker 2: the lower index wins
        Assert.Equal([6], dealt[2]);
    }

    [Fact]
    public void A_shard_never_goes_back_to_the_worker_it_was_taken_from_while_another_is_live()
    {
        var dealt = Deal([0, 1], [0, 0], [0, 5]);
        Assert.Equal([], dealt[0]);
        Assert.Equal([0, 1], dealt[1]);

        var alone = Enumerable.Range(0, 1).Select(_ => new List<int>()).ToArray();
        ShardDealer.Deal([0, 1], [0, 0], new int[1], 1, alone);
        Assert.Equal([0, 1], alone[0]); // the only live worker gets them back
    }
}
