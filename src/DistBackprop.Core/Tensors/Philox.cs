// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, i.e. a keyed bijection of a 128-bit counter. Random number n of purpose p is simply
// Philox(key, counter(p, n)); nothing is carried from one draw to the next, so any row, on any worker, in any
// order, draws the same bits. Dropout uses it per (seed, step, sample, layer, unit) (SPEC §3, DropoutMask).
// Philox.Block is the scalar reference; DropoutMask.FillRow runs four blocks at a time in AVX2 lanes (integer
// arithmetic only, so every path gives the same bits; tested against the reference). Leaves out: streams of numbers
// from one seed (DeterministicRandom).
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DistBackprop.Core.Tensors;

/// <summary>Philox4x32 with 10 rounds, as Random123's <c>philox4x32_10</c> (its known-answer vectors are in the tests).</summary>
public static class Philox
{
    internal const uint M0 = 0xD2511F53;
    internal const uint M1 = 0xCD9E8D57;
    internal const uint W0 = 0x9E3779B9; // golden ratio
    internal const uint W1 = 0xBB67AE85; // √3 − 1

    /// <summary>The four 32-bit outputs for counter (c0, c1, c2, c3) under key (k0, k1).</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Block(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (var round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                // the key schedule: a Weyl sequence, bumped before every round but the first
                k0 += W0;
                k1 += W1;
            }

            // (hi, lo) = M·c on the even words; the odd words and the key are mixed in by xor
            var p0 = (ulong)M0 * c0;
            var p1 = (ulong)M1 * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
        }

        return (c0, c1, c2, c3);
    }

    /// <summary>
    /// <see cref="Block"/> for the four counters (c0 + 0 … c0 + 3, c1, c2, c3) at once, one block per 64-bit lane (the low 32 bits
    /// hold the word, the high ones stay 0: _mm256_mul_epu32 multiplies exactly those). Needs <see cref="Avx2.IsSupported"/>.
    /// </summary>
    internal static void Block4(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1,
        out Vector256<ulong> x0, out Vector256<ulong> x1, out Vector256<ulong> x2, out Vector256<ulong> x3)
    {
        var low = Vector256.Create(0xFFFF_FFFFUL);
        var m0 = Vector256.Create((ulong)M0).AsUInt32();
        var m1 = Vector256.Create((ulong)M1).AsUInt32();
        var a = Vector256.Create((ulong)c0, (ulong)c0 + 1, (ulong)c0 + 2, (ulong)c0 + 3) & low;
        var b = Vector256.Create((ulong)c1);
        var c = Vector256.Create((ulong)c2);
        var d = Vector256.Create((ulong)c3);
        for (var round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += W0;
                k1 += W1;
            }

            var p0 = Avx2.Multiply(a.AsUInt32(), m0);
            var p1 = Avx2.Multiply(c.AsUInt32(), m1);
            (a, b, c, d) = ((p1 >>> 32) ^ b ^ Vector256.Create((ulong)k0), p1 & low, (p0 >>> 32) ^ d ^ Vector256.Create((ulong)k1), p0 & low);
        }

        (x0, x1, x2, x3) = (a, b, c, d);
    }
}

/// <summary>
/// The dropout rule of SPEC §3: unit <c>j</c> of hidden layer <c>l</c>, for the sample with global index <c>i</c> (its row in
/// the training set) at optimizer step <c>t</c> (0-based), is kept when u ≥ p, with u uniform in [0, 1) drawn from
/// Philox4x32-10 under key = the run seed (64 bits) at counter (⌊j/4⌋, l, i, t) — word j mod 4 of the block, its top
/// 24 bits as u = x·2⁻²⁴ (exact in float). Kept units are scaled by 1/(1 − p) (inverted dropout, as torch's nn.Dropout).
/// A pure function of (seed, t, i, l, j): no shard, worker or thread count enters it.
/// </summary>
public static class DropoutMask
{
    /// <summary>u for unit <paramref name="unit"/>: in [0, 1), a multiple of 2⁻²⁴.</summary>
    public static float Uniform(long seed, long step, int sample, int layer, int unit)
    {
        var (x0, x1, x2, x3) = Block(seed, step, sample, layer, unit >> 2);
        var x = (unit & 3) switch { 0 => x0, 1 => x1, 2 => x2, _ => x3 };
        return (x >> 8) * (1f / (1 << 24));
    }

    /// <summary>
    /// Fills <paramref name="scale"/>[j] = 1/(1 − p) when unit j is kept, 0 when dropped, for units 0 … scale.Length − 1 of
    /// one row (four units per Philox block; sixteen at a time with AVX2).
    /// </summary>
    /// <param name="scale">(Out_l) one row of the layer's mask.</param>
    public static void FillRow<T>(long seed, long step, int sample, int layer, float p, T keptScale, Span<T> scale)
        where T : struct
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sample);
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        var units = scale.Length;
        var threshold = Threshold(p);
        var block = 0;
        if (Avx2.IsSupported)
        {
            var (k0, k1, t) = Key(seed, step);
            Span<ulong> words = stackalloc ulong[16]; // [word w][lane]: word w of block (block + lane)
            for (; (block + 4) * 4 <= units; block += 4)
            {
                Philox.Block4((uint)block, (uint)layer, (uint)sample, t, k0, k1, out var x0, out var x1, out var x2, out var x3);
                x0.CopyTo(words);
                x1.CopyTo(words[4..]);
                x2.CopyTo(words[8..]);
                x3.CopyTo(words[12..]);
                var row = scale.Slice(block * 4, 16);
                for (var lane = 0; lane < 4; lane++)
                {
                    for (var w = 0; w < 4; w++)
                    {
                        row[(4 * lane) + w] = (uint)words[(4 * w) + lane] >> 8 >= threshold ? keptScale : default;
                    }
                }
            }
        }

        for (; block * 4 < units; block++)
        {
            var (x0, x1, x2, x3) = Block(seed, step, sample, layer, block);
            var j = block * 4;
            scale[j] = x0 >> 8 >= threshold ? keptScale : default;
            if (j + 1 < units)
            {
                scale[j + 1] = x1 >> 8 >= threshold ? keptScale : default;
            }

            if (j + 2 < units)
            {
                scale[j + 2] = x2 >> 8 >= threshold ? keptScale : default;
            }

            if (j + 3 < units)
            {
                scale[j + 3] = x3 >> 8 >= threshold ? keptScale : default;
            }
        }
    }

    // u = (x >> 8)·2⁻²⁴ ≥ p  ⇔  (x >> 8) ≥ ⌈p·2²⁴⌉ (both sides exact: u is a 24-bit integer times a power of two)
    private static uint Threshold(float p) => (uint)Math.Ceiling(p * 16777216.0);

    // key = seed; counter = (block of 4 units, layer, sample, step); the step's high 32 bits go into the key so that
    // counters never repeat within a run of fewer than 2^64 steps
    private static (uint, uint, uint, uint) Block(long seed, long step, int sample, int layer, int block)
    {
        var (k0, k1, t) = Key(seed, step);
        return Philox.Block((uint)block, (uint)layer, (uint)sample, t, k0, k1);
    }

    private static (uint K0, uint K1, uint StepLow) Key(long seed, long step)
    {
        var s = unchecked((ulong)seed);
        var t = unchecked((ulong)step);
        return ((uint)s, (uint)(s >> 32) ^ (uint)(t >> 32), (uint)t);
    }
}
