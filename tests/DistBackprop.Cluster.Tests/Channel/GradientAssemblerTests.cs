// Whole-shard validation on the tensor channel (issue 11 item 7): the parts of a shard's gradient must tile [0, total)
// exactly. Overlaps (offset 0 twice, the attack the issue found accepted), a part inside another, a part after the whole
// range is in, and a last part that leaves a gap are refused with FrameFormatException (the channel then closes and the
// worker counts as failed); parts in any order that tile exactly are accepted bit for bit; the check allocates nothing
// per shard once warm. Leaves out: the socket and the coordinator's reaction (ChannelClusterTests, the end-to-end attacks).
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests.Channel;

public class GradientAssemblerTests(ITestOutputHelper output)
{
    private const int Total = 100;

    private static FrameHeader Part(int offset, int count, bool last, long step = 7, int shard = 1) =>
        new(FrameKind.Gradient, last ? FrameHeader.LastFlag : (byte)0, step, 6, shard, offset, count, Total, 2.5, 32, 30, 1.0);

    /// <summary>Feeds the parts (payload: each float's own index) and returns the assembled gradient, or null when none came out.</summary>
    private static float[]? Feed(GradientAssembler assembler, params FrameHeader[] parts)
    {
        float[]? done = null;
        foreach (var h in parts)
        {
            var into = assembler.Begin(h);
            for (var i = 0; i < into.Length; i++)
            {
                into[i] = h.Offset + i;
            }

            done = assembler.Complete(h)?.Gradient ?? done;
        }

        return done;
    }

    private static readonly Dictionary<string, FrameHeader[]> OverlapCases = new()
    {
        ["offset 0 twice, adding up to the total"] = [Part(0, 50, false), Part(0, 50, true)],
        ["the same part twice"] = [Part(60, 40, false), Part(60, 40, false), Part(0, 60, true)],
        ["a part reaching into the next"] = [Part(50, 50, false), Part(0, 51, true)],
        ["a part reaching into the previous"] = [Part(0, 50, false), Part(49, 51, true)],
        ["a part inside another"] = [Part(0, 100, false), Part(10, 5, true)],
        ["a part around another"] = [Part(40, 10, false), Part(30, 30, false)],
        ["a part after the whole range is in"] = [Part(0, 100, false), Part(99, 1, true)],
    };

    public static TheoryData<string> Overlaps => [.. OverlapCases.Keys];

    [Theory]
    [MemberData(nameof(Overlaps))]
    public void Overlapping_parts_are_refused(string what)
    {
        var parts = OverlapCases[what];
        var pool = new TensorPool();
        var assembler = new GradientAssembler(Total, pool);
        var e = Assert.Throws<FrameFormatException>(() => Feed(assembler, parts));
        output.WriteLine($"{what}: {e.Message}");
        Assert.Contains("overlaps", e.Message, StringComparison.Ordinal);
        assembler.Abandon(); // as the channel does when it closes: the array goes back
        Assert.Equal(1, assembler.Abandoned);
    }

