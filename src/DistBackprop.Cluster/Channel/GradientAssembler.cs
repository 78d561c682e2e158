// Puts one connection's gradient frames back together: the parts of a (step, shard) gradient land in one array
// rented from the TensorPool at their offsets, and only when the part flagged last has arrived and the parts tile
// [0, total) exactly — no float twice, none missing — does a ShardComputed come out, for the coordinator to accept
// or drop like any reply. An overlapping part, a part after the whole range is in, or a last part that leaves a gap is
// a protocol error (FrameFormatException: the channel closes and the worker counts as failed). A (step, shard) that
// starts before the previous one was finished means the previous one is abandoned: its array goes back to the pool.
// Leaves out: reading the socket (TcpCoordinatorChannel) and deciding what is stale or whose shard it is (the coordinator).
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;

namespace DistBackprop.Cluster.Channel;

/// <summary>Assembles the gradient frames of one connection, read by one thread. Allocates nothing per shard once its
/// part list has grown to the parts a shard comes in (a worker sends at most one part per layer).</summary>
public sealed class GradientAssembler(int parameterCount, TensorPool pool)
{
    /// <summary>Parts one shard may come in; more is a protocol error (a worker streams at most one part per layer).</summary>
    public const int MaxParts = 4096;

    private float[]? _array;
    private long _step;
    private int _shard;
    private long _received;

    // the parts of the current shard as [start, end) ranges, sorted by start and pairwise disjoint; grown, never shrunk
    private (int Start, int End)[] _parts = new (int, int)[8];
    private int _partCount;

    /// <summary>Parts abandoned because another (step, shard) began first.</summary>
    public long Abandoned { get; private set; }

    /// <summary>
    /// Where the payload of gradient frame <paramref name="h"/> goes (its slice of the shard's array). Throws
    /// <see cref="FrameFormatException"/> when the frame is not a gradient of this model, is empty, or overlaps a part
    /// of the same shard already received.
    /// </summary>
    public Span<float> Begin(in FrameHeader h)
    {
        if (h.Kind != FrameKind.Gradient || h.Total != parameterCount)
        {
            throw new FrameFormatException($"tensor channel: expected a gradient of {parameterCount} floats, got a {h.Kind} frame of {h.Total}");
        }

        if (h.Count <= 0 || h.Offset < 0 || (long)h.Offset + h.Count > parameterCount)
        {
            throw new FrameFormatException($"tensor channel: step {h.Step} shard {h.Shard}: a part of {h.Count} floats at {h.Offset} (the gradient has {parameterCount})");
        }

        if (_array is not null && (_step != h.Step || _shard != h.Shard))
        {
            Abandon();
        }

        if (_array is null)
        {
            _array = pool.Rent(parameterCount);
            (_step, _shard, _received, _partCount) = (h.Step, h.Shard, 0, 0);
        }

        AddPart(h);
        return _array.AsSpan(h.Offset, h.Count);
    }

    /// <summary>After the payload of <paramref name="h"/> was read into <see cref="Begin"/>'s span: the whole shard gradient, or null while parts
    /// are missing. Throws <see cref="FrameFormatException"/> for a last part that leaves floats of [0, total) uncovered.</summary>
    public ShardComputed? Complete(in FrameHeader h)
    {
        _received += h.Count;
        if (!h.IsLast)
        {
            return null;
        }

        // the parts are disjoint and inside [0, total): they cover it exactly when they add up to total
        if (_received != parameterCount)
        {
            throw new FrameFormatException($"tensor channel: step {h.Step} shard {h.Shard}: last part after {_received} of {parameterCount} floats " +
                $"(a gap at {FirstGap()})");
        }

        var reply = new ShardComputed(h.Step, h.Shard, _array!, h.LossSum, h.Samples, h.Correct, h.ComputeMs, 0);
        _array = null;
        return reply;
    }

    /// <summary>Drops an unfinished gradient (connection closing, or another one began).</summary>
    public void Abandon()
    {
        if (_array is not null)
        {
            pool.Return(_array);
            _array = null;
            Abandoned++;
        }
    }

    /// <summary>Records [Offset, Offset + Count) among the current shard's parts, refusing an overlap with any of them.</summary>
    private void AddPart(in FrameHeader h)
    {
        var (start, end) = (h.Offset, h.Offset + h.Count);

        // the first part starting at or after `start` (the list is sorted and disjoint, so only it and the one before can overlap)
        int lo = 0, hi = _partCount;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_parts[mid].Start < start)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        if ((lo > 0 && _parts[lo - 1].End > start) || (lo < _partCount && _parts[lo].Start < end))
        {
            var other = lo > 0 && _parts[lo - 1].End > start ? _parts[lo - 1] : _parts[lo];
            throw new FrameFormatException($"tensor channel: step {h.Step} shard {h.Shard}: the part [{start}, {end}) overlaps the part [{other.Start}, {other.End}) " +
                "already received (every float of a gradient must come exactly once)");
        }

        if (_partCount == MaxParts)
        {
            throw new FrameFormatException($"tensor channel: step {h.Step} shard {h.Shard}: more than {MaxParts} parts");
        }

        if (_partCount == _parts.Length)
        {
            Array.Resize(ref _parts, Math.Min(_parts.Length * 2, MaxParts));
        }

        Array.Copy(_parts, lo, _parts, lo + 1, _partCount - lo);
        _parts[lo] = (start, end);
        _partCount++;
    }

    /// <summary>The first float of [0, total) no part covers (for the message).</summary>
    private int FirstGap()
    {
        var at = 0;
        for (var i = 0; i < _partCount && _parts[i].Start == at; i++)
        {
            at = _parts[i].End;
        }

        return at;
    }
}
