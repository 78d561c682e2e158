// Streams one shard's gradient over a worker's tensor channel while backprop is still running: Mlp's Backward
// reports each layer (last first) once its dW and db are final for the shard, and the streamer queues that
// layer's range of the flat gradient (ParameterLayout keeps layers.l.weight and layers.l.bias contiguous, and
// layer l's range ends where layer l+1's begins) as a Gradient part, then goes on with the layers below (the channel
// writes the part on this thread when its socket is idle, which costs no thread wake-up, else its sender thread does
// while backprop goes on). The lowest range (layer 0, finished last) is held back
// and goes with the shard's stats as the part flagged last (Finish). Every float goes exactly once, highest
// offsets first. A finished range smaller than MinPartFloats waits and goes with the next layer's (a tiny output
// layer is not worth a frame and a wake-up of the sender thread on its own). Leaves out: the socket (TcpWorkerChannel) and deciding what to compute (Worker).
using DistBackprop.Core.Model;

namespace DistBackprop.Cluster.Channel;

/// <summary>
/// One per worker, reused for every shard (no allocation per step). Begin, then Mlp.ComputeGradient with this as
/// the listener (on one thread), then Finish. The gradient array is read by the channel's sender thread afterwards:
/// it must not be reused until every part is written (the worker lends it until work for a later step arrives).
/// </summary>
public sealed class GradientStreamer(ParameterLayout layout, int minPartFloats = GradientStreamer.DefaultMinPartFloats) : ILayerDone
{
    /// <summary>Finished ranges below this many floats (64 KB) wait for the next layer's.</summary>
    public const int DefaultMinPartFloats = 16 * 1024;

    private TcpWorkerChannel? _channel;
    private float[]? _gradient;
    private long _step;
    private long _version;
    private int _shard;
    private int _sentFrom; // floats [_sentFrom, Count) are queued

    /// <summary>Parts queued so far (all shards), for tests and diagnostics.</summary>
    public long PartsQueued { get; private set; }

    /// <summary>Starts a shard: parts go to <paramref name="channel"/> from <paramref name="gradient"/> (Count floats).</summary>
    public void Begin(TcpWorkerChannel channel, long step, long version, int shard, float[] gradient)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(gradient);
        if (gradient.Length != layout.Count)
        {
            throw new ArgumentException($"has {gradient.Length} floats, the model {layout.Count}", nameof(gradient));
        }

        (_channel, _gradient, _step, _version, _shard, _sentFrom) = (channel, gradient, step, version, shard, layout.Count);
    }

    /// <summary>Layer <paramref name="layer"/> is final: queue its range and everything above it not yet queued (layer 0 waits for Finish).</summary>
    public void LayerDone(int layer)
    {
        if (_channel is null || layer == 0)
        {
            return;
        }

        var from = layout.WeightOffset(layer);
        if (_sentFrom - from >= Math.Max(1, minPartFloats))
        {
            _channel.SendGradientPart(_step, _version, _shard, _gradient!, from, _sentFrom - from, last: false);
            _sentFrom = from;
            PartsQueued++;
        }
    }

    /// <summary>The shard is done: queues the rest (layer 0) as the last part with the shard's stats.</summary>
    public void Finish(double lossSum, int samples, int correct, double computeMs)
    {
        if (_channel is null)
        {
            throw new InvalidOperationException("Finish without Begin");
        }

        _channel.SendGradientPart(_step, _version, _shard, _gradient!, 0, _sentFrom, last: true, lossSum, samples, correct, computeMs);
        PartsQueued++;
        (_channel, _gradient) = (null, null);
    }

    /// <summary>Drops the shard without sending the rest (backprop failed); the coordinator abandons the parts already sent.</summary>
    public void Cancel() => (_channel, _gradient) = (null, null);
}
