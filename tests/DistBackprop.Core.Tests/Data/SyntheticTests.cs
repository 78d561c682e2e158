// Synthetic datasets: the seed decides the content (same seed → same fingerprint, another seed →
// another), train and test come from different streams, classes are balanced and values in range.
using DistBackprop.Core.Data;

namespace DistBackprop.Core.Tests.Data;

public class SyntheticTests
{
    [Fact]
    public void Digits_shape_and_balance()
    {
        var split = Synthetic.Digits(1);

        Assert.Equal(8000, split.Train.Count);
        Assert.NotNull(split.Test);
        Assert.Equal(2000, split.Test.Count);
        foreach (var data in new[] { split.Train, split.Test })
        {
            Assert.Equal(400, data.FeatureCount);
            Assert.Equal(10, data.Classes);
            Assert.Equal((20, 20), data.ImageShape);
            Assert.All(data.Labels.CountBy(l => l), kv => Assert.Equal(data.Count / 10, kv.Value));
            Assert.InRange(data.Features.Min(), 0f, 1f);
            Assert.InRange(data.Features.Max(), 0f, 1f);
        }

        // Real images: ink covers a fair part of the canvas, far from empty or full.
        var ink = split.Train.Features.Count(v => v > 0.5f) / (double)split.Train.Features.Length;
        Assert.InRange(ink, 0.05, 0.4);
    }

    [Theory]
    [InlineData("digits")]
    [InlineData("spirals")]
    public void Same_seed_same_fingerprint_other_seed_other(string name)
    {
        var a = Synthetic.Generate(name, 5);
        var b = Synthetic.Generate(name, 5);
        var c = Synthetic.Generate(name, 6);

        Assert.Equal(a.Train.Fingerprint, b.Train.Fingerprint);
        Assert.Equal(a.Test!.Fingerprint, b.Test!.Fingerprint);
        Assert.NotEqual(a.Train.Fingerprint, c.Train.Fingerprint);
        Assert.NotEqual(a.Test.Fingerprint, c.Test!.Fingerprint);
    }

    [Fact]
    public void Test_set_uses_its_own_stream()
    {
        var split = Synthetic.Digits(3, trainCount: 20, testCount: 20);

        // Same label at the same index, but different random draws: no row is shared.
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(split.Train.Labels[i], split.Test!.Labels[i]);
            Assert.False(split.Train.Row(i).SequenceEqual(split.Test.Row(i)), $"row {i} identical in train and test");
        }
    }

    [Fact]
    public void Smaller_sets_are_prefixes_of_the_full_set()
    {
        // Each sample has its own generator (seed, stream, index), so generation order and count do not matter.
        var full = Synthetic.Digits(2, trainCount: 100, testCount: 0);
        var part = Synthetic.Digits(2, trainCount: 30, testCount: 0);

        Assert.Null(part.Test);
        Assert.True(full.Train.Features.AsSpan(0, 30 * 400).SequenceEqual(part.Train.Features));
    }

    [Fact]
    public void Spirals_shape_and_balance()
    {
        var split = Synthetic.Spirals(1);

        Assert.Equal(3000, split.Train.Count);
        Assert.Equal(1000, split.Test!.Count);
        Assert.Equal(2, split.Train.FeatureCount);
        Assert.Equal(3, split.Train.Classes);
        Assert.All(split.Train.Labels.CountBy(l => l), kv => Assert.Equal(1000, kv.Value));
        Assert.InRange(split.Train.Features.Min(), -1.2f, 1.2f);
        Assert.InRange(split.Train.Features.Max(), -1.2f, 1.2f);
    }
}
