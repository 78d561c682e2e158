// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, i.e. a keyed bijection of a 128-bit counter. Random number n of purpose p is simply
// Philox(key, counter(p, n)); nothing is carried from one draw to the next, so any row, on any worker, in any
// order, draws the same bits. Dropout uses it per (seed, step, sample, layer, unit) (SPEC §3, DropoutMask).
// Philox.Block is the scalar reference; DropoutMask.FillRow runs eight blocks at a time in AVX-512 lanes or four in
// AVX2 lanes (integer arithmetic only, so every path gives the same bits; tested against the reference). Leaves out: streams of numbers
// from one seed (DeterministicRandom).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
    /// <see cref="Block"/> for the eight counters (c0 + 0 … c0 + 7, c1, c2, c3) at once, one block per 64-bit lane, as
    /// <see cref="Block4"/> with AVX-512 (vpmuludq on 512 bits). Needs <see cref="Avx512F.IsSupported"/>.
    /// </summary>
    internal static void Block8(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1,
        out Vector512<ulong> x0, out Vector512<ulong> x1, out Vector512<ulong> x2, out Vector512<ulong> x3)
    {
        var low = Vector512.Create(0xFFFF_FFFFUL);
        var m0 = Vector512.Create((ulong)M0).AsUInt32();
        var m1 = Vector512.Create((ulong)M1).AsUInt32();
        var a = (Vector512.Create((ulong)c0) + Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7)) & low;
        var b = Vector512.Create((ulong)c1);
        var c = Vector512.Create((ulong)c2);
        var d = Vector512.Create((ulong)c3);
        for (var round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += W0;
                k1 += W1;
            }

            var p0 = Avx512F.Multiply(a.AsUInt32(), m0);
            var p1 = Avx512F.Multiply(c.AsUInt32(), m1);
            (a, b, c, d) = ((p1 >>> 32) ^ b ^ Vector512.Create((ulong)k0), p1 & low, (p0 >>> 32) ^ d ^ Vector512.Create((ulong)k1), p0 & low);
        }

        (x0, x1, x2, x3) = (a, b, c, d);
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
/// Philox4x32-10 under key = the run seed (64 bits; the step's high 32 bits xor-ed into its upper word) at counter
/// (b, l, i, t mod 2³²): units come in groups of 32, unit j is word w = ⌊(j mod 32)/8⌋ of block b = 8·⌊j/32⌋ + (j mod 8)
/// (so the eight blocks of a group give eight consecutive units per word, one per vector lane), and u = (x >> 8)·2⁻²⁴ (exact
/// in float) from that word x. Kept units are scaled by 1/(1 − p) (inverted dropout, as torch's nn.Dropout). A pure
/// function of (seed, t, i, l, j): no shard, worker or thread count enters it.
/// </summary>
public static class DropoutMask
{
    private const int Group = 32; // units per group of eight blocks

    /// <summary>u for unit <paramref name="unit"/>: in [0, 1), a multiple of 2⁻²⁴ (the scalar reference of <see cref="FillRow"/>).</summary>
    public static float Uniform(long seed, long step, int sample, int layer, int unit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(unit);
        var (x0, x1, x2, x3) = Block(seed, step, sample, layer, BlockOf(unit));
        var x = (unit % Group / 8) switch { 0 => x0, 1 => x1, 2 => x2, _ => x3 };
        return (x >> 8) * (1f / (1 << 24));
    }

    /// <summary>The Philox block counter of unit <paramref name="unit"/>: 8·⌊j/32⌋ + (j mod 8).</summary>
    public static int BlockOf(int unit) => (8 * (unit / Group)) + (unit % 8);

