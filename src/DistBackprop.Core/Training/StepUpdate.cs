// The coordinator's update after each step, as ONE fused pass over the flat buffers instead of five
// (reduce, ÷ B, check, optimizer, check) plus a copy. The pass walks the buffers in chunks of ChunkLength
// floats that the kernel threads take in turn, and does all of its work on a chunk while it is in L1/L2:
//   ḡ[i] = value_i([0, S)) / B (the shard sums added along the reduction tree, from whatever frontier of
//          subtree partial sums the caller holds: ShardReduction);   are all ḡ[i] of the chunk finite?
//   W'[i] = rule(W[i], ḡ[i])  (Optimizer.Apply, out of place: W is read, W' written);  are all W'[i] finite?
// W and W' are two buffers (TrainingState flips them after a good step), so the new weights are written once
// and never copied, and a bad gradient or weight leaves W, the last good weights, untouched: the caller
// reports the divergence and keeps W. (The optimizer's own state — momentum, Adam's moments and step count —
// is updated in place and is not restored: a diverged run ends.) ḡ of a chunk lives in a per-thread scratch
// chunk, in L1, and is written to the whole mean-gradient buffer only when asked (tests, diagnostics).
// Memory traffic per parameter with one shard and plain SGD: read g and W, write W' (the two-pass version also
// wrote and re-read ḡ, re-read W and wrote a copy).
// The tree's partial values of a chunk live in per-thread scratch chunks (⌈log₂ S⌉ of them, in L2).
// Every element goes through exactly the operations of the unfused sequence (ShardReduction.Reduce,
// Optimizer.Step), so the bits depend on neither the chunk size nor the thread count (SPEC §3).
// The pass also measures n = ‖ḡ‖₂ over all parameters (Σ ḡ[i]² per chunk in float64, chunks added in chunk order,
// so n does not depend on the thread count either). Gradient clipping (torch's clip_grad_norm_, on the mean gradient
// before weight decay) needs n before any weight is written, so with --clip-grad-norm X the step is two passes:
//   1. ḡ[i] = value_i(root) / B into the mean-gradient buffer; are they finite? Σ ḡ[i]² per chunk.
//   2. c = X/(n + 1e-6); when c < 1, ḡ[i] ← ḡ[i]·c (float32 c); W'[i] = rule(W[i], ḡ[i]); are they finite?
// Without clipping the single fused pass stays as it was (the norm is read from the L1-resident chunk): same bits.
// Leaves out: the divergence messages (TrainingState finds the tensor that broke once the pass says so)
// and who owns the threads (the caller's pool: in local mode the workers are idle while this runs).
using System.Numerics;
using System.Numerics.Tensors;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Training;

/// <summary>Which values of a fused update were not finite (none: <see cref="None"/>).</summary>
[Flags]
internal enum NonFinite
{
    None = 0,
    Gradient = 1,
    Weight = 2,
}

/// <summary>What one update measured: the flags, n = ‖ḡ‖₂ before clipping, and the factor ḡ was multiplied by (1: not clipped).</summary>
internal readonly record struct UpdateResult(NonFinite Bad, double GradNorm, float ClipScale);

/// <summary>The fused update pass over one model's buffers. One caller at a time.</summary>
internal sealed class StepUpdate
{
    /// <summary>torch's clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6).</summary>
    public const double ClipEpsilon = 1e-6;

    /// <summary>32 KB of each buffer: the pass's streams (g_s, ḡ, W, W' and Adam's m, v) of a chunk fit in L2.</summary>
    public const int ChunkLength = 8192;

    /// <summary>Below this many chunks (a model under 32 K parameters) the pass is a few µs: waking threads would cost more.</summary>
    public const int MinParallelChunks = 4;

    [ThreadStatic]
    private static float[]? t_mean;

    private readonly float[] _meanGradient;
    private readonly double[] _squares; // Σ ḡ[i]² of each chunk of the current pass
    private readonly Optimizer _optimizer;
    private IReadOnlyList<PartialSum> _parts = [];
    private Subtree _root;
    private int _depth;
    private int _batch;
    private float[] _from = [];
    private float[] _to = [];
    private int _nonFinite; // NonFinite flags seen by any chunk of the current pass
    private float _scale = 1; // pass 2 of a clipped step: ḡ ← ḡ·scale

    public StepUpdate(float[] meanGradient, Optimizer optimizer)
    {
        _meanGradient = meanGradient;
        _optimizer = optimizer;
        _squares = new double[Chunks];
    }

    private int Chunks => (_meanGradient.Length + ChunkLength - 1) / ChunkLength;

    /// <summary>Also write ḡ to the whole mean-gradient buffer (one more stream over memory).</summary>
    public bool KeepMeanGradient { get; set; }

