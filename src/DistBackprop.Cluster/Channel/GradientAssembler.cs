// Puts one connection's gradient frames back together: the parts of a (step, shard) gradient land in one array
// rented from the TensorPool at their offsets, and only when the part flagged last has arrived and every float is
// there does a ShardComputed come out, for the coordinator to accept or drop as stale/duplicate like any Akka reply.
// A (step, shard) that starts before the previous one was finished means the previous one is abandoned: its array
// goes back to the pool. Leaves out: reading the socket (TcpCoordinatorChannel) and deciding what is stale (GradientRound).
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;

namespace DistBackprop.Cluster.Channel;

/// <summary>Assembles the gradient frames of one connection, read by one thread.</summary>
public sealed class GradientAssembler(int parameterCount, TensorPool pool)
{
    private float[]? _array;
    private long _step;
    private int _shard;
    private long _received;

    /// <summary>Parts abandoned because another (step, shard) began first.</summary>
    public long Abandoned { get; private set; }

    /// <summary>
    /// Where the payload of gradient frame <paramref name="h"/> goes (its slice of the shard's array). Throws
    /// <see cref="FrameFormatException"/> when the frame is not a gradient of this model.
    /// </summary>
    public Span<float> Begin(in FrameHeader h)
    {
        if (h.Kind != FrameKind.Gradient || h.Total != parameterCount)
        {
            throw new FrameFormatException($"tensor channel: expected a gradient of {parameterCount} floats, got a {h.Kind} frame of {h.Total}");
        }

        if (_array is not null && (_step != h.Step || _shard != h.Shard))
        {
            Abandon();
        }

        if (_array is null)
        {
            _array = pool.Rent(parameterCount);
            (_step, _shard, _received) = (h.Step, h.Shard, 0);
        }

        return _array.AsSpan(h.Offset, h.Count);
    }

    /// <summary>After the payload of <paramref name="h"/> was read into <see cref="Begin"/>'s span: the whole shard gradient, or null while parts are missing.</summary>
    public ShardComputed? Complete(in FrameHeader h)
    {
        _received += h.Count;
        if (!h.IsLast)
        {
            return null;
        }

        if (_received != parameterCount)
        {
            throw new FrameFormatException($"tensor channel: step {h.Step} shard {h.Shard}: last part after {_received} of {parameterCount} floats");
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
}
