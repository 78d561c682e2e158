// Optimizers over the flat parameter buffer, with their state in the same layout. The rules
// follow torch.optim (SGD with momentum/dampening 0/nesterov, Adam without amsgrad), so a run
// can be checked against PyTorch. Weight decay is L2 on weights only (never biases):
//   g ← g + λ·W   for every weight, before the rule below.
//   sgd:       W ← W − α·g
//   momentum:  v ← μ·v + g (v = g on the first step);  W ← W − α·v
//   nesterov:  v as momentum;                          W ← W − α·(g + μ·v)
//   adam:      m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  W ← W − (α/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε)
// A step is BeginStep (t ← t + 1, once, with the step's learning rate α_t: --lr, or a schedule's value, see
// Training/LrSchedule) then Apply over any split of [0, n) into ranges, in any order or in parallel: every element's
// update depends only on that element, so the bits do not depend on the split.
using System.Globalization;
using System.Numerics;
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Optim;

public enum OptimizerKind
{
    Sgd,
    Momentum,
    Nesterov,
    Adam,
}

/// <summary>Hyperparameters; defaults as torch.optim's (Adam β₁ 0.9, β₂ 0.999, ε 1e-8).</summary>
public sealed record OptimizerSettings(
    OptimizerKind Kind = OptimizerKind.Sgd,
    float LearningRate = 0.1f,
    float Momentum = 0.9f,
    float WeightDecay = 0f,
    float Beta1 = 0.9f,
    float Beta2 = 0.999f,
    float Epsilon = 1e-8f)
{
    public static string NameOf(OptimizerKind kind) => kind.ToString().ToLowerInvariant();

    public static bool TryParseKind(string? s, out OptimizerKind kind) =>
        Enum.TryParse(s?.Trim(), ignoreCase: true, out kind) && Enum.IsDefined(kind) && !int.TryParse(s, out _);

    /// <summary>Metadata strings for checkpoints.</summary>
    public IEnumerable<KeyValuePair<string, string>> ToMetadata()
    {
        yield return new("optimizer", NameOf(Kind));
        yield return new("lr", LearningRate.ToString("R", CultureInfo.InvariantCulture));
        yield return new("momentum", Momentum.ToString("R", CultureInfo.InvariantCulture));
        yield return new("weight_decay", WeightDecay.ToString("R", CultureInfo.InvariantCulture));
        yield return new("beta1", Beta1.ToString("R", CultureInfo.InvariantCulture));
        yield return new("beta2", Beta2.ToString("R", CultureInfo.InvariantCulture));
        yield return new("eps", Epsilon.ToString("R", CultureInfo.InvariantCulture));
    }
}

/// <summary>Applies one update to the flat parameters from the mean gradient. State lives here (on the coordinator).</summary>
public sealed class Optimizer
{
    private readonly ParameterLayout _layout;
    private readonly float[] _first;   // momentum buffer v, or Adam's m
    private readonly float[] _second;  // Adam's v
    private float _lr;                 // α_t of the step begun
    private float _adamStep;           // α_t/(1−β₁ᵗ) for the step begun
    private float _adamBias2Sqrt;      // √(1−β₂ᵗ) for the step begun

    public Optimizer(OptimizerSettings settings, ParameterLayout layout)
    {
        Settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _layout = layout ?? throw new ArgumentNullException(nameof(layout));
        var n = settings.Kind == OptimizerKind.Sgd ? 0 : layout.Count;
        _first = new float[n];
        _second = new float[settings.Kind == OptimizerKind.Adam ? layout.Count : 0];
    }

    public OptimizerSettings Settings { get; }

    /// <summary>Updates applied so far (Adam's t).</summary>
    public long StepCount { get; private set; }

    /// <summary>Named state tensors (flat, ParameterLayout order) for resume checkpoints.</summary>
    public IReadOnlyList<(string Name, float[] Data)> State => Settings.Kind switch
    {
        OptimizerKind.Sgd => [],
        OptimizerKind.Momentum or OptimizerKind.Nesterov => [("optimizer.momentum_buffer", _first)],
        OptimizerKind.Adam => [("optimizer.exp_avg", _first), ("optimizer.exp_avg_sq", _second)],
        _ => [],
    };

    /// <summary>Restores state saved from <see cref="State"/> and <see cref="StepCount"/>.</summary>
    public void Restore(long stepCount, IReadOnlyDictionary<string, float[]> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        foreach (var (name, data) in State)
        {
            if (!state.TryGetValue(name, out var saved))
            {
                throw new InvalidDataException($"the checkpoint has no optimizer tensor '{name}'");
            }

            if (saved.Length != data.Length)
            {
                throw new InvalidDataException($"optimizer tensor '{name}' has {saved.Length} values, expected {data.Length}");
            }

            saved.CopyTo(data, 0);
        }

        StepCount = stepCount;
    }

