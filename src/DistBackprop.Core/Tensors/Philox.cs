// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, i.e. a keyed bijection of a 128-bit counter. Random number n of purpose p is simply
// Philox(key, counter(p, n)); nothing is carried from one draw to the next, so any row, on any worker, in any
// order, draws the same bits. Dropout uses it per (seed, step, sample, layer, unit) (SPEC §3, DropoutMask).
// Leaves out: streams of numbers from one seed (DeterministicRandom) and any vectorised version.
namespace DistBackprop.Core.Tensors;

/// <summary>Philox4x32 with 10 rounds, as Random123's <c>philox4x32_10</c> (its known-answer vectors are in the tests).</summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53;
    private const uint M1 = 0xCD9E8D57;
    private const uint W0 = 0x9E3779B9; // golden ratio
    private const uint W1 = 0xBB67AE85; // √3 − 1

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
    /// one row (four units per Philox block).
    /// </summary>
    /// <param name="scale">(Out_l) one row of the layer's mask.</param>
    public static void FillRow<T>(long seed, long step, int sample, int layer, float p, T keptScale, Span<T> scale)
        where T : struct
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sample);
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        var units = scale.Length;
        for (var block = 0; block * 4 < units; block++)
        {
            var (x0, x1, x2, x3) = Block(seed, step, sample, layer, block);
            var j = block * 4;
            scale[j] = Keep(x0, p) ? keptScale : default;
            if (j + 1 < units)
            {
                scale[j + 1] = Keep(x1, p) ? keptScale : default;
            }

            if (j + 2 < units)
            {
                scale[j + 2] = Keep(x2, p) ? keptScale : default;
            }

            if (j + 3 < units)
            {
                scale[j + 3] = Keep(x3, p) ? keptScale : default;
            }
        }
    }

    private static bool Keep(uint x, float p) => (x >> 8) * (1f / (1 << 24)) >= p;

    // key = seed; counter = (block of 4 units, layer, sample, step); the step's high 32 bits go into the key so that
    // counters never repeat within a run of fewer than 2^64 steps
    private static (uint, uint, uint, uint) Block(long seed, long step, int sample, int layer, int block)
    {
        var s = unchecked((ulong)seed);
        var t = unchecked((ulong)step);
        return Philox.Block((uint)block, (uint)layer, (uint)sample, (uint)t, (uint)s, (uint)(s >> 32) ^ (uint)(t >> 32));
    }
}
