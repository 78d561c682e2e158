// Built-in datasets generated from the run seed, so `train` works with no files and no network:
//   "digits"  (the default) 20×20 grayscale renderings of the digits 0–9, 400 features in [0, 1],
//             8000 train + 2000 test, balanced (label = index mod 10);
//   "spirals" three noisy 2-D spiral arms, 3000 train + 1000 test, 3 classes.
// Every sample i of a set draws from its own generator For(seed, setStream, i), so the test set
// (its own stream) never shares randomness with the train set and generation order does not matter.
// Leaves out: the glyph shapes and the rasteriser (SyntheticDigits.cs).
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Data;

public static class Synthetic
{
    public const string DigitsName = "digits";
    public const string SpiralsName = "spirals";

    /// <summary>The synthetic names <see cref="Generate"/> knows, the default first.</summary>
    public static IReadOnlyList<string> Names { get; } = [DigitsName, SpiralsName];

    // Random stream ids (ASCII tags) — distinct from "init" and "shuf" used by training.
    internal const ulong DigitsTrainStream = 0x64677472; // "dgtr"
    internal const ulong DigitsTestStream = 0x64677465;  // "dgte"
    internal const ulong SpiralsTrainStream = 0x73707472; // "sptr"
    internal const ulong SpiralsTestStream = 0x73707465;  // "spte"

    public static bool IsName(string? source) =>
        source is not null && Names.Contains(source, StringComparer.OrdinalIgnoreCase);

    /// <summary>The named synthetic dataset with its own test set.</summary>
    public static DataSplit Generate(string name, long seed) => name.ToLowerInvariant() switch
    {
        DigitsName => Digits(seed),
        SpiralsName => Spirals(seed),
        _ => throw new ArgumentException($"unknown synthetic dataset '{name}'", nameof(name)),
    };

    /// <summary>20×20 digit images: <paramref name="trainCount"/> train and <paramref name="testCount"/> test samples.</summary>
    public static DataSplit Digits(long seed, int trainCount = 8000, int testCount = 2000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trainCount, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(testCount);
        var train = DigitsSet(DigitsName, seed, DigitsTrainStream, trainCount);
        var test = testCount > 0 ? DigitsSet(DigitsName + " (test)", seed, DigitsTestStream, testCount) : null;
        return new DataSplit(train, test);
    }

    /// <summary>Three 2-D spiral arms: <paramref name="trainCount"/> train and <paramref name="testCount"/> test points.</summary>
    public static DataSplit Spirals(long seed, int trainCount = 3000, int testCount = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trainCount, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(testCount);
        var train = SpiralSet(SpiralsName, seed, SpiralsTrainStream, trainCount);
        var test = testCount > 0 ? SpiralSet(SpiralsName + " (test)", seed, SpiralsTestStream, testCount) : null;
        return new DataSplit(train, test);
    }

    private static Dataset DigitsSet(string name, long seed, ulong stream, int count)
    {
        const int side = SyntheticDigits.Side;
        var features = new float[count * side * side];
        var labels = new int[count];
        // Samples are independent (own generator each), so rendering them in parallel is deterministic.
        Parallel.For(0, count, i =>
        {
            labels[i] = i % 10;
            var rng = DeterministicRandom.For(seed, stream, (ulong)i);
            SyntheticDigits.Render(labels[i], rng, features.AsSpan(i * side * side, side * side));
        });
        return new Dataset(name, features, labels, side * side, 10, (side, side));
    }

    private static Dataset SpiralSet(string name, long seed, ulong stream, int count)
    {
        const int arms = 3;
        var features = new float[count * 2];
        var labels = new int[count];
        for (var i = 0; i < count; i++)
        {
            var rng = DeterministicRandom.For(seed, stream, (ulong)i);
            var arm = i % arms;
            // r = t ∈ [0, 1),  θ = 2πk/3 + 4t + 0.2·N(0,1),  (x, y) = r·(cos θ, sin θ) + 0.02·N(0,1)
            var t = rng.NextDouble();
            var theta = (2 * Math.PI * arm / arms) + (4 * t) + (0.2 * rng.NextGaussian());
            features[2 * i] = (float)((t * Math.Cos(theta)) + (0.02 * rng.NextGaussian()));
            features[(2 * i) + 1] = (float)((t * Math.Sin(theta)) + (0.02 * rng.NextGaussian()));
            labels[i] = arm;
        }

        return new Dataset(name, features, labels, 2, arms);
    }
}
