// Shared helpers for the math tests: scaled error measures that print their maximum on failure,
// and small seeded datasets. Tolerances scale with the values compared (STYLE 7).
using DistBackprop.Core.Data;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Tests.MathChecks;

internal static class MathAssert
{
    /// <summary>max_i |a_i − e_i| / max(max_i |e_i|, floor): the error relative to the expected tensor's scale.</summary>
    public static double ScaledError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double floor = 1e-30)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, scale = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            maxDiff = System.Math.Max(maxDiff, System.Math.Abs(actual[i] - expected[i]));
            scale = System.Math.Max(scale, System.Math.Abs(expected[i]));
        }

        var e = maxDiff / System.Math.Max(scale, floor);
        return double.IsNaN(e) ? double.PositiveInfinity : e;
    }

    /// <summary>Asserts <see cref="ScaledError"/> ≤ <paramref name="tolerance"/>, naming <paramref name="what"/> and the error.</summary>
    public static double Close(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double tolerance, string what)
    {
        var e = ScaledError(actual, expected);
        Assert.True(e <= tolerance, $"{what}: scaled max error {e:E3} > {tolerance:E1}");
        return e;
    }

    /// <summary>N rows of F features, Gaussian blobs around a per-class centre (learnable, not separable by accident).</summary>
    public static Dataset Blobs(int n, int features, int classes, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var centres = new double[classes * features];
        for (var i = 0; i < centres.Length; i++)
        {
            centres[i] = rng.NextGaussian();
        }

        var x = new float[n * features];
        var y = new int[n];
        for (var r = 0; r < n; r++)
        {
            y[r] = rng.NextInt(classes);
            for (var f = 0; f < features; f++)
            {
                x[(r * features) + f] = (float)(centres[(y[r] * features) + f] + (0.7 * rng.NextGaussian()));
            }
        }

        return new Dataset("blobs", x, y, features, classes);
    }
}
