// A worker's end of the tensor channel: one TCP connection to the coordinator's service port, TLS with this worker's
// client certificate in the secure default (the coordinator's certificate is checked against the cluster CA), opened
// with a Hello frame carrying the registration's nonce. A reader thread reads weight frames straight into TensorPool arrays and hands them to
// the worker actor (WeightsArrived). Gradient parts (a layer each, as backprop finishes it: GradientStreamer) go out in
// call order, straight from the gradient buffers: the calling (compute) thread writes a part itself when nothing is
// queued or being written, which saves a wake-up of the sender thread on the critical path; otherwise the part is
// queued and the sender thread writes it. A broken connection
// is reported once (WorkerChannelLost); the worker then registers again.
// Leaves out: what the worker does with weights and when (Worker).
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Akka.Actor;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;
using DistBackprop.Cluster.Serialization;

namespace DistBackprop.Cluster.Channel;

/// <summary>The TCP tensor transport, worker side.</summary>
public sealed class TcpWorkerChannel : IDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly int _parameters;
    private readonly TensorPool _pool;
    private readonly IActorRef _worker;
    private readonly Queue<Outgoing> _queue = new();
    private readonly byte[] _writeScratch = new byte[FrameCodec.HeaderBytes]; // used by whoever holds _writing
    private bool _writing; // under _queue's lock: a frame is being written (by the sender thread or inline by a caller)
    private int _closed;

    private TcpWorkerChannel(Socket socket, Stream stream, int parameterCount, TensorPool pool, IActorRef worker)
    {
        _socket = socket;
        _stream = stream;
        _parameters = parameterCount;
        _pool = pool;
        _worker = worker;
    }

    /// <summary>Tests only: the connection, to cut it.</summary>
    internal Socket Socket => _socket;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>
    /// Connects to <paramref name="endpoint"/> (over TLS with <paramref name="tls"/>' certificate when given: the server must hold this
    /// cluster's coordinator certificate), says hello with the registration's nonce, and starts the reader and sender threads.
    /// </summary>
    public static async Task<TcpWorkerChannel> ConnectAsync(TensorChannelEndpoint endpoint, int parameterCount, TensorPool pool, IActorRef worker,
        NodeCredentials? tls = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        FrameCodec.Tune(socket);
        Stream stream;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(15));
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, deadline.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (tls is not null)
            {
                var refused = "";
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                try
                {
                    await ssl.AuthenticateAsClientAsync(tls.CoordinatorClientOptions(r => refused = r), deadline.Token).ConfigureAwait(false);
                }
                catch (AuthenticationException e)
                {
                    throw new IOException($"tensor channel to {endpoint.Host}:{endpoint.Port}: TLS failed ({(refused.Length > 0 ? refused : e.Message)})", e);
                }
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var channel = new TcpWorkerChannel(socket, stream, parameterCount, pool, worker);
        FrameCodec.WriteHello(stream, endpoint.Nonce, parameterCount);
        new Thread(channel.ReadLoop) { IsBackground = true, Name = "tensor-channel-read" }.Start();
        new Thread(channel.SendLoop) { IsBackground = true, Name = "tensor-channel-send" }.Start();
        return channel;
    }

    /// <summary>
    /// Queues shard <paramref name="shard"/>'s gradient of step <paramref name="step"/> (computed from weights <paramref name="version"/>).
    /// <paramref name="gradient"/> is read by the sender thread later: the ShardComputed ownership rule applies (it is free again
    /// once work for a later step arrives).
    /// </summary>
    public void SendGradient(long step, long version, int shard, float[] gradient, double lossSum, int samples, int correct, double computeMs) =>
        SendGradientPart(step, version, shard, gradient, 0, gradient.Length, last: true, lossSum, samples, correct, computeMs);

    /// <summary>
    /// Queues floats [<paramref name="offset"/>, offset + <paramref name="count"/>) of shard <paramref name="shard"/>'s gradient as one
    /// part; the part flagged <paramref name="last"/> carries the shard's stats and must come after all the others (parts go out in
    /// queue order). The range must be final: the sender thread reads it later (ownership as in <see cref="SendGradient"/>).
    /// Written on the calling thread when nothing is ahead of it (then it returns once the bytes are in the socket buffer),
    /// else queued for the sender thread. Allocates nothing once the queue has grown; ignored once the channel is closed.
    /// </summary>
    public void SendGradientPart(long step, long version, int shard, float[] gradient, int offset, int count, bool last,
        double lossSum = 0, int samples = 0, int correct = 0, double computeMs = 0)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        if (gradient.Length != _parameters || offset < 0 || count < 0 || (long)offset + count > gradient.Length)
        {
            throw new ArgumentException($"part {offset}+{count} of a gradient of {gradient.Length} floats (the model has {_parameters})", nameof(gradient));
        }

        var part = new Outgoing(step, version, shard, gradient, offset, count, last, lossSum, samples, correct, computeMs);
        lock (_queue)
        {
            if (IsClosed)
            {
                return;
            }

            if (_writing || _queue.Count > 0)
            {
                _queue.Enqueue(part);
                Monitor.Pulse(_queue);
                return;
            }

            _writing = true; // nothing ahead of it: write it on this thread, no wake-up of the sender thread on the way
        }

        try
        {
            Write(part);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            Close($"connection lost while sending a gradient ({e.GetBaseException().Message})");
        }
        finally
        {
            lock (_queue)
            {
                _writing = false;
                if (_queue.Count > 0)
                {
                    Monitor.Pulse(_queue); // parts queued meanwhile: the sender thread takes them
                }
            }
        }
    }

    private void Write(in Outgoing o)
    {
        var h = new FrameHeader(FrameKind.Gradient, o.Last ? FrameHeader.LastFlag : (byte)0, o.Step, o.Version, o.Shard, o.Offset, o.Count,
            o.Gradient.Length, o.LossSum, o.Samples, o.Correct, o.ComputeMs);
        FrameCodec.Write(_stream, _writeScratch, h, o.Gradient.AsSpan(o.Offset, o.Count));
    }

    public void Dispose() => Close(null);

    private void Close(string? reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        lock (_queue)
        {
            _queue.Clear();
            Monitor.PulseAll(_queue);
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        _stream.Dispose();
        if (reason is not null)
        {
            _worker.Tell(new WorkerChannelLost(this, reason));
        }
    }

    private void ReadLoop()
    {
        var scratch = new byte[FrameCodec.HeaderBytes];
        try
        {
            while (FrameCodec.TryReadHeader(_stream, scratch, _parameters, out var h))
            {
                if (h.Kind != FrameKind.Weights || h.Total != _parameters || h.Offset != 0 || h.Count != h.Total)
                {
                    throw new FrameFormatException($"tensor channel: expected whole weights of {_parameters} floats, got a {h.Kind} frame ({h.Offset}+{h.Count} of {h.Total})");
                }

                var weights = _pool.Rent(_parameters);
                FrameCodec.ReadPayload(_stream, h, weights);
                _worker.Tell(new WeightsArrived(this, h.Version, weights));
            }

            Close("connection closed (end of stream)");
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
            Close(e is FrameFormatException ? e.Message : $"connection lost ({e.GetBaseException().Message})");
        }
    }

    private void SendLoop()
    {
        try
        {
            while (true)
            {
                Outgoing o;
                lock (_queue)
                {
                    while ((_queue.Count == 0 || _writing) && !IsClosed)
                    {
                        Monitor.Wait(_queue);
                    }

                    if (IsClosed)
                    {
                        return;
                    }

                    o = _queue.Dequeue();
                    _writing = true;
                }

                try
                {
                    Write(o);
                }
                finally
                {
                    lock (_queue)
                    {
                        _writing = false;
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            Close($"connection lost while sending a gradient ({e.GetBaseException().Message})");
        }
    }

    private readonly record struct Outgoing(long Step, long Version, int Shard, float[] Gradient, int Offset, int Count, bool Last,
        double LossSum, int Samples, int Correct, double ComputeMs);
}
