// An in-memory classification dataset: features row-major float32 (N, F) and integer labels.
// Loaders (IDX, CSV, synthetic) produce these; trainers only index rows. Leaves out: file I/O.
using System.Security.Cryptography;

namespace DistBackprop.Core.Data;

/// <summary>N samples of F features with labels in [0, Classes).</summary>
public sealed class Dataset
{
    private string? _fingerprint;

    public Dataset(string name, float[] features, int[] labels, int featureCount, int classes, (int Height, int Width)? imageShape = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        if ((long)labels.Length * featureCount != features.Length)
        {
            throw new ArgumentException($"{features.Length} feature values do not make {labels.Length} rows of {featureCount}", nameof(features));
        }

        Name = name;
        Features = features;
        Labels = labels;
        FeatureCount = featureCount;
        Classes = classes;
        ImageShape = imageShape;
    }

    /// <summary>Human name: "digits", "mnist:/path", "file.csv".</summary>
    public string Name { get; }

    /// <summary>Row-major (Count, FeatureCount).</summary>
    public float[] Features { get; }

    public int[] Labels { get; }

    public int FeatureCount { get; }

    public int Classes { get; }

    public int Count => Labels.Length;

    public (int Height, int Width)? ImageShape { get; }

    public ReadOnlySpan<float> Row(int i) => Features.AsSpan(i * FeatureCount, FeatureCount);

    /// <summary>SHA-256 (hex, first 16 bytes) of shape, features and labels: equal content, equal fingerprint.</summary>
    public string Fingerprint => _fingerprint ??= ComputeFingerprint();

    /// <summary>A new dataset holding the rows at <paramref name="indices"/>, in that order.</summary>
    public Dataset Subset(string name, ReadOnlySpan<int> indices)
    {
        var f = new float[indices.Length * FeatureCount];
        var l = new int[indices.Length];
        for (var k = 0; k < indices.Length; k++)
        {
            Row(indices[k]).CopyTo(f.AsSpan(k * FeatureCount, FeatureCount));
            l[k] = Labels[indices[k]];
        }

        return new Dataset(name, f, l, FeatureCount, Classes, ImageShape);
    }

    private string ComputeFingerprint()
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> head = stackalloc byte[12];
        BitConverter.TryWriteBytes(head, Count);
        BitConverter.TryWriteBytes(head[4..], FeatureCount);
        BitConverter.TryWriteBytes(head[8..], Classes);
        h.AppendData(head);
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Features.AsSpan()));
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Labels.AsSpan()));
        return Convert.ToHexStringLower(h.GetHashAndReset().AsSpan(0, 16));
    }
}

/// <summary>A training set and, when the source has one (or --test-split carved one), a test set; with --val-split, the validation
/// rows held out of the training set.</summary>
public sealed record DataSplit(Dataset Train, Dataset? Test, Dataset? Validation = null);

/// <summary>Bad data: the message names the file and the problem (shown to the user as is, exit 2).</summary>
public sealed class DataFormatException : Exception
{
    public DataFormatException(string message)
        : base(message)
    {
    }

    public DataFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
