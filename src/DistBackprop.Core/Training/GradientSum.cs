// One shard's result: the summed gradient over its rows plus the summed loss, sample count and
// correct count. Workers send these; the coordinator adds them in shard order (ShardReduction).
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

    /// <summary>Zeroes everything: the start of a fresh sum.</summary>
    public void Clear()
    {
        Array.Clear(Gradient);
        LossSum = 0;
        Samples = 0;
        Correct = 0;
    }
}
