// The shards a worker has been given and not computed yet, and the one it is computing. A worker has one workspace
// (one Mlp), so it computes one shard at a time, in the order dealt; work for a newer step drops what is still queued
// of older steps (the coordinator has completed those). Independent of the worker's connection state: a compute task
// may outlive the registration it was dealt under. Leaves out: computing (IWorkerTransport) and buffers (WorkerBuffers).
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Actors;

/// <summary>One shard to compute with weights version <paramref name="Version"/>; <paramref name="Aggregation"/>: the step's
/// aggregation its sum is for (it stays on this worker) instead of the coordinator; a job of an aggregation that was
/// replaced by a newer role feeds nothing.</summary>
internal sealed record Job(long Step, ShardWork Work, float[] Weights, long Version, Aggregation? Aggregation = null)
{
    public bool Aggregate => Aggregation is not null;
}

/// <summary>Queued jobs and the running one. Actor thread only.</summary>
internal sealed class ShardQueue
{
    private readonly Queue<Job> _queue = new();

    /// <summary>The shard being computed (null: the workspace is free).</summary>
    public Job? Running { get; private set; }

    /// <summary>The newest step work was accepted for.</summary>
    public long LatestStep { get; private set; }

    public bool Busy => Running is not null;

    /// <summary>Queues every shard of <paramref name="work"/> with its weights; queued work of older steps is dropped.</summary>
    public void Add(ComputeShards work, float[] weights, long version, Aggregation? aggregation = null)
    {
        if (work.Step > LatestStep)
        {
            LatestStep = work.Step;
            while (_queue.Count > 0 && _queue.Peek().Step < work.Step)
            {
                _queue.Dequeue();
            }
        }

        foreach (var shard in work.Shards)
        {
            _queue.Enqueue(new Job(work.Step, shard, weights, version, aggregation));
        }
    }

    /// <summary>The next job, when the workspace is free.</summary>
    public bool TryStart(out Job job)
    {
        if (Running is null && _queue.TryDequeue(out var next))
        {
            Running = job = next;
            return true;
        }

        job = null!;
        return false;
    }

    /// <summary>The running job is done (computed or failed).</summary>
    public void Finished() => Running = null;

    /// <summary>Drops the queued jobs (not the running one, which cannot be stopped).</summary>
    public void Clear() => _queue.Clear();

    /// <summary>Forgets the step count too: the next coordinator starts afresh.</summary>
    public void Reset()
    {
        _queue.Clear();
        LatestStep = 0;
    }

    /// <summary>The shards of the newest step this worker still owes (queued, and the running one): what it hands back when leaving.</summary>
    public int[] Owed()
    {
        var owed = new List<int>();
        if (Running is { } r && r.Step == LatestStep)
        {
            owed.Add(r.Work.Shard);
        }

        owed.AddRange(_queue.Where(j => j.Step == LatestStep).Select(j => j.Work.Shard));
        return owed.ToArray();
    }

    /// <summary>Whether a queued or running job reads <paramref name="weights"/>.</summary>
    public bool Uses(float[] weights)
    {
        if (ReferenceEquals(Running?.Weights, weights))
        {
            return true;
        }

        foreach (var j in _queue)
        {
            if (ReferenceEquals(j.Weights, weights))
            {
                return true;
            }
        }

        return false;
    }
}
