// Forward pass and backprop of a multilayer perceptron over one shard of rows, written out by
// hand as matrix operations. Generic over the float type: float32 trains, float64 checks.
// Dimension letters: B = rows in this shard, In/Out = a layer's input/output width, K = outputs.
// Per layer l:  Z = A_{l-1}·Wᵀ + b,  A_l = g(Z)   (A_{-1} = X, the input rows)
// Output:       dZ_L = A_L − Y  per sample (softmax-ce, sigmoid-ce and mse alike; the caller
//               divides the shard sums by the global batch size, see ShardReduction).
// Backward:     dW_l += dZ_lᵀ·A_{l-1},  db_l += Σ_rows dZ_l,  dA_{l-1} = dZ_l·W_l,
//               dZ_{l-1} = dA_{l-1} ⊙ g′(Z_{l-1})  (g′ taken from A: every g here allows it).
// Backward either adds into the gradient buffer (dW += …, db += …) or overwrites it (dW = …, db = +0 + …, for
// the first or only chunk of a shard, so nobody clears a buffer of several MB first); both give the same bits,
// every sum starts from +0 either way. ComputeGradient overwrites with the first chunk and adds the rest.
// Dropout (training only, Spec.Regularization.Dropout = p > 0): after a hidden layer's activation,
//               D_l = A_l ⊙ M_l with M_l[r, j] = 1/(1 − p) if unit j of sample i_r is kept at step t, else 0
//               (DropoutMask: a pure function of (seed, t, i_r, l, j)); D_l, not A_l, feeds layer l + 1, and backward
//               turns dD_l = dZ_{l+1}·W_{l+1} into dA_l = dD_l ⊙ M_l before ⊙ g′(A_l) (g′ from the kept A_l). Evaluation
//               (Forward) never drops anything. Label smoothing ε (softmax-ce, training only): Y = (1 − ε)·one-hot + ε/K.
// Layer done: Backward tells an ILayerDone listener l = L−1 … 0 as soon as dW_l and db_l are written, before it
// computes dZ_{l-1}; a worker streams layer l's slice of the gradient (ParameterLayout keeps layers.l.weight and
// layers.l.bias contiguous) while backprop goes on below it. The listener is a type parameter, so a struct or a
// cached object costs no allocation; it runs on the calling thread, and its range must only be read, not written.
// Leaves out: the optimizer step and anything about actors.
using System.Numerics;
using System.Numerics.Tensors;
using DistBackprop.Core.Data;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Model;

/// <summary>What one shard's forward pass measured: summed loss, sample count, correct count.</summary>
public readonly record struct ShardStats(double LossSum, int Samples, int Correct);

/// <summary>Told by <see cref="Mlp{T}.Backward{TDone}"/> that a layer's ∂J/∂W and ∂J/∂b are final.</summary>
public interface ILayerDone
{
    /// <summary>Layer <paramref name="layer"/>'s weight and bias gradient are written (called last layer first).</summary>
    void LayerDone(int layer);
}

/// <summary>A listener that does nothing.</summary>
public readonly struct NoLayerDone : ILayerDone
{
    public void LayerDone(int layer)
    {
    }
}

