// Who computes which shard: the dealing policy, one pure function. Unassigned shards go one by one, in shard order,
// to the live worker holding the fewest unfilled shards (ties: dealing order), never to the worker a shard was just
// taken from while another worker is live. For a fresh step (nobody holds anything) this is shard s → worker s mod n,
// so each worker gets ⌈S/n⌉ or ⌊S/n⌋ shards. Which worker computes a shard never changes a bit (SPEC §3); this only
// spreads work. Leaves out: the round's slots (GradientRound) and sending (CoordinatorMachine).
namespace DistBackprop.Cluster.Coordination;

public static class ShardDealer
{
    /// <summary>
    /// Deals <paramref name="shards"/> to <paramref name="workers"/> workers (indices into the dealing order).
    /// <paramref name="pending"/>[k]: shards worker k holds already (updated). <paramref name="avoid"/>[i]: a worker index
    /// shard i must not go to, or −1. <paramref name="dealt"/>[k] receives worker k's new shards (cleared first).
    /// Every shard is dealt when at least one worker exists; an avoided worker takes a shard only when it is the only one.
    /// </summary>
    public static void Deal(IReadOnlyList<int> shards, ReadOnlySpan<int> avoid, Span<int> pending, int workers, List<int>[] dealt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dealt.Length, workers);
        ArgumentOutOfRangeException.ThrowIfLessThan(pending.Length, workers);
        ArgumentOutOfRangeException.ThrowIfLessThan(avoid.Length, shards.Count);
        for (var k = 0; k < workers; k++)
        {
            dealt[k].Clear();
        }

        for (var i = 0; i < shards.Count; i++)
        {
            var skip = workers > 1 ? avoid[i] : -1;
            var best = -1;
            for (var k = 0; k < workers; k++)
            {
                if (k != skip && (best < 0 || pending[k] < pending[best]))
                {
                    best = k;
                }
            }

            pending[best]++;
            dealt[best].Add(shards[i]);
        }
    }
}