    /// <summary>W ← update(W, g). <paramref name="gradient"/> is the mean gradient and is left unchanged.</summary>
    public void Step(Span<float> parameters, ReadOnlySpan<float> gradient)
    {
        BeginStep();
        Apply(parameters, gradient, 0, _layout.Count);
    }

    /// <summary>Starts an update with the settings' learning rate: t ← t + 1 and Adam's bias corrections for this t. Then <see cref="Apply"/> every element once.</summary>
    public void BeginStep() => BeginStep(Settings.LearningRate);

    /// <summary>Starts an update with learning rate <paramref name="learningRate"/> (a schedule's α_t; torch: param_group["lr"] at this step).</summary>
    public void BeginStep(float learningRate)
    {
        StepCount++;
        var s = Settings;
        var bias1 = 1 - Math.Pow(s.Beta1, StepCount);
        var bias2 = 1 - Math.Pow(s.Beta2, StepCount);
        _lr = learningRate;
        _adamStep = (float)(learningRate / bias1);
        _adamBias2Sqrt = (float)Math.Sqrt(bias2);
    }

    /// <summary>The learning rate of the step begun.</summary>
    public float CurrentLearningRate => _lr;

    /// <summary>
    /// The update begun by <see cref="BeginStep"/> on elements [start, start + length) of the flat buffers
    /// (any range: it is split where weights end and biases begin, since decay applies to weights only).
    /// </summary>
    /// <param name="parameters">[n] all parameters, ParameterLayout order.</param>
    /// <param name="gradient">[n] the mean gradient.</param>
    public void Apply(Span<float> parameters, ReadOnlySpan<float> gradient, int start, int length)
    {
        if (parameters.Length != _layout.Count || gradient.Length != _layout.Count)
        {
            throw new ArgumentException($"expected {_layout.Count} parameters and gradients, got {parameters.Length} and {gradient.Length}");
        }

        if (start < 0 || length < 0 || start > _layout.Count - length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"range [{start}, {start}+{length}) is not inside [0, {_layout.Count})");
        }

