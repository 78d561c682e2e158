// Philox4x32-10 against Random123's published known-answer vectors (its tests/kat_vectors), and the dropout rule built on
// it: unit j is word ⌊(j mod 32)/8⌋ of block 8·⌊j/32⌋ + (j mod 8), kept when u ≥ p, scale 1/(1 − p); the vector paths of
// FillRow against that scalar reference over row widths; a pure function of (seed, step, sample, layer, unit), so a row's
// mask does not depend on where in a batch (shard, worker) the row is; about 1 − p of the units are kept.
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Tensors;

public class PhiloxTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox4x32_10_matches_the_random123_known_answers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        var (x0, x1, x2, x3) = Philox.Block(c0, c1, c2, c3, k0, k1);
        Assert.Equal((e0, e1, e2, e3), (x0, x1, x2, x3));
    }

    [Fact]
    public void Unit_j_is_word_j_mod_32_div_8_of_block_8_j_div_32_plus_j_mod_8_keyed_by_seed_and_counted_by_step_sample_layer()
    {
        const long seed = 0x1234_5678_9abc_def0;
        const long step = 41;
        foreach (var unit in new[] { 0, 5, 8, 13, 31, 32, 45, 70 })
        {
            var block = (8 * (unit / 32)) + (unit % 8);
            Assert.Equal(block, DropoutMask.BlockOf(unit));
            var (x0, x1, x2, x3) = Philox.Block(c0: (uint)block, c1: 1, c2: 17, c3: 41, k0: 0x9abcdef0, k1: 0x12345678);
            var word = new[] { x0, x1, x2, x3 }[unit % 32 / 8];
            Assert.Equal((word >> 8) / 16777216f, DropoutMask.Uniform(seed, step, sample: 17, layer: 1, unit: unit));
        }

        // 32 consecutive units use 8 blocks × 4 words, each pair once
        Assert.Equal(32, Enumerable.Range(0, 32).Select(j => (DropoutMask.BlockOf(j), j % 32 / 8)).Distinct().Count());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(31)]
    [InlineData(32)]  // one whole group (the vector path)
    [InlineData(33)]
    [InlineData(37)]  // a group, then a partial one
    [InlineData(64)]
    [InlineData(129)]
    public void FillRow_keeps_exactly_the_units_whose_uniform_is_at_least_p_and_scales_them(int units)
    {
        // the scalar reference per unit (Uniform: Philox.Block, one word) against FillRow (AVX2 lanes where supported)
        foreach (var p in new[] { 0.3f, 0.5f, 1e-7f, 0.9999f })
        {
            var row = new double[units];
            DropoutMask.FillRow(7, 5L << 33, 123, 2, p, 1 / (1 - (double)p), row.AsSpan()); // a step above 2^32: its high bits go into the key
            var floats = new float[units];
            DropoutMask.FillRow(7, 5L << 33, 123, 2, p, 1 / (1 - p), floats.AsSpan());
            for (var j = 0; j < units; j++)
            {
                var keep = DropoutMask.Uniform(7, 5L << 33, 123, 2, j) >= p;
                Assert.Equal(keep ? 1 / (1 - (double)p) : 0, row[j]);
                Assert.Equal(keep ? 1 / (1 - p) : 0, floats[j]);
            }
        }
    }

    [Fact]
    public void A_rows_mask_depends_on_its_sample_index_not_on_its_position_in_a_batch()
    {
        // the same training-set rows in two different batches (other shards, other workers): sample 7's mask is the same
        var spec = new Model.ModelSpec([5, 9, 6, 3], Model.Activation.Relu, Model.LossKind.SoftmaxCrossEntropy)
        {
            Regularization = new Model.Regularization(0.5f, 0, Seed: 3),
        };
        var data = MlpKernelTests.RandomData(5, 3, 20);
        var parameters = Model.Initializer.Create(spec, 1);
        var a = new Model.Mlp<float>(spec, 4);
        var b = new Model.Mlp<float>(spec, 4);
        a.LoadRows(data, [7, 3], training: true);
        a.ForwardTraining(parameters, 2, step: 9);
        b.LoadRows(data, [3, 11, 19, 7], training: true);
        b.ForwardTraining(parameters, 4, step: 9);
        for (var l = 0; l < 2; l++)
        {
            var width = spec.Sizes[l + 1];
            Assert.Equal(a.DropoutMask(l).Slice(0, width).ToArray(), b.DropoutMask(l).Slice(3 * width, width).ToArray()); // sample 7
            Assert.Equal(a.DropoutMask(l).Slice(width, width).ToArray(), b.DropoutMask(l).Slice(0, width).ToArray());     // sample 3
        }

        // another step, another mask (15 units at p = 0.5: all equal by chance once in 2^15)
        var step9 = a.DropoutMask(0).Slice(0, 9).ToArray().Concat(a.DropoutMask(1).Slice(0, 6).ToArray()).ToArray();
        a.ForwardTraining(parameters, 2, step: 10);
        var step10 = a.DropoutMask(0).Slice(0, 9).ToArray().Concat(a.DropoutMask(1).Slice(0, 6).ToArray()).ToArray();
        Assert.NotEqual(step9, step10);
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    public void About_one_minus_p_of_the_units_are_kept(float p)
    {
        var row = new float[1000];
        long kept = 0, total = 0;
        for (var sample = 0; sample < 200; sample++)
        {
            DropoutMask.FillRow(1, 0, sample, 2, p, 1 / (1 - p), row.AsSpan());
            kept += row.Count(v => v != 0);
            total += row.Length;
        }

        var fraction = (double)kept / total;
        var sd = Math.Sqrt(p * (1 - p) / total);
        output.WriteLine($"p = {p}: kept {fraction:F4} of {total} units (expected {1 - p:F4} ± {sd:F4})");
        Assert.True(Math.Abs(fraction - (1 - p)) < 5 * sd, $"kept {fraction:F4}, expected {1 - p:F4} ± 5·{sd:F4}");
    }
}
