// The standard workloads of SPEC §8 (float32, plain SGD, softmax-ce) and the random in-memory data
// they train on: 8192 seeded samples whose features are bytes / 255, so the same rows can be written as
// an IDX folder for the worker processes of `--mode cluster`. Leaves out: running them (LocalBench,
// ClusterBench) and the output (BenchReport).
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Host.Bench;

/// <summary>One SPEC §8 workload: layer sizes (input first), hidden activation, default global batch.</summary>
public sealed record BenchWorkload(string Name, int[] Sizes, Activation Hidden, int Batch)
{
    /// <summary>Samples in the random training set.</summary>
    public const int Samples = 8192;

    /// <summary>Seed of the data and the initial weights.</summary>
    public const long Seed = 1;

    /// <summary>Plain SGD; small enough that none of the workloads diverges on random labels.</summary>
    public static OptimizerSettings Optimizer { get; } = new(OptimizerKind.Sgd, LearningRate: 0.01f);

    public static BenchWorkload SeedNet { get; } = new("seed", [400, 25, 10], Activation.Sigmoid, 64);

    public static BenchWorkload Mnist { get; } = new("mnist", [784, 256, 128, 10], Activation.Relu, 128);

    public static BenchWorkload Wide { get; } = new("wide", [784, 1024, 1024, 10], Activation.Relu, 256);

    /// <summary>All workloads, in the order the default run and the table use.</summary>
    public static IReadOnlyList<BenchWorkload> All { get; } = [SeedNet, Mnist, Wide];

    public ModelSpec Spec => new(Sizes, Hidden, LossKind.SoftmaxCrossEntropy);

    /// <summary>The "weights" of SPEC §8's formula GFLOP/s = 6 × weights × samples/s / 1e9.</summary>
    public long WeightCount => Spec.Layout.WeightCount;

    public int Features => Sizes[0];

    public int Classes => Sizes[^1];

    /// <summary>The workload called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static BenchWorkload? Find(string name) =>
        All.FirstOrDefault(w => string.Equals(w.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>GFLOP/s for a measured throughput: 2 flops per weight and sample forward, 4 backward.</summary>
    public double Gflops(double samplesPerSecond) => 6.0 * WeightCount * samplesPerSecond / 1e9;

    /// <summary>
    /// The random training rows: pixels[i·F + f] uniform bytes and labels[i] uniform in [0, classes),
    /// from their own DeterministicRandom stream ("bnch"), the same for every run.
    /// </summary>
    public (byte[] Pixels, byte[] Labels) RandomBytes()
    {
        var rng = DeterministicRandom.For(Seed, 0x626e6368);
        var pixels = new byte[(long)Samples * Features];
        var labels = new byte[Samples];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)rng.NextInt(256);
        }

        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = (byte)rng.NextInt(Classes);
        }

        return (pixels, labels);
    }

    /// <summary>The random rows as a Dataset, features = byte / 255 (what the IDX reader makes of the same bytes).</summary>
    public Dataset RandomDataset()
    {
        var (pixels, labels) = RandomBytes();
        var features = new float[pixels.Length];
        for (var i = 0; i < pixels.Length; i++)
        {
            features[i] = pixels[i] / 255f;
        }

        return new Dataset($"bench-{Name}", features, labels.Select(l => (int)l).ToArray(), Features, Classes);
    }
}