        ApplyRange(parameters, parameters, gradient.Slice(start, length), start);
    }

    /// <summary>
    /// As <see cref="Apply(Span{float}, ReadOnlySpan{float}, int, int)"/>, out of place and with the gradient of the range
    /// only: reads the weights from <paramref name="from"/> and writes the new ones to <paramref name="to"/> (the same
    /// buffer, or one that does not overlap it); the optimizer state is updated in place. Same bits as the in-place update.
    /// </summary>
    /// <param name="from">[n] the current parameters, ParameterLayout order.</param>
    /// <param name="to">[n] receives the new parameters on [start, start + length).</param>
    /// <param name="gradientRange">[length] the mean gradient of elements [start, start + length).</param>
    public void ApplyRange(ReadOnlySpan<float> from, Span<float> to, ReadOnlySpan<float> gradientRange, int start)
    {
        var length = gradientRange.Length;
        if (from.Length != _layout.Count || to.Length != _layout.Count)
        {
            throw new ArgumentException($"expected {_layout.Count} parameters and new parameters, got {from.Length} and {to.Length}");
        }

        if (start < 0 || start > _layout.Count - length)
        {
            throw new ArgumentOutOfRangeException(nameof(start), $"range [{start}, {start}+{length}) is not inside [0, {_layout.Count})");
        }

        if (StepCount == 0)
        {
            throw new InvalidOperationException("Apply before BeginStep");
        }

        // each tensor's part inside [start, end): weights with decay, biases without
        var end = start + length;
        for (var l = 0; l < _layout.LayerCount; l++)
        {
            var (weightFrom, weightTo) = Overlap(_layout.WeightOffset(l), _layout.WeightLength(l), start, end);
            if (weightFrom < weightTo)
            {
                Update(from, to, gradientRange.Slice(weightFrom - start, weightTo - weightFrom), weightFrom, Settings.WeightDecay);
            }

            var (biasFrom, biasTo) = Overlap(_layout.BiasOffset(l), _layout.BiasLength(l), start, end);
            if (biasFrom < biasTo)
            {
                Update(from, to, gradientRange.Slice(biasFrom - start, biasTo - biasFrom), biasFrom, 0f);
            }
        }
    }

    private static (int From, int To) Overlap(int offset, int count, int start, int end) =>
        (Math.Max(start, offset), Math.Min(end, offset + count));

    // Vectorised with Vector<float>, the same operations in the same order as the scalar tail (separate
    // multiply and add, never a fused multiply-add; sqrt and division are exact in both), so every element
    // gets the bit-identical value whatever the vector width or where the tail starts.
    // elements [offset, offset + g.Length) (w: the current weights, read; o: where the new ones go — the same memory
    // for an in-place update; g: their mean gradient)
    private void Update(ReadOnlySpan<float> from, Span<float> to, ReadOnlySpan<float> g, int offset, float decay)
    {
        var s = Settings;
        float adamStep = _adamStep, adamBias2Sqrt = _adamBias2Sqrt;
        var length = g.Length;
        var w = from.Slice(offset, length);
        var o = to.Slice(offset, length);
        var lr = _lr;
        var width = Vector<float>.Count;
        var vectorEnd = Vector.IsHardwareAccelerated ? length - (length % width) : 0;
        var vDecay = new Vector<float>(decay);
        var vLr = new Vector<float>(lr);
        switch (s.Kind)
        {
            case OptimizerKind.Sgd:
                {
                    // gᵢ ← gᵢ + λ·wᵢ;  wᵢ ← wᵢ − α·gᵢ
                    for (var i = 0; i < vectorEnd; i += width)
                    {
                        var wi = new Vector<float>(w[i..]);
                        var gi = new Vector<float>(g[i..]) + (vDecay * wi);
                        (wi - (vLr * gi)).CopyTo(o[i..]);
                    }

                    for (var i = vectorEnd; i < w.Length; i++)
                    {
                        var gi = g[i] + (decay * w[i]);
                        o[i] = w[i] - (lr * gi);
                    }

                    break;
                }

            case OptimizerKind.Momentum:
            case OptimizerKind.Nesterov:
                {
                    // vᵢ ← μ·vᵢ + gᵢ (vᵢ = gᵢ on the first step);  wᵢ ← wᵢ − α·(nesterov ? gᵢ + μ·vᵢ : vᵢ)
                    var v = _first.AsSpan(offset, length);
                    var first = StepCount == 1;
                    var nesterov = s.Kind == OptimizerKind.Nesterov;
                    var mu = s.Momentum;
                    var vMu = new Vector<float>(mu);
                    for (var i = 0; i < vectorEnd; i += width)
                    {
                        var wi = new Vector<float>(w[i..]);
                        var gi = new Vector<float>(g[i..]) + (vDecay * wi);
                        var vi = first ? gi : (vMu * new Vector<float>(v[i..])) + gi;
                        vi.CopyTo(v[i..]);
                        var d = nesterov ? gi + (vMu * vi) : vi;
                        (wi - (vLr * d)).CopyTo(o[i..]);
                    }

                    for (var i = vectorEnd; i < w.Length; i++)
                    {
                        var gi = g[i] + (decay * w[i]);
                        v[i] = first ? gi : (mu * v[i]) + gi;
                        var d = nesterov ? gi + (mu * v[i]) : v[i];
                        o[i] = w[i] - (lr * d);
                    }

                    break;
                }

            case OptimizerKind.Adam:
                {
                    // mᵢ ← β₁mᵢ + (1−β₁)gᵢ;  vᵢ ← β₂vᵢ + ((1−β₂)gᵢ)gᵢ;  wᵢ ← wᵢ − step·mᵢ / (√vᵢ/√(1−β₂ᵗ) + ε)
                    var m = _first.AsSpan(offset, length);
                    var v = _second.AsSpan(offset, length);
                    float b1 = s.Beta1, b2 = s.Beta2, c1 = 1 - b1, c2 = 1 - b2, eps = s.Epsilon;
                    Vector<float> vB1 = new(b1), vB2 = new(b2), vC1 = new(c1), vC2 = new(c2), vEps = new(eps), vBias2 = new(adamBias2Sqrt), vStep = new(adamStep);
                    for (var i = 0; i < vectorEnd; i += width)
                    {
                        var wi = new Vector<float>(w[i..]);
                        var gi = new Vector<float>(g[i..]) + (vDecay * wi);
                        var mi = (vB1 * new Vector<float>(m[i..])) + (vC1 * gi);
                        var vi = (vB2 * new Vector<float>(v[i..])) + (vC2 * gi * gi);
                        mi.CopyTo(m[i..]);
                        vi.CopyTo(v[i..]);
                        var denom = (Vector.SquareRoot(vi) / vBias2) + vEps;
                        (wi - (vStep * (mi / denom))).CopyTo(o[i..]);
                    }

                    for (var i = vectorEnd; i < w.Length; i++)
                    {
                        var gi = g[i] + (decay * w[i]);
                        m[i] = (b1 * m[i]) + (c1 * gi);
                        v[i] = (b2 * v[i]) + (c2 * gi * gi);
                        var denom = (MathF.Sqrt(v[i]) / adamBias2Sqrt) + eps;
                        o[i] = w[i] - (adamStep * (m[i] / denom));
                    }

                    break;
                }
        }
    }
}
