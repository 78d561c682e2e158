// The smallest view of in-memory training data that the library API accepts besides arrays: a row count, feature
// and class counts, and row-by-row access. DistBackpropTrainer copies it once into Core's Dataset (one flat float[]),
// the layout every worker reads. Leaves out: lazy or streamed data (training reads every row each epoch).
namespace DistBackprop;

/// <summary>Labelled rows for <see cref="DistBackpropTrainer"/>: features are floats (scale them yourself, e.g. pixels / 255), labels 0 … Classes − 1.</summary>
public interface IDataset
{
    /// <summary>Number of rows.</summary>
    int Count { get; }

    /// <summary>Features per row (the model's input size).</summary>
    int FeatureCount { get; }

    /// <summary>Number of classes (the model's output size; 2 classes may use one sigmoid output).</summary>
    int Classes { get; }

    /// <summary>Writes row <paramref name="index"/>'s features into <paramref name="destination"/> (length <see cref="FeatureCount"/>).</summary>
    void CopyFeatures(int index, Span<float> destination);

    /// <summary>Row <paramref name="index"/>'s class, 0 … <see cref="Classes"/> − 1.</summary>
    int Label(int index);
}
