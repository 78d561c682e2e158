// Small fixed-seed data, models and comparisons shared by the cluster tests.
using DistBackprop.Cluster.Hosting;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Tests;

internal static class TestData
{
    public static readonly ModelSpec Spec = new([20, 16, 4], Activation.Relu, LossKind.SoftmaxCrossEntropy);

    /// <summary>512 samples of 20 features in 4 Gaussian blobs, from a fixed seed.</summary>
    public static Dataset Blobs(int n = 512, int features = 20, int classes = 4, long seed = 11)
    {
        var rng = DeterministicRandom.For(seed, 0x74657374);
        var centers = new double[classes * features];
        for (var i = 0; i < centers.Length; i++)
        {
            centers[i] = rng.NextGaussian();
        }

        var x = new float[n * features];
        var y = new int[n];
        for (var i = 0; i < n; i++)
        {
            y[i] = rng.NextInt(classes);
            for (var f = 0; f < features; f++)
            {
                x[(i * features) + f] = (float)(centers[(y[i] * features) + f] + (0.8 * rng.NextGaussian()));
            }
        }

        return new Dataset("blobs", x, y, features, classes);
    }

    public static TrainingConfig Config(int shards, long steps = 40, OptimizerKind kind = OptimizerKind.Sgd, ModelSpec? spec = null) =>
        new(spec ?? Spec, new OptimizerSettings(kind, LearningRate: 0.05f), BatchSize: 64, Epochs: null, MaxSteps: steps, Seed: 3, Shuffle: true, Shards: shards);

    public static float[] Reference(TrainingConfig config, Dataset data)
    {
        var trainer = new ReferenceTrainer(config, data, Initializer.Create(config.Spec, 5));
        trainer.Run();
        return trainer.State.Parameters;
    }

    public static LocalTrainingOptions Local(int workers, int threads = 1) => new()
    {
        Workers = workers,
        ThreadsPerWorker = threads,
        Akka = new DistBackpropAkkaOptions { SerializeMessages = true },
    };

    /// <summary>Index and values of the first differing element, for assertion messages.</summary>
    public static string FirstDifference(float[] a, float[] b)
    {
        if (a.Length != b.Length)
        {
            return $"lengths {a.Length} vs {b.Length}";
        }

        var n = 0;
        var first = -1;
        double maxDiff = 0;
        for (var i = 0; i < a.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]))
            {
                n++;
                first = first < 0 ? i : first;
                maxDiff = Math.Max(maxDiff, Math.Abs((double)a[i] - b[i]));
            }
        }

        return n == 0 ? "identical" : $"{n} of {a.Length} differ, first at {first} ({a[first]:R} vs {b[first]:R}), max |diff| {maxDiff:E3}";
    }

    public static double RelativeDistance(float[] a, float[] b)
    {
        double d = 0, n = 0;
        for (var i = 0; i < a.Length; i++)
        {
            d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            n += (double)a[i] * a[i];
        }

        return Math.Sqrt(d / n);
    }
}
