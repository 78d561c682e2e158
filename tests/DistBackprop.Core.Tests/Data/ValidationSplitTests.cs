// --val-split: round(F·N) rows held out, chosen as the last F of one permutation seeded by the run seed only; both parts keep
// the file order, cover the data and do not overlap; the same seed holds out the same rows; DatasetLoader applies it after
// the test split; fractions that leave a side empty are refused naming the option.
using DistBackprop.Core.Data;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Tests.Data;

public class ValidationSplitTests
{
    [Fact]
    public void Holds_out_the_last_f_of_a_seeded_permutation_in_file_order()
    {
        var data = Numbered(50);
        var (train, validation) = ValidationSplit.Carve(data, 0.1, seed: 9);
        Assert.Equal(5, validation.Count);
        Assert.Equal(45, train.Count);

        var order = Enumerable.Range(0, 50).ToArray();
        DeterministicRandom.For(9, ValidationSplit.Stream).Shuffle(order);
        var expected = order[45..].Order().ToArray();
        Assert.Equal(expected, validation.Labels.Select(RowOf).ToArray()); // labels carry the row numbers here
        Assert.Equal(Enumerable.Range(0, 50).Except(expected).ToArray(), train.Labels.Select(RowOf).ToArray());
        Assert.Equal(data.Row(expected[0]).ToArray(), validation.Row(0).ToArray());
    }

    [Fact]
    public void The_same_seed_holds_out_the_same_rows_another_seed_others()
    {
        var data = Numbered(200);
        var a = ValidationSplit.Carve(data, 0.25, 3).Validation;
        var b = ValidationSplit.Carve(data, 0.25, 3).Validation;
        var c = ValidationSplit.Carve(data, 0.25, 4).Validation;
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.NotEqual(a.Fingerprint, c.Fingerprint);
        Assert.Equal(50, a.Count);
    }

    [Fact]
    public void The_loader_splits_after_the_test_split_and_keeps_the_test_set()
    {
        var full = DatasetLoader.Load("spirals", new DataOptions(Seed: 2));
        var split = DatasetLoader.Load("spirals", new DataOptions(Seed: 2, ValSplit: 0.2));
        Assert.Equal(full.Test!.Fingerprint, split.Test!.Fingerprint);
        Assert.Equal(full.Train.Count, split.Train.Count + split.Validation!.Count);
        Assert.Equal((int)Math.Round(0.2 * full.Train.Count), split.Validation.Count);
        Assert.Null(full.Validation);
    }

    [Theory]
    [InlineData(0.001)]
    [InlineData(0.999)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    public void A_fraction_that_leaves_a_side_empty_is_refused(double fraction)
    {
        var e = Assert.Throws<DataFormatException>(() => ValidationSplit.Carve(Numbered(50), fraction, 1));
        Assert.StartsWith("--val-split", e.Message, StringComparison.Ordinal);
    }

    private static int RowOf(int label) => label;

    /// <summary>n rows whose label is the row number (classes = n) and whose one feature is the row number too.</summary>
    private static Dataset Numbered(int n) =>
        new("numbered", Enumerable.Range(0, n).Select(i => (float)i).ToArray(), Enumerable.Range(0, n).ToArray(), 1, n);
}
