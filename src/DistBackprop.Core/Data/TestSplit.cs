// --test-split F: carve round(F·N) rows (midpoints away from zero) off a training set that has no
// test set of its own. The rows are chosen by a Fisher–Yates shuffle seeded by (seed, "tspl"), a
// stream distinct from the epoch shuffle; both parts then keep the original file order, so
// training never sees its rows reordered by the split. Leaves out: when to split (DatasetLoader).
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Data;

public static class TestSplit
{
    /// <summary>Splits <paramref name="data"/> into train and test parts; both non-empty or a DataFormatException naming --test-split.</summary>
    public static DataSplit Carve(Dataset data, double fraction, long seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        DatasetLoader.ValidateTestSplit(fraction);
        var n = data.Count;
        var testCount = (int)Math.Round(fraction * n, MidpointRounding.AwayFromZero);
        if (testCount == 0 || testCount == n)
        {
            throw new DataFormatException(
                $"--test-split {fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)} of {n} rows gives a " +
                $"{(testCount == 0 ? "test set" : "training set")} with no rows; choose a fraction that leaves rows on both sides");
        }

        var order = new int[n];
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
        }

        DeterministicRandom.For(seed, DatasetLoader.TestSplitStream).Shuffle(order);
        var inTest = new bool[n];
        foreach (var i in order.AsSpan(0, testCount))
        {
            inTest[i] = true;
        }

        var train = new int[n - testCount];
        var test = new int[testCount];
        int tr = 0, te = 0;
        for (var i = 0; i < n; i++)
        {
            if (inTest[i])
            {
                test[te++] = i;
            }
            else
            {
                train[tr++] = i;
            }
        }

        return new DataSplit(data.Subset(data.Name, train), data.Subset(data.Name + " (test)", test));
    }
}
