// ShardReduction: contiguous shard ranges that differ by at most one, and the reduction order
// (Σ in shard order, then ÷ B), checked with values where float addition is not associative.
using DistBackprop.Core.Training;

namespace DistBackprop.Core.Tests.MathChecks;

public class ShardReductionTests
{
    [Theory]
    [InlineData(10, 1)]
    [InlineData(10, 3)]
    [InlineData(10, 4)]
    [InlineData(64, 7)]
    [InlineData(2, 4)]
    [InlineData(1, 3)]
    [InlineData(0, 2)]
    [InlineData(5, 5)]
    public void Shard_ranges_cover_the_batch_contiguously_and_differ_by_at_most_one(int rows, int shards)
    {
        var next = 0;
        var lengths = new List<int>();
        for (var s = 0; s < shards; s++)
        {
            var (start, length) = ShardReduction.ShardRange(rows, shards, s);
            Assert.Equal(next, start);
            Assert.True(length >= 0);
            next = start + length;
            lengths.Add(length);
        }

        Assert.Equal(rows, next);
        Assert.True(lengths.Max() - lengths.Min() <= 1, $"lengths {string.Join(',', lengths)}");

        // the bigger shards come first, so shard s's size does not depend on how many rows came after
        Assert.Equal(lengths.OrderByDescending(l => l), lengths);
    }

    [Fact]
    public void Shard_range_rejects_bad_shard_numbers()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardReduction.ShardRange(10, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardReduction.ShardRange(10, 3, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardReduction.ShardRange(10, 3, -1));
    }

    [Fact]
    public void Reduce_adds_in_shard_order_then_divides_by_the_global_batch()
    {
        // float: (1e8 + 1) − 1e8 = 0, but (1e8 − 1e8) + 1 = 1. Element 0 is summed as 1e8, 1, −1e8 (shard order),
        // element 1 as 1e8, −1e8, 1. Any other order (arrival, pairwise, sorted) changes one of them.
        var shards = new[]
        {
            new GradientSum([1e8f, 1e8f, 2f], lossSum: 1.5, samples: 4, correct: 3),
            new GradientSum([1f, -1e8f, 4f], lossSum: 2.0, samples: 3, correct: 1),
            new GradientSum([-1e8f, 1f, 6f], lossSum: 0.5, samples: 3, correct: 2),
        };
        var mean = new float[3];

        var (loss, samples, correct) = ShardReduction.Reduce(shards, 10, mean);

        Assert.Equal(0f, mean[0]);
        Assert.Equal(1f / 10f, mean[1]);
        Assert.Equal(12f / 10f, mean[2]);
        Assert.Equal(4.0, loss);
        Assert.Equal(10, samples);
        Assert.Equal(6, correct);

        // the same sums in another order give another answer: the order above is what made element 0 zero
        ShardReduction.Reduce([shards[0], shards[2], shards[1]], 10, mean);
        Assert.Equal(1f / 10f, mean[0]);
        Assert.Equal(0f, mean[1]);
    }

    [Fact]
    public void Reduce_divides_by_the_global_batch_not_the_shard_sizes()
    {
        // uneven shards (3 + 1 rows): the mean is Σ/B = (3 + 1)/4, not the mean of the shard means
        var shards = new[] { new GradientSum([3f], samples: 3), new GradientSum([1f], samples: 1) };
        var mean = new float[1];
        ShardReduction.Reduce(shards, 4, mean);
        Assert.Equal(1f, mean[0]);
    }

    [Fact]
    public void Reduce_rejects_mismatched_shards()
    {
        var mean = new float[2];
        Assert.Throws<ArgumentException>(() => ShardReduction.Reduce([new GradientSum(3)], 1, mean));
        Assert.Throws<ArgumentException>(() => ShardReduction.Reduce([], 1, mean));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardReduction.Reduce([new GradientSum(2)], 0, mean));
    }
}
