// The coordinator's update after each step, as two fused passes over the flat buffers instead of five
// (reduce, ÷ B, check, optimizer, check, copy). The buffers are walked in chunks of ChunkLength floats; each
// kernel thread takes a contiguous run of chunks and keeps one chunk of the mean gradient in its own scratch
// (L1), so the mean never goes through memory:
//   pass A (check): ḡ = (Σ_{s in shard order} g_s) / B on the chunk;  are all ḡ finite?
//   pass B (apply): ḡ again (cheaper than storing it: one read per shard instead of a write and a read);
//                   W ← rule(W, ḡ) (Optimizer.Apply);  are all W finite?;  copy = W;  (mean buffer = ḡ if kept)
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
    /// <summary>32 KB of each buffer: a chunk's ḡ scratch, W and Adam's m, v stay in L1/L2 between the fused operations.</summary>
    public const int ChunkLength = 8192;

    /// <summary>Below this many chunks (a model under 32 K parameters) a pass is a few µs: waking threads would cost more.</summary>
    public const int MinParallelChunks = 4;

    private readonly float[] _parameters;
    private readonly float[] _meanGradient;
    private readonly Optimizer _optimizer;
    private float[][] _scratch = []; // [part][ChunkLength]: ḡ of the chunk in hand
    private IReadOnlyList<GradientSum> _shards = [];
    private int _batch;
    private int _parts;
    private float[]? _copy;
    private bool _keepMean;
    private int _nonFinite; // 1 once any chunk of the current pass saw a non-finite value

    public StepUpdate(float[] parameters, float[] meanGradient, Optimizer optimizer)
    {
        _parameters = parameters;
        _meanGradient = meanGradient;
        _optimizer = optimizer;
    }

    private int Chunks => (_parameters.Length + ChunkLength - 1) / ChunkLength;

    /// <summary>Pass A: false if any value of the mean gradient is not finite (shard lengths already checked). Writes nothing.</summary>
    public bool Check(KernelPool pool, IReadOnlyList<GradientSum> shardsInOrder, int globalBatch)
    {
        Begin(pool, shardsInOrder, globalBatch, copy: null, keepMean: false);
        try
        {
            pool.Run(_parts, this, static (part, u) => u.CheckPart(part));
        }
        finally
        {
            End();
        }

        return _nonFinite == 0;
    }

    /// <summary>
    /// Pass B: one optimizer step on the parameters, also written to <paramref name="copy"/> if given, and the mean
    /// gradient to the mean buffer if <paramref name="keepMean"/>; false if any new weight is not finite.
    /// </summary>
    public bool Apply(KernelPool pool, IReadOnlyList<GradientSum> shardsInOrder, int globalBatch, float[]? copy, bool keepMean)
    {
        Begin(pool, shardsInOrder, globalBatch, copy, keepMean);
        _optimizer.BeginStep(); // t and Adam's bias corrections advance once per step, not per chunk
        try
        {
            pool.Run(_parts, this, static (part, u) => u.ApplyPart(part));
        }
        finally
        {
            End();
        }

        return _nonFinite == 0;
    }

    private void Begin(KernelPool pool, IReadOnlyList<GradientSum> shardsInOrder, int globalBatch, float[]? copy, bool keepMean)
    {
        _parts = Chunks >= MinParallelChunks ? Math.Min(pool.Threads, Chunks) : 1;
        if (_scratch.Length < _parts)
        {
            _scratch = new float[_parts][];
            for (var p = 0; p < _parts; p++)
            {
                _scratch[p] = new float[ChunkLength];
            }
        }

        (_shards, _batch, _copy, _keepMean, _nonFinite) = (shardsInOrder, globalBatch, copy, keepMean, 0);
    }

    private void End() => (_shards, _copy) = ([], null);

    // part p has chunks [p·C/P, (p+1)·C/P): contiguous, so each thread streams through its own stretch of memory
    private (int First, int End) ChunksOf(int part) => (part * Chunks / _parts, (part + 1) * Chunks / _parts);

    // ḡ of chunk c (elements start .. start + length − 1 of the flat buffers) into this part's scratch
    private Span<float> ReduceChunk(int part, int chunk, out int start)
    {
        start = chunk * ChunkLength;
        var mean = _scratch[part].AsSpan(0, Math.Min(ChunkLength, _parameters.Length - start));
        ShardReduction.ReduceRange(_shards, _batch, start, mean);
        return mean;
    }

    private void CheckPart(int part)
    {
        var (first, end) = ChunksOf(part);
        for (var c = first; c < end; c++)
        {
            var mean = ReduceChunk(part, c, out _);
            if (!TensorPrimitives.IsFiniteAll(mean))
            {
                Volatile.Write(ref _nonFinite, 1);
                return;
            }
        }
    }

    // W ← rule(W, ḡ); check W; copy = W
    private void ApplyPart(int part)
    {
        var (first, end) = ChunksOf(part);
        for (var c = first; c < end; c++)
        {
            var mean = ReduceChunk(part, c, out var start);
            if (_keepMean)
            {
                mean.CopyTo(_meanGradient.AsSpan(start));
            }

            _optimizer.Apply(_parameters, start, mean);
            var w = _parameters.AsSpan(start, mean.Length);
            if (!TensorPrimitives.IsFiniteAll(w))
            {
                Volatile.Write(ref _nonFinite, 1);
            }

            if (_copy is { } copy)
            {
                w.CopyTo(copy.AsSpan(start));
            }
        }
    }
}
