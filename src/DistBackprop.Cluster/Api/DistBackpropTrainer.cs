// Training from C# code on in-memory data, in local mode: the same coordinator and worker actors as `distbackprop
// train`, in one ActorSystem that lives for the call (LocalTraining.RunLocalAsync), so the weights are the CLI's
// bit for bit for the same data, hyperparameters and shards. Input size and classes come from the data.
// Leaves out: files and console output (the CLI), cluster mode (DistBackpropHostingExtensions).
using DistBackprop.Cluster.Hosting;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;

namespace DistBackprop;

/// <summary>
/// Trains an MLP on arrays or an <see cref="IDataset"/>:
/// <code>
/// var model = await new DistBackpropTrainer(new TrainerOptions { HiddenLayers = [64], Epochs = 5 }).TrainAsync(x, y);
/// int[] predicted = model.Classify(rows, rows.Length / model.Spec.Inputs);
/// </code>
/// </summary>
public sealed class DistBackpropTrainer
{
    private readonly TrainerOptions _options;

    public DistBackpropTrainer(TrainerOptions? options = null) => _options = options ?? new TrainerOptions();

    /// <summary>Trains on <paramref name="features"/> (one row per sample) and <paramref name="labels"/> (0 … classes − 1; classes = max label + 1 unless given).</summary>
    public Task<TrainedModel> TrainAsync(float[,] features, int[] labels, int? classes = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(features);
        var rows = features.GetLength(0);
        var width = features.GetLength(1);
        var flat = new float[rows * width];
        Buffer.BlockCopy(features, 0, flat, 0, flat.Length * sizeof(float));
        return TrainAsync(flat, width, labels, classes, cancellationToken);
    }

    /// <summary>Trains on row-major <paramref name="features"/> (labels.Length rows of <paramref name="featureCount"/>) and <paramref name="labels"/>.</summary>
    public Task<TrainedModel> TrainAsync(float[] features, int featureCount, int[] labels, int? classes = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (featureCount < 1 || features.Length != labels.Length * featureCount)
        {
            throw new ArgumentException($"{features.Length} features are not {labels.Length} rows of {featureCount}", nameof(features));
        }

        var k = classes ?? (labels.Length == 0 ? 0 : labels.Max() + 1);
        return TrainAsync(Checked(new Dataset("in-memory", features.ToArray(), labels.ToArray(), featureCount, Math.Max(k, 1))), cancellationToken);
    }

    /// <summary>Trains on <paramref name="data"/> (copied once into one flat buffer).</summary>
    public Task<TrainedModel> TrainAsync(IDataset data, CancellationToken cancellationToken = default) =>
        TrainAsync(ToDataset(data, "in-memory"), cancellationToken);

    /// <summary>Trains on a Core dataset as it is (e.g. from DatasetLoader or Synthetic); only its training rows are used.</summary>
    public async Task<TrainedModel> TrainAsync(Dataset data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var o = _options;
        if (o.HiddenLayers.Any(h => h < 1))
        {
            throw new ArgumentException("every hidden layer needs at least one unit", nameof(data));
        }

        var spec = new ModelSpec([data.FeatureCount, .. o.HiddenLayers, data.Classes], o.Activation, o.Loss);
        var optimizer = new OptimizerSettings(o.Optimizer, o.LearningRate, o.Momentum, o.WeightDecay);
        var config = new TrainingConfig(spec, optimizer, o.BatchSize, o.Epochs ?? (o.MaxSteps is null ? 10 : null), o.MaxSteps, o.Seed, o.Shuffle, o.Shards ?? o.Workers);
        if (config.Validate() is { } problem)
        {
            throw new ArgumentException(problem, nameof(data));
        }

        if (o.BatchSize > data.Count)
        {
            throw new ArgumentException($"batch size {o.BatchSize} is larger than the training set ({data.Count} rows)", nameof(data));
        }

        var initial = o.InitialParameters ?? Initializer.Create(spec, o.Seed);
        if (initial.Length != spec.ParameterCount)
        {
            throw new ArgumentException($"{initial.Length} initial parameters, the model {spec} has {spec.ParameterCount}", nameof(data));
        }

        var state = new TrainingState(config, data.Count, initial.ToArray());
        var local = new LocalTrainingOptions { Workers = o.Workers, ThreadsPerWorker = o.ThreadsPerWorker, DataSource = data.Name, DataSeed = o.Seed };
        var result = await LocalTraining.RunLocalAsync(state, data, local, o.Progress, cancellationToken).ConfigureAwait(false);
        return new TrainedModel(spec, result.Parameters, result.Steps, result.Summary.Stopped);
    }

    internal static Dataset ToDataset(IDataset data, string name)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data is DatasetView view)
        {
            return view.Inner;
        }

        var features = new float[data.Count * data.FeatureCount];
        var labels = new int[data.Count];
        for (var i = 0; i < data.Count; i++)
        {
            data.CopyFeatures(i, features.AsSpan(i * data.FeatureCount, data.FeatureCount));
            labels[i] = data.Label(i);
        }

        return Checked(new Dataset(name, features, labels, data.FeatureCount, data.Classes));
    }

    private static Dataset Checked(Dataset d)
    {
        for (var i = 0; i < d.Count; i++)
        {
            if (d.Labels[i] < 0 || d.Labels[i] >= d.Classes)
            {
                throw new ArgumentException($"label {d.Labels[i]} of row {i} is outside 0..{d.Classes - 1}", nameof(d));
            }
        }

        foreach (var v in d.Features)
        {
            if (!float.IsFinite(v))
            {
                throw new ArgumentException("the features hold NaN or infinity", nameof(d));
            }
        }

        return d;
    }
}

/// <summary>A Core <see cref="Dataset"/> seen as an <see cref="IDataset"/> (no copy when handed back to the library).</summary>
public sealed class DatasetView(Dataset inner) : IDataset
{
    public Dataset Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    public int Count => Inner.Count;

    public int FeatureCount => Inner.FeatureCount;

    public int Classes => Inner.Classes;

    public void CopyFeatures(int index, Span<float> destination) => Inner.Row(index).CopyTo(destination);

    public int Label(int index) => Inner.Labels[index];
}
