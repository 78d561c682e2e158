// The architecture of a multilayer perceptron: layer sizes (input first), the hidden
// activation and the output/loss pair, plus the train-time regularization that changes its forward and
// backward pass but not its parameters (dropout, label smoothing). Parameter order is fixed by this record
// (ParameterLayout). Leaves out: the parameters themselves (a flat float[] owned by whoever trains).
using System.Globalization;

namespace DistBackprop.Core.Model;

/// <summary>Hidden-layer activation g.</summary>
public enum Activation
{
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
}

/// <summary>Output activation and loss, always paired so that dZ_out = (A − Y) per sample.</summary>
public enum LossKind
{
    /// <summary>softmax outputs, J = (1/B) Σ_i −Σ_k y_ik log a_ik.</summary>
    SoftmaxCrossEntropy,

    /// <summary>sigmoid outputs, J = (1/B) Σ_i −Σ_k [y log a + (1−y) log(1−a)].</summary>
    SigmoidCrossEntropy,

    /// <summary>identity outputs, J = (1/B) Σ_i ½ Σ_k (a − y)².</summary>
    Mse,
}

/// <summary>Command-line names of activations and losses, one place for parsing and printing.</summary>
public static class Names
{
    public const float LeakySlope = 0.01f;

    public static string Of(Activation a) => a switch
    {
        Activation.Relu => "relu",
        Activation.LeakyRelu => "leaky-relu",
        Activation.Sigmoid => "sigmoid",
        Activation.Tanh => "tanh",
        _ => throw new ArgumentOutOfRangeException(nameof(a)),
    };

    public static string Of(LossKind l) => l switch
    {
        LossKind.SoftmaxCrossEntropy => "softmax-ce",
        LossKind.SigmoidCrossEntropy => "sigmoid-ce",
        LossKind.Mse => "mse",
        _ => throw new ArgumentOutOfRangeException(nameof(l)),
    };

    public static bool TryParseActivation(string? s, out Activation a)
    {
        foreach (var v in Enum.GetValues<Activation>())
        {
            if (string.Equals(Of(v), s?.Trim(), StringComparison.OrdinalIgnoreCase) ||
                (v == Activation.LeakyRelu && string.Equals(s?.Trim(), "leakyrelu", StringComparison.OrdinalIgnoreCase)))
            {
                a = v;
                return true;
            }
        }

        a = default;
        return false;
    }

    public static bool TryParseLoss(string? s, out LossKind l)
    {
        foreach (var v in Enum.GetValues<LossKind>())
        {
            if (string.Equals(Of(v), s?.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                l = v;
                return true;
            }
        }

        l = default;
        return false;
    }

    /// <summary>Parses "784,128,10"; returns null and a reason when malformed.</summary>
    public static int[]? TryParseLayers(string? s, out string? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(s))
        {
            error = "is empty";
            return null;
        }

        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] <= 0)
            {
                error = $"'{parts[i]}' is not a positive layer size";
                return null;
            }
        }

        if (sizes.Length < 2)
        {
            error = "needs at least an input and an output size";
            return null;
        }

        if (ModelSpec.SizeProblem(sizes, rows: 1) is { } tooLarge)
        {
            error = tooLarge;
            return null;
        }

        return sizes;
    }
}

/// <summary>
/// Train-time regularization (identity in evaluation): inverted dropout with probability <paramref name="Dropout"/> on every
/// hidden layer's activations, masks drawn per (<paramref name="Seed"/>, step, sample, layer, unit) (Tensors.DropoutMask), and
/// label smoothing <paramref name="LabelSmoothing"/> ε for softmax-ce: target = (1 − ε)·one-hot + ε/K (torch's
/// CrossEntropyLoss(label_smoothing = ε)).
/// </summary>
public sealed record Regularization(float Dropout = 0, float LabelSmoothing = 0, long Seed = 1)
{
    public static Regularization None { get; } = new();

    public bool IsNone => Dropout == 0 && LabelSmoothing == 0;

    /// <summary>A message naming the option when a value is out of range, or null.</summary>
    public string? Validate(LossKind loss)
    {
        var g = CultureInfo.InvariantCulture;
        if (!(Dropout >= 0 && Dropout < 1))
        {
            return $"--dropout must be in [0, 1) (got {Dropout.ToString("R", g)})";
        }

        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1))
        {
            return $"--label-smoothing must be in [0, 1) (got {LabelSmoothing.ToString("R", g)})";
        }

        return LabelSmoothing > 0 && loss != LossKind.SoftmaxCrossEntropy
            ? $"--label-smoothing needs --loss softmax-ce (got --loss {Names.Of(loss)})"
            : null;
    }
}