    [Theory]
    [InlineData("the first float missing", 1, 99, 0)]
    [InlineData("the last float missing", 0, 99, 99)]
    public void A_last_part_that_leaves_a_gap_is_refused(string what, int offset, int count, int gap)
    {
        var assembler = new GradientAssembler(Total, new TensorPool());
        var e = Assert.Throws<FrameFormatException>(() => Feed(assembler, Part(offset, count, true)));
        output.WriteLine($"{what}: {e.Message}");
        Assert.Contains($"a gap at {gap}", e.Message, StringComparison.Ordinal);

        var middle = new GradientAssembler(Total, new TensorPool());
        e = Assert.Throws<FrameFormatException>(() => Feed(middle, Part(60, 40, false), Part(0, 50, true)));
        Assert.Contains("after 90 of 100", e.Message, StringComparison.Ordinal);
        Assert.Contains("a gap at 50", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_and_out_of_range_parts_are_refused()
    {
        var assembler = new GradientAssembler(Total, new TensorPool());
        Assert.Throws<FrameFormatException>(() => assembler.Begin(Part(10, 0, false)));
        Assert.Throws<FrameFormatException>(() => assembler.Begin(Part(-1, 5, false)));
        Assert.Throws<FrameFormatException>(() => assembler.Begin(Part(98, 5, false)));
    }

    [Fact]
    public void Parts_in_any_order_that_tile_exactly_give_every_float_once()
    {
        var pool = new TensorPool();
        var assembler = new GradientAssembler(Total, pool);
        var rng = DeterministicRandom.For(11, 2);
        for (var round = 0; round < 50; round++)
        {
            // cut [0, 100) at random points into 1..20 parts, send them shuffled, the last one flagged
            var cuts = new SortedSet<int> { 0, Total };
            var pieces = 1 + rng.NextInt(20);
            while (cuts.Count < pieces + 1)
            {
                cuts.Add(1 + rng.NextInt(Total - 1));
            }

            var bounds = cuts.ToArray();
            var parts = Enumerable.Range(0, bounds.Length - 1).Select(i => (Offset: bounds[i], Count: bounds[i + 1] - bounds[i])).ToList();
            for (var i = parts.Count - 1; i > 0; i--)
            {
                var j = rng.NextInt(i + 1);
                (parts[i], parts[j]) = (parts[j], parts[i]);
            }

            var headers = parts.Select((p, i) => Part(p.Offset, p.Count, last: i == parts.Count - 1, step: round)).ToArray();
            var gradient = Feed(assembler, headers);
            Assert.NotNull(gradient);
            Assert.Equal(Enumerable.Range(0, Total).Select(i => (float)i), gradient);
            Assert.True(pool.Return(gradient));
        }

        Assert.Equal(0, assembler.Abandoned);
    }

    [Fact]
    public void A_new_shard_starts_with_no_parts_even_after_an_abandoned_one()
    {
        var assembler = new GradientAssembler(Total, new TensorPool());
        Assert.Null(Feed(assembler, Part(0, 50, false, step: 1)));
        // step 2 begins: step 1's parts are abandoned, so [0, 50) may come again for step 2
        Assert.NotNull(Feed(assembler, Part(0, 50, false, step: 2), Part(50, 50, true, step: 2)));
        Assert.Equal(1, assembler.Abandoned);
        // and after a finished shard, the same ranges again for the next one
        Assert.NotNull(Feed(assembler, Part(50, 50, false, step: 3), Part(0, 50, true, step: 3)));
    }

    [Fact]
    public void The_tiling_check_allocates_nothing_per_shard_once_warm()
    {
        var pool = new TensorPool();
        var assembler = new GradientAssembler(Total, pool);
        FrameHeader[] parts = [Part(90, 10, false), Part(40, 50, false), Part(0, 40, true)];
        void Shards(int n)
        {
            for (var s = 0; s < n; s++)
            {
                foreach (var h in parts)
                {
                    assembler.Begin(h with { Step = s });
                    if (assembler.Complete(h with { Step = s }) is { } reply)
                    {
                        pool.Return(reply.Gradient);
                    }
                }
            }
        }

        // the same rent/return traffic without the assembler, to take the pool's own bookkeeping out of the figure
        void PoolOnly(int n)
        {
            for (var s = 0; s < n; s++)
            {
                pool.Return(pool.Rent(Total));
                _ = new Protocol.ShardComputed(s, 1, [], 0, 0, 0, 0, 0); // the reply message itself is the one allocation a shard needs
            }
        }

        Shards(100);
        PoolOnly(100);
        const int n = 10_000;
        var before = GC.GetAllocatedBytesForCurrentThread();
        Shards(n);
        var assembled = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        PoolOnly(n);
        var baseline = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"per shard of 3 parts: {(double)assembled / n:F1} bytes with the assembler, {(double)baseline / n:F1} for the pool and the reply alone");
        Assert.True(assembled <= baseline + 1024, $"the assembler allocated {assembled - baseline} bytes over {n} shards beyond the pool and the replies");
    }
}
