// Hyperparameters of DistBackpropTrainer, with the same defaults as `distbackprop train` (README: the math, the
// distributed contract). Leaves out: files (checkpoints, metrics, plots: the CLI's), cluster mode (see
// DistBackpropHostingExtensions for running a coordinator or worker inside your own host).
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;

namespace DistBackprop;

/// <summary>What to train and how; every property has the CLI's default.</summary>
public sealed class TrainerOptions
{
    /// <summary>Hidden layer widths; input and output sizes come from the data. Default: one hidden layer of 128.</summary>
    public IReadOnlyList<int> HiddenLayers { get; init; } = [128];

    /// <summary>Hidden activation (relu, leaky relu, sigmoid, tanh). Default relu.</summary>
    public Activation Activation { get; init; } = Activation.Relu;

    /// <summary>Output/loss pair. Default softmax cross-entropy.</summary>
    public LossKind Loss { get; init; } = LossKind.SoftmaxCrossEntropy;

    /// <summary>sgd (default), momentum, nesterov or adam, following torch.optim.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;

    /// <summary>α, default 0.1.</summary>
    public float LearningRate { get; init; } = 0.1f;

    /// <summary>μ for momentum and nesterov, default 0.9.</summary>
    public float Momentum { get; init; } = 0.9f;

    /// <summary>L2 λ on weights (never biases): g ← g + λ·W. Default 0.</summary>
    public float WeightDecay { get; init; }

    /// <summary>Global batch size B, default 64.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Epochs; null (the default) = 10, or unbounded when <see cref="MaxSteps"/> is set (as the CLI).</summary>
    public int? Epochs { get; init; }

    /// <summary>Stop after this many steps (with <see cref="Epochs"/>: whichever ends first).</summary>
    public long? MaxSteps { get; init; }

    /// <summary>Seed of initialisation and shuffling. Default 1.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Shuffle each epoch (seeded by seed and epoch). Default true.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>In-process worker actors. Default: one per core.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>Kernel threads per worker. Default 1.</summary>
    public int ThreadsPerWorker { get; init; } = 1;

    /// <summary>Shards per step, S (weights depend on S, never on workers or threads). Default: <see cref="Workers"/>.</summary>
    public int? Shards { get; init; }

    /// <summary>Start from these parameters (ParameterLayout order) instead of the seeded initialisation.</summary>
    public float[]? InitialParameters { get; init; }

    /// <summary>Told of every step (loss, accuracy, samples/s …), on the coordinator's thread: keep it quick.</summary>
    public IProgress<StepReport>? Progress { get; init; }
}
