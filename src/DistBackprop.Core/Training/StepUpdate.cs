// The coordinator's update after each step, as two fused passes over the flat buffers instead of five
// (reduce, ÷ B, check, optimizer, check, copy). Each pass walks the buffers in chunks of ChunkLength floats
// that the kernel threads take in turn, and does all of its work on a chunk while the chunk is in L1/L2:
//   pass A (reduce): ḡ[i] = (Σ_{s in shard order} g_s[i]) / B;   are all ḡ[i] in the chunk finite?
//   pass B (apply):  W[i] ← rule(W[i], ḡ[i]) (Optimizer.Apply);  are all W[i] finite?;  copy[i] = W[i]
// Pass B starts only when pass A found every ḡ finite, so a bad gradient is reported before any weight changes.
// Every element goes through exactly the operations of the unfused sequence (ShardReduction.Reduce,
// Optimizer.Step, a copy), so the bits depend on neither the chunk size nor the thread count (SPEC §3).
// Leaves out: the divergence messages (TrainingState finds the tensor that broke once a pass says so)
// and who owns the threads (the caller's pool: in local mode the workers are idle while this runs).
using System.Numerics.Tensors;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Training;

/// <summary>Pass A and pass B of the step update over one model's buffers. One caller at a time.</summary>
internal sealed class StepUpdate
{
    /// <summary>32 KB of each buffer: pass B's four streams (W, ḡ and Adam's m, v) of a chunk fit in L2, pass A's mean in L1.</summary>
    public const int ChunkLength = 8192;

    /// <summary>Below this many chunks (a model under 32 K parameters) a pass is a few µs: waking threads would cost more.</summary>
    public const int MinParallelChunks = 4;

    private readonly float[] _parameters;
    private readonly float[] _meanGradient;
    private readonly Optimizer _optimizer;
    private IReadOnlyList<GradientSum> _shards = [];
    private int _batch;
    private float[]? _copy;
    private int _nonFinite; // 1 once any chunk of the current pass saw a non-finite value

    public StepUpdate(float[] parameters, float[] meanGradient, Optimizer optimizer)
    {
        _parameters = parameters;
        _meanGradient = meanGradient;
        _optimizer = optimizer;
    }

    private int Chunks => (_parameters.Length + ChunkLength - 1) / ChunkLength;

    private KernelPool PoolFor(KernelPool pool) => Chunks >= MinParallelChunks ? pool : KernelPool.Single;

    /// <summary>Pass A: the mean gradient from the shard sums (lengths already checked); false if any value is not finite.</summary>
    public bool Reduce(KernelPool pool, IReadOnlyList<GradientSum> shardsInOrder, int globalBatch)
    {
        _shards = shardsInOrder;
        _batch = globalBatch;
        _nonFinite = 0;
        try
        {
            PoolFor(pool).Run(Chunks, this, static (chunk, u) => u.ReduceChunk(chunk));
        }
        finally
        {
            _shards = [];
        }

        return _nonFinite == 0;
    }

    /// <summary>Pass B: one optimizer step on the parameters (copied into <paramref name="copy"/> if given); false if any weight is not finite.</summary>
    public bool Apply(KernelPool pool, float[]? copy)
    {
        _copy = copy;
        _nonFinite = 0;
        _optimizer.BeginStep(); // t and Adam's bias corrections advance once per step, not per chunk
        try
        {
            PoolFor(pool).Run(Chunks, this, static (chunk, u) => u.ApplyChunk(chunk));
        }
        finally
        {
            _copy = null;
        }

        return _nonFinite == 0;
    }

    private (int Start, int Length) Range(int chunk)
    {
        var start = chunk * ChunkLength;
        return (start, Math.Min(ChunkLength, _parameters.Length - start));
    }

    // ḡ[i] = (Σ_s g_s[i]) / B on the chunk, then the finite check while the chunk is still in L1
    private void ReduceChunk(int chunk)
    {
        var (start, length) = Range(chunk);
        ShardReduction.ReduceRange(_shards, _batch, _meanGradient, start, length);
        if (!TensorPrimitives.IsFiniteAll(_meanGradient.AsSpan(start, length)))
        {
            Volatile.Write(ref _nonFinite, 1);
        }
    }

    // W[i] ← rule(W[i], ḡ[i]); check; copy[i] = W[i]
    private void ApplyChunk(int chunk)
    {
        var (start, length) = Range(chunk);
        _optimizer.Apply(_parameters, _meanGradient, start, length);
        var w = _parameters.AsSpan(start, length);
        if (!TensorPrimitives.IsFiniteAll(w))
        {
            Volatile.Write(ref _nonFinite, 1);
        }

        if (_copy is { } copy)
        {
            w.CopyTo(copy.AsSpan(start, length));
        }
    }
}
