// The registration conversation between a worker and the coordinator (SPEC §7):
//   worker → RegisterWorker → coordinator: Accepted (model + dataset to use) or Refused (reason);
//   worker loads the dataset, builds its workspace → WorkerReady(fingerprint) → coordinator adds it
//   to the live set (or refuses it if the fingerprint differs).
// Leaves out: the training round (RoundProtocol.cs).
using DistBackprop.Core.Model;

namespace DistBackprop.Cluster.Protocol;

/// <summary>
/// An architecture on the wire: layer sizes (input first) and the activation/loss names of <see cref="Names"/>, plus the model's
/// train-time regularization (<see cref="ModelSpec.Regularization"/>: dropout p, label smoothing ε, and the seed that keys the dropout
/// masks), which a worker takes from the coordinator. Equality is the architecture's only (what a worker's own --layers can say).
/// </summary>
public sealed record ModelDescriptor(int[] Sizes, string Activation, string Loss, float Dropout = 0, float LabelSmoothing = 0, long DropoutSeed = 1) : IControlMessage
{
    public static ModelDescriptor From(ModelSpec spec) =>
        new(spec.Sizes.ToArray(), Names.Of(spec.Hidden), Names.Of(spec.Loss), spec.Regularization.Dropout, spec.Regularization.LabelSmoothing, spec.Regularization.Seed);

    public ModelSpec ToSpec()
    {
        if (!Names.TryParseActivation(Activation, out var a))
        {
            throw new FormatException($"unknown activation '{Activation}'");
        }

        if (!Names.TryParseLoss(Loss, out var l))
        {
            throw new FormatException($"unknown loss '{Loss}'");
        }

        var regularization = new Regularization(Dropout, LabelSmoothing, DropoutSeed);
        if (regularization.Validate(l) is { } problem)
        {
            throw new FormatException(problem);
        }

        return new ModelSpec(Sizes, a, l) { Regularization = regularization.IsNone ? Regularization.None : regularization };
    }

    /// <summary>"20,16,4 relu softmax-ce".</summary>
    public override string ToString() => $"{string.Join(',', Sizes)} {Activation} {Loss}";

    public bool Equals(ModelDescriptor? other) =>
        other is not null && Sizes.AsSpan().SequenceEqual(other.Sizes) &&
        string.Equals(Activation, other.Activation, StringComparison.OrdinalIgnoreCase) &&
        string.Equals(Loss, other.Loss, StringComparison.OrdinalIgnoreCase);

    public override int GetHashCode() => HashCode.Combine(Sizes.Length, Activation.ToLowerInvariant(), Loss.ToLowerInvariant());
}

/// <summary>
/// Which training set to use: the source as the user named it (null/"" = the default synthetic set,
/// a synthetic name, "mnist", a folder or a .csv), the data seed, test split and validation split that shape it (the
/// validation rows are held out of the training set: Core.Data.ValidationSplit), and the fingerprint of the coordinator's
/// training set (after both splits), which a worker's copy must match.
/// </summary>
public sealed record DatasetDescriptor(string? Source, long DataSeed, double TestSplit, string Fingerprint, int Count, double ValSplit = 0) : IControlMessage;

/// <summary>
/// A worker asks to join. <paramref name="Model"/> / <paramref name="DatasetFingerprint"/> are null when the
/// worker was started without its own (it then adopts the coordinator's); when given, they must match.
/// </summary>
public sealed record RegisterWorker(string WorkerId, string KernelPath, ModelDescriptor? Model, string? DatasetFingerprint, int Threads) : IControlMessage;

/// <summary>The coordinator accepts: use this model and dataset; shards have at most <paramref name="MaxShardRows"/> rows.
/// <paramref name="TensorChannel"/>: where to connect for weights and gradients (null: they come inside Akka messages).</summary>
public sealed record RegistrationAccepted(string CoordinatorId, ModelDescriptor Model, DatasetDescriptor Dataset, int MaxShardRows, string KernelPath,
    TensorChannelEndpoint? TensorChannel = null) : IControlMessage;

/// <summary>The coordinator refuses the worker; <paramref name="Reason"/> is the line both sides log.</summary>
public sealed record RegistrationRefused(string Reason) : IControlMessage;

/// <summary>The worker has its data and workspace; <paramref name="DatasetFingerprint"/> is its training set's.</summary>
public sealed record WorkerReady(string WorkerId, string DatasetFingerprint) : IControlMessage;
