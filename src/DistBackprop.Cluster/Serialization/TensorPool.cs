// Float arrays the TensorSerializer deserializes into, handed back by their last reader so the next message of
// the same size reuses them: at 4 bytes per parameter a gradient or weights message is usually a large-object-heap
// allocation, one per shard per step without a pool (issue 6). Only arrays this pool rented are ever taken back
// (an in-process array that never crossed a serializer is ignored), each at most once.
// Leaves out: the worker's own gradient buffers (Worker) and the coordinator's weight snapshots (Coordinator).
using System.Runtime.CompilerServices;

namespace DistBackprop.Cluster.Serialization;

/// <summary>A thread-safe pool of float arrays by exact length, with ownership tracking.</summary>
public sealed class TensorPool
{
    /// <summary>Free arrays kept per length; more are left to the GC.</summary>
    public const int MaxFreePerLength = 64;

    private static readonly object Marker = new();
    private readonly Dictionary<int, Stack<float[]>> _free = new();
    private readonly ConditionalWeakTable<float[], object> _rented = new();
    private long _rentedCount;
    private long _reusedCount;

    /// <summary>Arrays handed out so far, and how many of those were reused rather than allocated.</summary>
    public (long Rented, long Reused) Counts => (Interlocked.Read(ref _rentedCount), Interlocked.Read(ref _reusedCount));

    /// <summary>An array of exactly <paramref name="length"/> floats (contents undefined) that <see cref="Return"/> will take back.</summary>
    public float[] Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        float[]? array = null;
        lock (_free)
        {
            if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                array = stack.Pop();
            }
        }

        Interlocked.Increment(ref _rentedCount);
        if (array is null)
        {
            array = new float[length];
        }
        else
        {
            Interlocked.Increment(ref _reusedCount);
        }

        _rented.AddOrUpdate(array, Marker);
        return array;
    }

    /// <summary>
    /// Gives back an array this pool rented; the caller must not touch it again. Arrays the pool did not rent, or
    /// already took back, are ignored, so a reader may return whatever it got without knowing where it came from.
    /// </summary>
    public bool Return(float[]? array)
    {
        if (array is null || !_rented.Remove(array))
        {
            return false;
        }

        lock (_free)
        {
            if (!_free.TryGetValue(array.Length, out var stack))
            {
                _free[array.Length] = stack = new Stack<float[]>();
            }

            if (stack.Count < MaxFreePerLength)
            {
                stack.Push(array);
            }
        }

        return true;
    }
}