    /// <summary>
    /// ḡ = value(root) / B from the frontier <paramref name="frontier"/> of subtree partial sums, clipped to norm
    /// <paramref name="clipNorm"/> when given, and one optimizer step with learning rate <paramref name="learningRate"/> from
    /// <paramref name="from"/> into <paramref name="to"/> (frontier and lengths already checked); which values were not finite, and ‖ḡ‖₂.
    /// </summary>
    public UpdateResult Run(KernelPool pool, IReadOnlyList<PartialSum> frontier, ReductionTree tree, int globalBatch, float[] from, float[] to, float learningRate,
        float? clipNorm)
    {
        _parts = frontier;
        _root = tree.Root;
        _depth = tree.Depth;
        _batch = globalBatch;
        _from = from;
        _to = to;
        _nonFinite = 0;
        _scale = 1;
        _optimizer.BeginStep(learningRate); // t and Adam's bias corrections advance once per step, not per chunk
        var threads = Chunks >= MinParallelChunks ? pool : KernelPool.Single;
        try
        {
            if (clipNorm is not float max)
            {
                threads.Run(Chunks, this, static (chunk, u) => u.Chunk(chunk));
                return new UpdateResult((NonFinite)_nonFinite, Norm(), 1);
            }

            threads.Run(Chunks, this, static (chunk, u) => u.ReduceChunk(chunk));
            var norm = Norm();
            if ((_nonFinite & (int)NonFinite.Gradient) != 0)
            {
                return new UpdateResult((NonFinite)_nonFinite, norm, 1); // the step fails: no weight is written
            }

            // clip_coef = X / (n + 1e-6), clamped to at most 1
            var coefficient = max / (norm + ClipEpsilon);
            _scale = coefficient < 1 ? (float)coefficient : 1f;
            threads.Run(Chunks, this, static (chunk, u) => u.ApplyChunk(chunk));
            return new UpdateResult((NonFinite)_nonFinite, norm, _scale);
        }
        finally
        {
            _parts = [];
            _from = _to = [];
        }
    }

    /// <summary>Σ_i x[i]² in float64 (products of widened floats are exact in double; the sum order is fixed by the vector width).</summary>
    internal static double SumOfSquares(ReadOnlySpan<float> x)
    {
        var width = Vector<float>.Count;
        var end = Vector.IsHardwareAccelerated ? x.Length - (x.Length % width) : 0;
        Vector<double> lo = Vector<double>.Zero, hi = Vector<double>.Zero;
        for (var i = 0; i < end; i += width)
        {
            Vector.Widen(new Vector<float>(x[i..]), out var a, out var b);
            lo += a * a;
            hi += b * b;
        }

        var sum = Vector.Sum(lo + hi);
        for (var i = end; i < x.Length; i++)
        {
            sum += (double)x[i] * x[i];
        }

        return sum;
    }

    // n = √(Σ_chunks Σ ḡ²), chunks added in chunk order
    private double Norm()
    {
        double sum = 0;
        foreach (var s in _squares)
        {
            sum += s;
        }

        return Math.Sqrt(sum);
    }

    // ḡ[i] = value_i(root) / B; check; Σ ḡ²; W'[i] = rule(W[i], ḡ[i]); check — the chunk stays in L1/L2 throughout
    private void Chunk(int chunk)
    {
        var start = chunk * ChunkLength;
        var length = Math.Min(ChunkLength, _meanGradient.Length - start);
        var mean = KeepMeanGradient ? _meanGradient.AsSpan(start, length) : (t_mean ??= new float[ChunkLength]).AsSpan(0, length);
        ShardReduction.ReduceRange(_parts, _root, _batch, start, mean, ShardReduction.ThreadScratch(_depth * mean.Length));
        if (!TensorPrimitives.IsFiniteAll(mean))
        {
            Flag(NonFinite.Gradient);
        }

        _squares[chunk] = SumOfSquares(mean);
        _optimizer.ApplyRange(_from, _to, mean, start);
        if (!TensorPrimitives.IsFiniteAll(_to.AsSpan(start, length)))
        {
            Flag(NonFinite.Weight);
        }
    }

    // clipped step, pass 1: ḡ[i] = value_i(root) / B into the mean-gradient buffer; check; Σ ḡ²
    private void ReduceChunk(int chunk)
    {
        var start = chunk * ChunkLength;
        var mean = _meanGradient.AsSpan(start, Math.Min(ChunkLength, _meanGradient.Length - start));
        ShardReduction.ReduceRange(_parts, _root, _batch, start, mean, ShardReduction.ThreadScratch(_depth * mean.Length));
        if (!TensorPrimitives.IsFiniteAll(mean))
        {
            Flag(NonFinite.Gradient);
        }

        _squares[chunk] = SumOfSquares(mean);
    }

    // clipped step, pass 2: ḡ[i] ← ḡ[i]·c (c < 1 only); W'[i] = rule(W[i], ḡ[i]); check
    private void ApplyChunk(int chunk)
    {
        var start = chunk * ChunkLength;
        var length = Math.Min(ChunkLength, _meanGradient.Length - start);
        var mean = _meanGradient.AsSpan(start, length);
        if (_scale != 1)
        {
            TensorPrimitives.Multiply(mean, _scale, mean);
        }

        _optimizer.ApplyRange(_from, _to, mean, start);
        if (!TensorPrimitives.IsFiniteAll(_to.AsSpan(start, length)))
        {
            Flag(NonFinite.Weight);
        }
    }

    private void Flag(NonFinite what) => Interlocked.Or(ref _nonFinite, (int)what);
}