/// <summary>
/// An MLP architecture. <c>Sizes[0]</c> is the input width, <c>Sizes[^1]</c> the output width;
/// layer <c>i</c> maps <c>Sizes[i]</c> → <c>Sizes[i+1]</c> with W <c>[out, in]</c> and b <c>[out]</c>.
/// </summary>
public sealed record ModelSpec
{
    public ModelSpec(IReadOnlyList<int> sizes, Activation hidden, LossKind loss)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        if (sizes.Count < 2)
        {
            throw new ArgumentException("an MLP needs at least an input and an output size", nameof(sizes));
        }

        foreach (var s in sizes)
        {
            if (s <= 0)
            {
                throw new ArgumentException($"layer size {s} is not positive", nameof(sizes));
            }
        }

        if (SizeProblem(sizes, rows: 1) is { } tooLarge)
        {
            throw new ArgumentException(tooLarge, nameof(sizes)); // not an OverflowException from the layout's offsets
        }

        Sizes = sizes.ToArray();
        Hidden = hidden;
        Loss = loss;
        Layout = new ParameterLayout(Sizes);
    }

    public int[] Sizes { get; }

    /// <summary>Dropout and label smoothing while training (none by default); never changes the parameters' shapes.</summary>
    public Regularization Regularization { get; init; } = Regularization.None;

    public Activation Hidden { get; }

    public LossKind Loss { get; }

    public ParameterLayout Layout { get; }

    public int LayerCount => Sizes.Length - 1;

    public int Inputs => Sizes[0];

    public int Outputs => Sizes[^1];

    public int ParameterCount => Layout.Count;

    /// <summary>The most values one flat buffer (an array) holds: parameters, or one layer's activations for a batch.</summary>
    public static long MaxBufferLength => Array.MaxLength;

    /// <summary>Σ_l (in_l · out_l + out_l), in 64 bits (it may not fit an int).</summary>
    public static long ParameterCountOf(IReadOnlyList<int> sizes)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        long n = 0;
        for (var l = 0; l + 1 < sizes.Count; l++)
        {
            n += ((long)sizes[l] * sizes[l + 1]) + sizes[l + 1];
        }

        return n;
    }

    /// <summary>
    /// Null when a model of these (positive) sizes can be indexed: its parameters fit one buffer and so do
    /// <paramref name="rows"/> rows of its widest layer (a batch's activations); otherwise what is too large, in words.
    /// </summary>
    public static string? SizeProblem(IReadOnlyList<int> sizes, int rows)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        var text = string.Join(',', sizes);
        var parameters = ParameterCountOf(sizes);
        if (parameters > MaxBufferLength)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the model {text} has {parameters:N0} parameters; at most {MaxBufferLength:N0} fit in one buffer");
        }

        var widest = sizes.Count == 0 ? 0 : sizes.Max();
        if ((long)rows * widest > MaxBufferLength)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"{rows} rows × a layer of {widest:N0} units (model {text}) is {(long)rows * widest:N0} values; at most {MaxBufferLength:N0} fit in one buffer");
        }

        return null;
    }

    /// <summary>"784,128,10".</summary>
    public string SizesText => string.Join(',', Sizes);

    public override string ToString() => $"{SizesText} {Names.Of(Hidden)} {Names.Of(Loss)}";

    public bool Equals(ModelSpec? other) =>
        other is not null && Hidden == other.Hidden && Loss == other.Loss && Sizes.AsSpan().SequenceEqual(other.Sizes) &&
        Regularization == other.Regularization;

    public override int GetHashCode() => HashCode.Combine(SizesText, Hidden, Loss);

    /// <summary>K outputs fit K classes; one output (a single sigmoid/identity unit thresholded at 0.5) also fits two.</summary>
    public static bool OutputsFit(int outputs, int classes) => outputs == classes || (outputs == 1 && classes == 2);

    /// <summary>Whether this model trains on / evaluates <paramref name="data"/>: one input per feature, outputs that fit its classes.</summary>
    public bool Fits(Data.Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Inputs == data.FeatureCount && OutputsFit(Outputs, data.Classes);
    }
}
