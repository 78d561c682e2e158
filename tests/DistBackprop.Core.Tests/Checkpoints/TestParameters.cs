// Test helpers for checkpoint tests: random parameters from a fixed seed, bit-exact comparison.
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Tests.Checkpoints;

internal static class TestParameters
{
    /// <summary>Gaussian values including awkward bit patterns (−0, subnormal, extremes), fixed seed.</summary>
    public static float[] Random(ModelSpec spec, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var p = new float[spec.ParameterCount];
        for (var i = 0; i < p.Length; i++)
        {
            p[i] = (float)rng.NextGaussian();
        }

        p[0] = -0f;
        p[1] = float.Epsilon;
        p[2] = float.MaxValue;
        p[^1] = float.MinValue;
        return p;
    }

    public static void AssertBitIdentical(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var differing = 0;
        var first = -1;
        for (var i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                differing++;
                first = first < 0 ? i : first;
            }
        }

        Assert.True(differing == 0, $"{differing} of {expected.Length} values differ; first at {first}: {(first >= 0 ? expected[first] : 0)} vs {(first >= 0 ? actual[first] : 0)}");
    }
}