/// <summary>
/// An MLP with a preallocated workspace for up to <see cref="MaxRows"/> rows. Parameters and
/// gradients are flat buffers in <see cref="ParameterLayout"/> order, passed to each call.
/// Not thread-safe: one instance per worker.
/// </summary>
public sealed class Mlp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly T Half = T.CreateChecked(0.5);
    private static readonly T LeakySlope = T.CreateChecked(Names.LeakySlope);

    private readonly T[] _input;      // X:   (MaxRows, In_0)
    private readonly T[] _target;     // Y:   (MaxRows, K)
    private readonly T[][] _act;      // A_l: (MaxRows, Out_l)
    private readonly T[][] _delta;    // dZ_l: (MaxRows, Out_l)
    private readonly T[]?[] _mask;    // M_l: (MaxRows, Out_l), hidden layers, only with dropout
    private readonly T[]?[] _dropped; // D_l = A_l ⊙ M_l: (MaxRows, Out_l), hidden layers, only with dropout
    private readonly int[] _rows;     // the training-set index i_r of each loaded row (the dropout key)
    private readonly int[] _labels;   // the label of each loaded row (accuracy with smoothed targets)
    private readonly float _dropout;
    private readonly T _keptScale;    // 1/(1 − p)
    private bool _masked;             // the last forward pass applied M (backward must too)
    private bool _smoothed;           // the loaded targets are smoothed: correct = predicted label, not Y = 1

    public Mlp(ModelSpec spec, int maxRows, KernelPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        Spec = spec;
        MaxRows = maxRows;
        Pool = pool ?? KernelPool.Single;
        _input = new T[maxRows * spec.Inputs];
        _target = new T[maxRows * spec.Outputs];
        _act = new T[spec.LayerCount][];
        _delta = new T[spec.LayerCount][];
        _mask = new T[]?[spec.LayerCount];
        _dropped = new T[]?[spec.LayerCount];
        _rows = new int[maxRows];
        _labels = new int[maxRows];
        var reg = spec.Regularization;
        if (reg.Validate(spec.Loss) is { } problem)
        {
            throw new ArgumentException(problem, nameof(spec));
        }

        _dropout = reg.Dropout;
        _keptScale = T.One / (T.One - T.CreateChecked(reg.Dropout));
        for (var l = 0; l < spec.LayerCount; l++)
        {
            _act[l] = new T[maxRows * spec.Sizes[l + 1]];
            _delta[l] = new T[maxRows * spec.Sizes[l + 1]];
            if (_dropout > 0 && l < spec.LayerCount - 1)
            {
                _mask[l] = new T[maxRows * spec.Sizes[l + 1]];
                _dropped[l] = new T[maxRows * spec.Sizes[l + 1]];
            }
        }
    }

    public ModelSpec Spec { get; }

    public int MaxRows { get; }

    public KernelPool Pool { get; }

    /// <summary>Input rows X: (MaxRows, In). Fill the first <c>rows</c> rows before <see cref="Forward"/>.</summary>
    public Span<T> Input => _input;

    /// <summary>Targets Y: (MaxRows, K). Filled by <see cref="LoadRows"/>, or by hand for soft targets.</summary>
    public Span<T> Target => _target;

    /// <summary>Activations of layer <paramref name="layer"/>: (rows, Out_l); the last layer holds the outputs.</summary>
    public ReadOnlySpan<T> Activations(int layer, int rows) => _act[layer].AsSpan(0, rows * Spec.Sizes[layer + 1]);

    /// <summary>dZ of layer <paramref name="layer"/> after <see cref="Backward"/> or <see cref="LossAndOutputDelta"/>.</summary>
    public ReadOnlySpan<T> Deltas(int layer, int rows) => _delta[layer].AsSpan(0, rows * Spec.Sizes[layer + 1]);

    /// <summary>
    /// The dropout mask M_l of hidden layer <paramref name="layer"/>: (MaxRows, Out_l), each value 0 (dropped) or 1/(1 − p)
    /// (kept). Drawn by <see cref="ForwardTraining"/>; set it by hand and call <see cref="ForwardWithMasks"/> for a fixed mask
    /// (gradient checks). Only with dropout (Spec.Regularization.Dropout &gt; 0).
    /// </summary>
    public Span<T> DropoutMask(int layer) => _mask[layer] ?? throw new InvalidOperationException(
        layer < Spec.LayerCount - 1 ? "this model has no dropout (Spec.Regularization.Dropout = 0)" : $"layer {layer} is the output layer: dropout applies to hidden layers");

    /// <summary>
    /// Copies the rows <paramref name="indices"/> of <paramref name="data"/> into X and their targets into Y:
    /// one-hot when K &gt; 1; the label itself (0 or 1) when K = 1. Hard targets, as evaluation wants them.
    /// </summary>
    public void LoadRows(Dataset data, ReadOnlySpan<int> indices) => LoadRows(data, indices, training: false);

    /// <summary>
    /// As <see cref="LoadRows(Dataset, ReadOnlySpan{int})"/>; <paramref name="training"/> smooths the targets when the spec asks for
    /// label smoothing: Y = (1 − ε)·one-hot + ε/K. Remembers each row's dataset index (the dropout key) and label.
    /// </summary>
    public void LoadRows(Dataset data, ReadOnlySpan<int> indices, bool training)
    {
        var rows = CheckRows(indices.Length);
        int inputs = Spec.Inputs, k = Spec.Outputs;
        if (data.FeatureCount != inputs)
        {
            throw new ArgumentException($"the data has {data.FeatureCount} features, the model {inputs} inputs", nameof(data));
        }

        var epsilon = Spec.Regularization.LabelSmoothing;
        _smoothed = training && epsilon > 0 && k > 1;

        // smoothed: every class gets ε/K and the label (1 − ε) + ε/K
        var off = _smoothed ? T.CreateChecked(epsilon) / T.CreateChecked(k) : T.Zero;
        var on = _smoothed ? (T.One - T.CreateChecked(epsilon)) + off : T.One;
        if (_smoothed)
        {
            _target.AsSpan(0, rows * k).Fill(off);
        }
        else
        {
            _target.AsSpan(0, rows * k).Clear();
        }

        for (var r = 0; r < rows; r++)
        {
            var src = data.Row(indices[r]);
            var dst = _input.AsSpan(r * inputs, inputs);
            if (typeof(T) == typeof(float))
            {
                src.CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(dst));
            }
            else
            {
                for (var i = 0; i < inputs; i++)
                {
                    dst[i] = T.CreateChecked(src[i]);
                }
            }

            var label = data.Labels[indices[r]];
            _rows[r] = indices[r];
            _labels[r] = label;
            if (k == 1)
            {
                _target[r] = T.CreateChecked(label);
            }
            else
            {
                _target[(r * k) + label] = on;
            }
        }
    }

    /// <summary>Forward pass over the first <paramref name="rows"/> rows of X, as in evaluation: no dropout.</summary>
    public void Forward(ReadOnlySpan<T> parameters, int rows) => Forward(parameters, rows, masked: false);

    /// <summary>
    /// The training forward pass of optimizer step <paramref name="step"/> (0-based): with dropout, draws every hidden layer's mask
    /// for the loaded rows (keyed by their dataset indices, see <see cref="LoadRows(Dataset, ReadOnlySpan{int}, bool)"/>) and applies
    /// it; without, the same as <see cref="Forward(ReadOnlySpan{T}, int)"/>.
    /// </summary>
    public void ForwardTraining(ReadOnlySpan<T> parameters, int rows, long step)
    {
        CheckRows(rows);
        if (_dropout == 0)
        {
            Forward(parameters, rows, masked: false);
            return;
        }

        // M_l[r, j] = DropoutMask(seed, t, i_r, l, j)
        var seed = Spec.Regularization.Seed;
        for (var l = 0; l < Spec.LayerCount - 1; l++)
        {
            var outputs = Spec.Sizes[l + 1];
            var mask = _mask[l]!;
            for (var r = 0; r < rows; r++)
            {
                Tensors.DropoutMask.FillRow(seed, step, _rows[r], l, _dropout, _keptScale, mask.AsSpan(r * outputs, outputs));
            }
        }

        Forward(parameters, rows, masked: true);
    }

    /// <summary>The training forward pass with the masks as they are in <see cref="DropoutMask"/> (set by hand: gradient checks).</summary>
    public void ForwardWithMasks(ReadOnlySpan<T> parameters, int rows)
    {
        if (_dropout == 0)
        {
            throw new InvalidOperationException("this model has no dropout (Spec.Regularization.Dropout = 0)");
        }

        Forward(parameters, rows, masked: true);
    }

    private void Forward(ReadOnlySpan<T> parameters, int rows, bool masked)
    {
        CheckRows(rows);
        _masked = masked;
        CheckParameters(parameters.Length, nameof(parameters));
        var layout = Spec.Layout;
        ReadOnlySpan<T> x = _input.AsSpan(0, rows * Spec.Inputs);
        for (var l = 0; l < Spec.LayerCount; l++)
        {
            int inputs = layout.InputsOf(l), outputs = layout.OutputsOf(l);
            var z = _act[l].AsSpan(0, rows * outputs);

            // Z = A_{l-1}·Wᵀ + b     x: (B, In)  w: (Out, In)  z: (B, Out)
            Gemm.XWt(x, layout.Weight(parameters, l), z, rows, inputs, outputs, Pool);
            var bias = layout.Bias(parameters, l);
            if (typeof(T) == typeof(float))
            {
                // A = g(Z + b) in one fused pass (the output layer's g belongs to the loss)
                Elementwise.BiasActivation(AsFloat(z), AsFloat(bias), rows, outputs, l < Spec.LayerCount - 1 ? Spec.Hidden : null);
            }
            else
            {
                for (var r = 0; r < rows; r++)
                {
                    var row = z.Slice(r * outputs, outputs);
                    TensorPrimitives.Add(row, bias, row);
                }

                // A = g(Z) on hidden layers; the output layer's g belongs to the loss
                if (l < Spec.LayerCount - 1)
                {
                    ApplyActivation(Spec.Hidden, z);
                }
            }

            x = z;
            if (masked && l < Spec.LayerCount - 1)
            {
                // D = A ⊙ M     a: (B, Out)  m: (B, Out)  d: (B, Out)
                var d = _dropped[l]!.AsSpan(0, rows * outputs);
                TensorPrimitives.Multiply<T>(z, _mask[l]!.AsSpan(0, rows * outputs), d);
                x = d;
            }
        }
    }

    /// <summary>
    /// Turns the output layer's Z into A (softmax / sigmoid / identity), returns the summed loss and
    /// correct count over <paramref name="rows"/> rows, and sets dZ_L = A − Y (not divided by B).
    /// Needs X's targets Y (see <see cref="LoadRows"/>).
    /// </summary>
    public ShardStats LossAndOutputDelta(int rows)
    {
        CheckRows(rows);
        var k = Spec.Outputs;
        var last = Spec.LayerCount - 1;
        var a = _act[last].AsSpan(0, rows * k);
        var d = _delta[last].AsSpan(0, rows * k);
        var y = _target.AsSpan(0, rows * k);
        double lossSum = 0;
        var correct = 0;
        for (var r = 0; r < rows; r++)
        {
            var zr = a.Slice(r * k, k);
            var yr = y.Slice(r * k, k);
            var predicted = k == 1 ? -1 : IndexOfMax(zr);
            lossSum += double.CreateChecked(OutputLoss(Spec.Loss, zr, yr));
            if (k == 1)
            {
                correct += (zr[0] > Half) == (yr[0] > Half) ? 1 : 0;
            }
            else if (_smoothed)
            {
                correct += predicted == _labels[r] ? 1 : 0;
            }
            else
            {
                correct += yr[predicted] == T.One ? 1 : 0;
            }

            // dZ = A − Y   (rows are short — K outputs — so plain loops beat vector calls here)
            var dr = d.Slice(r * k, k);
            for (var j = 0; j < k; j++)
            {
                dr[j] = zr[j] - yr[j];
            }
        }

        return new ShardStats(lossSum, rows, correct);
    }

    /// <summary>Backprop from dZ_L; adds ∂J/∂W and ∂J/∂b sums into <paramref name="gradient"/>.</summary>
    public void Backward(ReadOnlySpan<T> parameters, Span<T> gradient, int rows) =>
        Backward(parameters, gradient, rows, overwrite: false, default(NoLayerDone));

    /// <summary>
    /// Backprop from dZ_L: writes (<paramref name="overwrite"/>) or adds the ∂J/∂W and ∂J/∂b sums into
    /// <paramref name="gradient"/>, and calls <paramref name="done"/> with each layer, last first, once its part is written.
    /// </summary>
    public void Backward<TDone>(ReadOnlySpan<T> parameters, Span<T> gradient, int rows, bool overwrite, TDone done)
        where TDone : ILayerDone
    {
        CheckRows(rows);
        CheckParameters(parameters.Length, nameof(parameters));
        CheckParameters(gradient.Length, nameof(gradient));
        var layout = Spec.Layout;
        for (var l = Spec.LayerCount - 1; l >= 0; l--)
        {
            int inputs = layout.InputsOf(l), outputs = layout.OutputsOf(l);
            ReadOnlySpan<T> dz = _delta[l].AsSpan(0, rows * outputs);
            var dropped = _masked && l > 0;
            ReadOnlySpan<T> x = l == 0 ? _input.AsSpan(0, rows * inputs) : (dropped ? _dropped[l - 1]! : _act[l - 1]).AsSpan(0, rows * inputs);

            // dW (+)= dZᵀ·X     dz: (B, Out)  x: (B, In)  dw: (Out, In)
            if (overwrite)
            {
                Gemm.DyTX(dz, x, layout.Weight(gradient, l), rows, inputs, outputs, Pool);
            }
            else
            {
                Gemm.AccumulateDyTX(dz, x, layout.Weight(gradient, l), rows, inputs, outputs, Pool);
            }

            // db (+)= Σ_rows dZ   db: (Out)
            var db = layout.Bias(gradient, l);
            if (typeof(T) == typeof(float))
            {
                if (overwrite)
                {
                    Elementwise.BiasGradient(AsFloat(dz), AsFloat(db), rows, outputs);
                }
                else
                {
                    Elementwise.AccumulateBiasGradient(AsFloat(dz), AsFloat(db), rows, outputs);
                }
            }
            else
            {
                if (overwrite)
                {
                    db.Clear(); // the sum starts from +0
                }

                for (var r = 0; r < rows; r++)
                {
                    TensorPrimitives.Add(db, dz.Slice(r * outputs, outputs), db);
                }
            }

            done.LayerDone(l);

            if (l > 0)
            {
                // dA_{l-1} = dZ·W     dz: (B, Out)  w: (Out, In)  dA: (B, In)
                var dPrev = _delta[l - 1].AsSpan(0, rows * inputs);
                Gemm.DyW(dz, layout.Weight(parameters, l), dPrev, rows, inputs, outputs, Pool);
                if (dropped)
                {
                    // dA_{l-1} = dD_{l-1} ⊙ M_{l-1}     (what fed layer l was D = A ⊙ M)
                    TensorPrimitives.Multiply<T>(dPrev, _mask[l - 1]!.AsSpan(0, rows * inputs), dPrev);
                }

                // dZ_{l-1} = dA_{l-1} ⊙ g′(Z_{l-1})
                if (typeof(T) == typeof(float))
                {
                    Elementwise.ActivationDerivative(Spec.Hidden, AsFloat<T>(_act[l - 1].AsSpan(0, rows * inputs)), AsFloat(dPrev));
                }
                else
                {
                    ApplyActivationDerivative(Spec.Hidden, _act[l - 1].AsSpan(0, rows * inputs), dPrev);
                }
            }
        }
    }

    /// <summary>
    /// The worker's whole job for one shard: load the rows, forward, loss, backward.
    /// Adds the shard's summed gradient into <paramref name="gradient"/> (zero it first for a fresh sum).
    /// Shards larger than <see cref="MaxRows"/> are processed in chunks of MaxRows rows. Dropout masks are those of step 0.
    /// </summary>
    public ShardStats AccumulateGradient(ReadOnlySpan<T> parameters, Span<T> gradient, Dataset data, ReadOnlySpan<int> indices) =>
        Chunks(parameters, gradient, data, indices, step: 0, overwriteFirst: false, default(NoLayerDone));

    /// <summary>
    /// One shard's summed gradient, written into <paramref name="gradient"/> (no need to clear it first): the first chunk
    /// of MaxRows rows overwrites, the rest add. The same bits as clearing it and calling <see cref="AccumulateGradient"/>.
    /// Dropout masks are those of step 0.
    /// </summary>
    public ShardStats ComputeGradient(ReadOnlySpan<T> parameters, Span<T> gradient, Dataset data, ReadOnlySpan<int> indices) =>
        ComputeGradient(parameters, gradient, data, indices, step: 0, default(NoLayerDone));

    /// <summary>The step-0 form of <see cref="ComputeGradient{TDone}(ReadOnlySpan{T}, Span{T}, Dataset, ReadOnlySpan{int}, long, TDone)"/>.</summary>
    public ShardStats ComputeGradient<TDone>(ReadOnlySpan<T> parameters, Span<T> gradient, Dataset data, ReadOnlySpan<int> indices, TDone done)
        where TDone : ILayerDone => ComputeGradient(parameters, gradient, data, indices, step: 0, done);

    /// <summary>
    /// <see cref="ComputeGradient(ReadOnlySpan{T}, Span{T}, Dataset, ReadOnlySpan{int})"/> for optimizer step <paramref name="step"/>
    /// (0-based; it keys the dropout masks), telling <paramref name="done"/> each layer (last first) once its part of the shard's
    /// sum is final: during the last chunk's backward pass (with no rows, after the gradient was cleared).
    /// </summary>
    public ShardStats ComputeGradient<TDone>(ReadOnlySpan<T> parameters, Span<T> gradient, Dataset data, ReadOnlySpan<int> indices, long step, TDone done)
        where TDone : ILayerDone
    {
        CheckParameters(gradient.Length, nameof(gradient));
        if (indices.IsEmpty)
        {
            gradient.Clear();
            for (var l = Spec.LayerCount - 1; l >= 0; l--)
            {
                done.LayerDone(l);
            }

            return new ShardStats(0, 0, 0);
        }

        return Chunks(parameters, gradient, data, indices, step, overwriteFirst: true, done);
    }

    /// <summary>Forward (training: smoothed targets, the masks of <paramref name="step"/>), loss and backward over <paramref name="indices"/>
    /// in chunks of MaxRows rows; the first chunk overwrites the gradient when <paramref name="overwriteFirst"/>, every other adds;
    /// <paramref name="done"/> hears the last chunk's layers.</summary>
    private ShardStats Chunks<TDone>(ReadOnlySpan<T> parameters, Span<T> gradient, Dataset data, ReadOnlySpan<int> indices, long step, bool overwriteFirst, TDone done)
        where TDone : ILayerDone
    {
        double loss = 0;
        int samples = 0, correct = 0;
        for (var start = 0; start < indices.Length; start += MaxRows)
        {
            var chunk = indices.Slice(start, Math.Min(MaxRows, indices.Length - start));
            LoadRows(data, chunk, training: true);
            ForwardTraining(parameters, chunk.Length, step);
            var s = LossAndOutputDelta(chunk.Length);
            var overwrite = overwriteFirst && start == 0;
            if (start + chunk.Length == indices.Length)
            {
                Backward(parameters, gradient, chunk.Length, overwrite, done);
            }
            else
            {
                Backward(parameters, gradient, chunk.Length, overwrite, default(NoLayerDone));
            }

            loss += s.LossSum;
            samples += s.Samples;
            correct += s.Correct;
        }

        return new ShardStats(loss, samples, correct);
    }

    /// <summary>Forward + loss only (no gradient), over all of <paramref name="indices"/> in chunks.
    /// When <paramref name="confusion"/> is given ((K, K), row = true label, column = predicted), it is incremented.</summary>
    public ShardStats Evaluate(ReadOnlySpan<T> parameters, Dataset data, ReadOnlySpan<int> indices, Span<long> confusion = default)
    {
        double loss = 0;
        int samples = 0, correct = 0;
        var k = Spec.Outputs;
        var classes = Math.Max(k, 2);
        for (var start = 0; start < indices.Length; start += MaxRows)
        {
            var chunk = indices.Slice(start, Math.Min(MaxRows, indices.Length - start));
            LoadRows(data, chunk);
            Forward(parameters, chunk.Length);
            var s = LossAndOutputDelta(chunk.Length);
            loss += s.LossSum;
            samples += s.Samples;
            correct += s.Correct;
            if (!confusion.IsEmpty)
            {
                var outputs = Activations(Spec.LayerCount - 1, chunk.Length);
                for (var r = 0; r < chunk.Length; r++)
                {
                    var row = outputs.Slice(r * k, k);
                    var predicted = k == 1 ? (row[0] > Half ? 1 : 0) : TensorPrimitives.IndexOfMax<T>(row);
                    confusion[(data.Labels[chunk[r]] * classes) + predicted]++;
                }
            }
        }

        return new ShardStats(loss, samples, correct);
    }

    /// <summary>A = g(Z), in place.</summary>
    internal static void ApplyActivation(Activation g, Span<T> z)
    {
        switch (g)
        {
            case Activation.Relu:
                // a = max(z, 0)
                for (var i = 0; i < z.Length; i++)
                {
                    z[i] = z[i] > T.Zero ? z[i] : T.Zero;
                }

                break;
            case Activation.LeakyRelu:
                // a = z > 0 ? z : 0.01·z
                for (var i = 0; i < z.Length; i++)
                {
                    z[i] = z[i] > T.Zero ? z[i] : LeakySlope * z[i];
                }

                break;
            case Activation.Sigmoid:
                // a = 1 / (1 + e^−z)
                TensorPrimitives.Sigmoid<T>(z, z);
                break;
            case Activation.Tanh:
                TensorPrimitives.Tanh<T>(z, z);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(g));
        }
    }

    /// <summary>dZ = dA ⊙ g′, with g′ written in terms of A = g(Z); <paramref name="d"/> holds dA and becomes dZ.</summary>
    internal static void ApplyActivationDerivative(Activation g, ReadOnlySpan<T> a, Span<T> d)
    {
        switch (g)
        {
            case Activation.Relu:
                // g′ = 1 if z > 0 else 0   (a > 0 ⇔ z > 0; g′(0) = 0 as in PyTorch)
                for (var i = 0; i < d.Length; i++)
                {
                    d[i] = a[i] > T.Zero ? d[i] : T.Zero;
                }

                break;
            case Activation.LeakyRelu:
                // g′ = 1 if z > 0 else 0.01
                for (var i = 0; i < d.Length; i++)
                {
                    d[i] = a[i] > T.Zero ? d[i] : LeakySlope * d[i];
                }

                break;
            case Activation.Sigmoid:
                // g′ = a·(1 − a)
                for (var i = 0; i < d.Length; i++)
                {
                    d[i] = d[i] * ((T.One - a[i]) * a[i]);
                }

                break;
            case Activation.Tanh:
                // g′ = 1 − a²
                for (var i = 0; i < d.Length; i++)
                {
                    d[i] = d[i] * (T.One - (a[i] * a[i]));
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(g));
        }
    }

    /// <summary>
    /// Replaces the output row's Z by A and returns the row's loss.
    /// softmax-ce: a = softmax(z), loss = Σ_k y_k (logΣexp(z) − z_k);
    /// sigmoid-ce: a = σ(z), loss = Σ_k max(z,0) − z·y + log(1 + e^−|z|)  (the stable form of −[y log a + (1−y) log(1−a)]);
    /// mse: a = z, loss = ½ Σ_k (a − y)².
    /// </summary>
    internal static T OutputLoss(LossKind loss, Span<T> z, ReadOnlySpan<T> y)
    {
        var total = T.Zero;
        switch (loss)
        {
            case LossKind.SoftmaxCrossEntropy:
                {
                    // e_k = exp(z_k − max z): one vectorised exp over the row; a_k = e_k / Σ e, logΣexp(z) = max + log Σ e
                    var max = z[0];
                    for (var k = 1; k < z.Length; k++)
                    {
                        max = T.Max(max, z[k]); // NaN propagates, as in TensorPrimitives.Max
                    }

                    for (var k = 0; k < z.Length; k++)
                    {
                        z[k] -= max;
                        if (y[k] != T.Zero)
                        {
                            total -= y[k] * z[k]; // y_k (max − z_k), the z part of y_k (logΣexp(z) − z_k)
                        }
                    }

                    TensorPrimitives.Exp<T>(z, z);
                    var sum = T.Zero;
                    for (var k = 0; k < z.Length; k++)
                    {
                        sum += z[k];
                    }

                    var logSum = T.Log(sum);
                    for (var k = 0; k < z.Length; k++)
                    {
                        if (y[k] != T.Zero)
                        {
                            total += y[k] * logSum;
                        }

                        z[k] /= sum;
                    }

                    break;
                }

            case LossKind.SigmoidCrossEntropy:
                for (var k = 0; k < z.Length; k++)
                {
                    // e = e^−|z| (one exp per output): σ(z) = 1/(1 + e) for z ≥ 0, e/(1 + e) for z < 0
                    var zk = z[k];
                    var e = T.Exp(-T.Abs(zk));
                    total += T.Max(zk, T.Zero) - (zk * y[k]) + T.Log(T.One + e);
                    z[k] = (zk >= T.Zero ? T.One : e) / (T.One + e);
                }

                break;
            case LossKind.Mse:
                for (var k = 0; k < z.Length; k++)
                {
                    var e = z[k] - y[k];
                    total += Half * e * e;
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(loss));
        }

        return total;
    }

    /// <summary>The index of the largest value, the first on ties (+0 above −0), the first NaN if any: TensorPrimitives.IndexOfMax's rules, without its call overhead on a row of K values.</summary>
    private static int IndexOfMax(ReadOnlySpan<T> row)
    {
        var at = 0;
        var best = row[0];
        if (T.IsNaN(best))
        {
            return 0;
        }

        for (var j = 1; j < row.Length; j++)
        {
            var v = row[j];
            if (T.IsNaN(v))
            {
                return j;
            }

            if (v > best || (v == best && T.IsNegative(best) && !T.IsNegative(v)))
            {
                (best, at) = (v, j);
            }
        }

        return at;
    }

    private static Span<float> AsFloat(Span<T> s) => System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(s);

    private static ReadOnlySpan<float> AsFloat<TFrom>(ReadOnlySpan<TFrom> s)
        where TFrom : struct => System.Runtime.InteropServices.MemoryMarshal.Cast<TFrom, float>(s);

    private int CheckRows(int rows)
    {
        if (rows < 0 || rows > MaxRows)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"this workspace holds at most {MaxRows} rows");
        }

        return rows;
    }

    private void CheckParameters(int length, string name)
    {
        if (length != Spec.ParameterCount)
        {
            throw new ArgumentException($"has {length} elements, the model has {Spec.ParameterCount} parameters", name);
        }
    }
}
