// The worker's buffer lending, in one place. A shard's gradient buffer goes to the coordinator with the reply (in
// process the array itself travels; over the tensor channel the sender thread reads it): it is LENT until work for a
// later step arrives, because the coordinator only deals later work after it has reduced (or dropped) the step's
// replies (the ownership rule on ShardComputed). Weights arrays that came through a serializer go back to its pool once
// no queued or running job uses them. So a worker holds at most the shards of two steps. Leaves out: computing.
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

/// <summary>Gradient sums to reuse, sums lent to the coordinator, retired weights waiting to go back to the pool. Actor thread only.</summary>
internal sealed class WorkerBuffers(TensorPool? pool)
{
    private readonly Stack<GradientSum> _free = new();
    private readonly List<(long Step, GradientSum Sum)> _lent = new();
    private readonly List<float[]> _retired = new();

    /// <summary>A sum buffer for <paramref name="parameters"/> values: a free one, or a new one.</summary>
    public GradientSum Rent(int parameters) =>
        _free.Count > 0 && _free.Peek().Gradient.Length == parameters ? _free.Pop() : new GradientSum(parameters);

    /// <summary>The sum went to the coordinator for step <paramref name="step"/>: not ours again until later work arrives.</summary>
    public void Lend(long step, GradientSum sum) => _lent.Add((step, sum));

    /// <summary>The sum was never sent: reuse it at once.</summary>
    public void Free(GradientSum sum) => _free.Push(sum);

    /// <summary>Work for <paramref name="step"/> arrived: replies of earlier steps have been reduced or dropped, their buffers are free.</summary>
    public void ReleaseBefore(long step)
    {
        for (var i = _lent.Count - 1; i >= 0; i--)
        {
            if (_lent[i].Step < step)
            {
                _free.Push(_lent[i].Sum);
                _lent.RemoveAt(i);
            }
        }
    }

    /// <summary>Nobody will read our replies any more (the coordinator is gone).</summary>
    public void ReleaseAll() => ReleaseBefore(long.MaxValue);

    /// <summary>A weights array the worker no longer holds as current; it goes back to the pool once no job uses it.</summary>
    public void Retire(float[]? weights)
    {
        if (weights is not null && !_retired.Contains(weights))
        {
            _retired.Add(weights);
        }
    }

    /// <summary>Returns the retired weights no job uses any more (ignored by the pool unless they were deserialized here).</summary>
    public void ReturnRetired(ShardQueue jobs, float[]? current)
    {
        for (var i = _retired.Count - 1; i >= 0; i--)
        {
            var w = _retired[i];
            if (!ReferenceEquals(current, w) && !jobs.Uses(w))
            {
                pool?.Return(w);
                _retired.RemoveAt(i);
            }
        }
    }
}
