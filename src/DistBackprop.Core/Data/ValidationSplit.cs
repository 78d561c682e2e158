// --val-split F: hold out the last round(F·N) rows (midpoints away from zero) of one seeded permutation of the training
// set as a validation set, evaluated after every epoch (early stopping, --best-out). The permutation is a Fisher–Yates
// shuffle of 0 … N − 1 seeded by (--seed, "vspl") and nothing else, so every node that loads the same data with the same
// seed holds out the same rows (cluster workers load it from the DatasetDescriptor, which carries F). Both parts then
// keep the file order, as --test-split does: training never sees its rows reordered by the split, and a sample's index
// (its dropout key) is its row in the remaining training set. Leaves out: when to split (DatasetLoader) and evaluating.
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Data;

public static class ValidationSplit
{
    /// <summary>Random stream "vspl": distinct from the test split's and the epoch shuffle's.</summary>
    public const ulong Stream = 0x7673706C;

    /// <summary>The training rows that stay and the validation rows held out, both in file order; both non-empty or a DataFormatException naming --val-split.</summary>
    public static (Dataset Train, Dataset Validation) Carve(Dataset data, double fraction, long seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        Validate(fraction);
        var n = data.Count;
        var held = (int)Math.Round(fraction * n, MidpointRounding.AwayFromZero);
        if (held == 0 || held == n)
        {
            throw new DataFormatException(
                $"--val-split {fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)} of {n} training rows gives a " +
                $"{(held == 0 ? "validation set" : "training set")} with no rows; choose a fraction that leaves rows on both sides");
        }

        var order = new int[n];
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
        }

        DeterministicRandom.For(seed, Stream).Shuffle(order);
        var heldOut = new bool[n];
        foreach (var i in order.AsSpan(n - held))
        {
            heldOut[i] = true; // the last F of the permutation
        }

        var train = new int[n - held];
        var validation = new int[held];
        int tr = 0, va = 0;
        for (var i = 0; i < n; i++)
        {
            if (heldOut[i])
            {
                validation[va++] = i;
            }
            else
            {
                train[tr++] = i;
            }
        }

        return (data.Subset(data.Name, train), data.Subset(data.Name + " (validation)", validation));
    }

    internal static void Validate(double fraction)
    {
        if (!(fraction >= 0 && fraction < 1))
        {
            throw new DataFormatException($"--val-split must be a fraction in [0, 1) (got {fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)})");
        }
    }
}