    /// <summary>
    /// Fills <paramref name="scale"/>[j] = 1/(1 − p) when unit j is kept, 0 when dropped, for units 0 … scale.Length − 1 of one
    /// row: groups of 32 units with eight Philox blocks in AVX-512 lanes (or two times four in AVX2 lanes) and a vector compare
    /// for float rows (a partial last group through a buffer); double rows and machines without AVX2 one block at a time (the same bits).
    /// </summary>
    /// <param name="scale">(Out_l) one row of the layer's mask.</param>
    public static void FillRow<T>(long seed, long step, int sample, int layer, float p, T keptScale, Span<T> scale)
        where T : struct
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sample);
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        var units = scale.Length;
        var threshold = Threshold(p);
        var (k0, k1, t) = Key(seed, step);
        var start = 0;
        if (typeof(T) == typeof(float) && Avx2.IsSupported)
        {
            var row = MemoryMarshal.Cast<T, float>(scale);
            var kept = Unsafe.As<T, float>(ref keptScale);
            for (; start + Group <= units; start += Group)
            {
                Group32(row.Slice(start, Group), (uint)(start / 4), (uint)layer, (uint)sample, t, k0, k1, threshold, kept);
            }

            if (start < units)
            {
                // a partial last group (or a layer narrower than 32): the whole group's blocks, the units that exist
                Span<float> last = stackalloc float[Group];
                Group32(last, (uint)(start / 4), (uint)layer, (uint)sample, t, k0, k1, threshold, kept);
                last[..(units - start)].CopyTo(row[start..]);
                return;
            }
        }

        // the rest, a group's eight blocks at a time: block 8g + lane gives units 32g + 8w + lane
        Span<uint> words = stackalloc uint[4];
        for (var group = start / Group; group * Group < units; group++)
        {
            for (var lane = 0; lane < 8; lane++)
            {
                var first = (group * Group) + lane;
                if (first >= units)
                {
                    break;
                }

                (words[0], words[1], words[2], words[3]) = Philox.Block((uint)((8 * group) + lane), (uint)layer, (uint)sample, t, k0, k1);
                for (var w = 0; w < 4 && first + (8 * w) < units; w++)
                {
                    scale[first + (8 * w)] = words[w] >> 8 >= threshold ? keptScale : default;
                }
            }
        }
    }

    // one whole group: blocks b0 … b0 + 7; word w of block b0 + lane is unit 8w + lane of the group
    private static void Group32(Span<float> row, uint b0, uint layer, uint sample, uint t, uint k0, uint k1, uint threshold, float kept)
    {
        if (Avx512F.IsSupported)
        {
            Philox.Block8(b0, layer, sample, t, k0, k1, out var x0, out var x1, out var x2, out var x3);
            Keep16(Vector512.Narrow(x0, x1), threshold, kept).CopyTo(row);           // units 0–15: words 0 and 1
            Keep16(Vector512.Narrow(x2, x3), threshold, kept).CopyTo(row[16..]);     // units 16–31: words 2 and 3
            return;
        }

        Philox.Block4(b0, layer, sample, t, k0, k1, out var a0, out var a1, out var a2, out var a3);
        Philox.Block4(b0 + 4, layer, sample, t, k0, k1, out var c0, out var c1, out var c2, out var c3);
        Keep8(Vector256.Narrow(a0, c0), threshold, kept).CopyTo(row);
        Keep8(Vector256.Narrow(a1, c1), threshold, kept).CopyTo(row[8..]);
        Keep8(Vector256.Narrow(a2, c2), threshold, kept).CopyTo(row[16..]);
        Keep8(Vector256.Narrow(a3, c3), threshold, kept).CopyTo(row[24..]);
    }

    // (x >> 8) ≥ threshold ? kept : 0, lane by lane, without branches (x >> 8 < 2²⁴: a signed compare is exact)
    private static Vector512<float> Keep16(Vector512<uint> x, uint threshold, float kept) =>
        Vector512.GreaterThanOrEqual((x >>> 8).AsInt32(), Vector512.Create((int)threshold)).AsSingle() & Vector512.Create(kept);

    private static Vector256<float> Keep8(Vector256<uint> x, uint threshold, float kept) =>
        Vector256.GreaterThanOrEqual((x >>> 8).AsInt32(), Vector256.Create((int)threshold)).AsSingle() & Vector256.Create(kept);

    // u = (x >> 8)·2⁻²⁴ ≥ p  ⇔  (x >> 8) ≥ ⌈p·2²⁴⌉ (both sides exact: u is a 24-bit integer times a power of two)
    private static uint Threshold(float p) => (uint)Math.Ceiling(p * 16777216.0);

    private static (uint, uint, uint, uint) Block(long seed, long step, int sample, int layer, int block)
    {
        var (k0, k1, t) = Key(seed, step);
        return Philox.Block((uint)block, (uint)layer, (uint)sample, t, k0, k1);
    }

    // key = seed; counter word 3 = the step's low 32 bits, its high 32 bits go into the key, so that counters never repeat
    // within a run of fewer than 2^64 steps
    private static (uint K0, uint K1, uint StepLow) Key(long seed, long step)
    {
        var s = unchecked((ulong)seed);
        var t = unchecked((ulong)step);
        return ((uint)s, (uint)(s >> 32) ^ (uint)(t >> 32), (uint)t);
    }
}
