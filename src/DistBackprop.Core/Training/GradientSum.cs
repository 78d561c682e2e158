// One shard's result: the summed gradient over its rows plus the summed loss, sample count and
// correct count. Workers send these; they are added along the reduction tree (ShardReduction,
// ReductionTree). A PartialSum is the same kind of sum over a whole subtree of shards.
namespace DistBackprop.Core.Training;

/// <summary>Sums over one shard (not means). <see cref="Gradient"/> is in ParameterLayout order.</summary>
public sealed class GradientSum
{
    public GradientSum(int parameterCount)
        : this(new float[parameterCount])
    {
    }

    public GradientSum(float[] gradient, double lossSum = 0, int samples = 0, int correct = 0)
    {
        Gradient = gradient ?? throw new ArgumentNullException(nameof(gradient));
        LossSum = lossSum;
        Samples = samples;
        Correct = correct;
    }

    public float[] Gradient { get; }

    public double LossSum { get; set; }

    public int Samples { get; set; }

    public int Correct { get; set; }

    /// <summary>Whether every gradient value and the loss sum are finite (a sum received from elsewhere is checked with this).</summary>
    public static bool AllFinite(ReadOnlySpan<float> gradient, double lossSum) =>
        double.IsFinite(lossSum) && System.Numerics.Tensors.TensorPrimitives.IsFiniteAll(gradient);

    /// <summary>Zeroes everything: the start of a fresh sum.</summary>
    public void Clear()
    {
        Array.Clear(Gradient);
        LossSum = 0;
        Samples = 0;
        Correct = 0;
    }
}

/// <summary>
/// The sum over the shards of one subtree of the reduction tree: a leaf (one shard, as a worker computes it) or a
/// node's pre-added value (ShardReduction.SumSubtree). <see cref="Sum"/> holds the gradient, loss, samples and correct
/// count of all those shards.
/// </summary>
public readonly record struct PartialSum(Subtree Node, GradientSum Sum);
