// The only place that says how shard results combine (SPEC §3):
//   mean = ((s_0 + s_1) + s_2 + … + s_{S−1}) / B
// added in shard order, never arrival order, then divided by the global batch size B, so
// uneven shards weigh right and the result does not depend on which worker computed what.
using System.Numerics.Tensors;

namespace DistBackprop.Core.Training;

/// <summary>Shard sums → the mean gradient of the global batch.</summary>
public static class ShardReduction
{
    /// <summary>Splits a batch of <paramref name="rows"/> rows into <paramref name="shards"/> contiguous
    /// ranges whose sizes differ by at most one (the first rows % S shards get one more).</summary>
    public static (int Start, int Length) ShardRange(int rows, int shards, int shard)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        if ((uint)shard >= (uint)shards)
        {
            throw new ArgumentOutOfRangeException(nameof(shard));
        }

        int size = rows / shards, extra = rows % shards;
        return ((shard * size) + Math.Min(shard, extra), size + (shard < extra ? 1 : 0));
    }

    /// <summary>
    /// meanGradient = (Σ_{s in shard order} shards[s].Gradient) / globalBatch; returns the summed loss,
    /// samples and correct count. <paramref name="shardsInOrder"/>[s] must be shard s.
    /// </summary>
    public static (double LossSum, int Samples, int Correct) Reduce(IReadOnlyList<GradientSum> shardsInOrder, int globalBatch, Span<float> meanGradient)
    {
        var totals = Totals(shardsInOrder, globalBatch, meanGradient.Length);
        ReduceRange(shardsInOrder, globalBatch, 0, meanGradient);
        return totals;
    }

    /// <summary>Checks that every shard has <paramref name="length"/> gradient values; the summed loss, samples and correct count.</summary>
    public static (double LossSum, int Samples, int Correct) Totals(IReadOnlyList<GradientSum> shardsInOrder, int globalBatch, int length)
    {
        ArgumentNullException.ThrowIfNull(shardsInOrder);
        ArgumentOutOfRangeException.ThrowIfLessThan(globalBatch, 1);
        if (shardsInOrder.Count == 0)
        {
            throw new ArgumentException("no shards", nameof(shardsInOrder));
        }

        double loss = 0;
        int samples = 0, correct = 0;
        for (var s = 0; s < shardsInOrder.Count; s++)
        {
            var shard = shardsInOrder[s];
            if (shard.Gradient.Length != length)
            {
                throw new ArgumentException($"shard {s} has {shard.Gradient.Length} gradient values, expected {length}", nameof(shardsInOrder));
            }

            loss += shard.LossSum;
            samples += shard.Samples;
            correct += shard.Correct;
        }

        return (loss, samples, correct);
    }

    /// <summary>
    /// The mean on elements [start, start + length) only (shards already checked by <see cref="Totals"/>): the
    /// additions are element-wise, so reducing a buffer range by range gives the same bits as all at once.
    /// </summary>
    /// <param name="mean">[length] receives the mean of elements [start, start + length).</param>
    public static void ReduceRange(IReadOnlyList<GradientSum> shardsInOrder, int globalBatch, int start, Span<float> mean)
    {
        var length = mean.Length;

        // Σ in shard order, then ÷ B — the same additions as copying s_0 and adding on, with one pass
        // fewer over the buffer: S = 1 is a single s_0 / B, S ≥ 2 starts from s_0 + s_1.
        if (shardsInOrder.Count == 1)
        {
            TensorPrimitives.Divide(shardsInOrder[0].Gradient.AsSpan(start, length), (float)globalBatch, mean);
            return;
        }

        TensorPrimitives.Add(shardsInOrder[0].Gradient.AsSpan(start, length), shardsInOrder[1].Gradient.AsSpan(start, length), mean);
        for (var s = 2; s < shardsInOrder.Count; s++)
        {
            TensorPrimitives.Add(mean, shardsInOrder[s].Gradient.AsSpan(start, length), mean);
        }

        TensorPrimitives.Divide(mean, (float)globalBatch, mean);
    }
}
