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
// Leaves out: the divergence messages (TrainingState finds the tensor that broke once the pass says so)
// and who owns the threads (the caller's pool: in local mode the workers are idle while this runs).
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

/// <summary>The fused update pass over one model's buffers. One caller at a time.</summary>
internal sealed class StepUpdate
{
    /// <summary>32 KB of each buffer: the pass's streams (g_s, ḡ, W, W' and Adam's m, v) of a chunk fit in L2.</summary>
    public const int ChunkLength = 8192;

    /// <summary>Below this many chunks (a model under 32 K parameters) the pass is a few µs: waking threads would cost more.</summary>
    public const int MinParallelChunks = 4;

    [ThreadStatic]
    private static float[]? t_mean;

    private readonly float[] _meanGradient;
    private readonly Optimizer _optimizer;
    private IReadOnlyList<PartialSum> _parts = [];
    private Subtree _root;
    private int _depth;
    private int _batch;
    private float[] _from = [];
    private float[] _to = [];
    private int _nonFinite; // NonFinite flags seen by any chunk of the current pass

    public StepUpdate(float[] meanGradient, Optimizer optimizer)
    {
        _meanGradient = meanGradient;
        _optimizer = optimizer;
    }

    private int Chunks => (_meanGradient.Length + ChunkLength - 1) / ChunkLength;

    /// <summary>Also write ḡ to the whole mean-gradient buffer (one more stream over memory).</summary>
    public bool KeepMeanGradient { get; set; }

    /// <summary>
    /// ḡ = value(root) / B from the frontier <paramref name="frontier"/> and one optimizer step from <paramref name="from"/>
    /// into <paramref name="to"/> (frontier and lengths already checked); which values were not finite.
    /// </summary>
    public NonFinite Run(KernelPool pool, IReadOnlyList<PartialSum> frontier, ReductionTree tree, int globalBatch, float[] from, float[] to)
    {
        _parts = frontier;
        _root = tree.Root;
        _depth = tree.Depth;
        _batch = globalBatch;
        _from = from;
        _to = to;
        _nonFinite = 0;
        _optimizer.BeginStep(); // t and Adam's bias corrections advance once per step, not per chunk
        try
        {
            (Chunks >= MinParallelChunks ? pool : KernelPool.Single).Run(Chunks, this, static (chunk, u) => u.Chunk(chunk));
        }
        finally
        {
            _parts = [];
            _from = _to = [];
        }

        return (NonFinite)_nonFinite;
    }

    // ḡ[i] = value_i(root) / B; check; W'[i] = rule(W[i], ḡ[i]); check — the chunk stays in L1/L2 throughout
    private void Chunk(int chunk)
    {
        var start = chunk * ChunkLength;
        var length = Math.Min(ChunkLength, _meanGradient.Length - start);
        var mean = KeepMeanGradient ? _meanGradient.AsSpan(start, length) : (t_mean ??= new float[ChunkLength]).AsSpan(0, length);
        ShardReduction.ReduceRange(_parts, _root, _batch, start, mean, ShardReduction.ThreadScratch(_depth * length));
        if (!TensorPrimitives.IsFiniteAll(mean))
        {
            Flag(NonFinite.Gradient);
        }

        _optimizer.ApplyRange(_from, _to, mean, start);
        if (!TensorPrimitives.IsFiniteAll(_to.AsSpan(start, length)))
        {
            Flag(NonFinite.Weight);
        }
    }

    private void Flag(NonFinite what) => Interlocked.Or(ref _nonFinite, (int)what);
}
