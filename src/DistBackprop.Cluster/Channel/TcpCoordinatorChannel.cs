// The coordinator's end of the tensor channel: connections arrive through the service port (ServicePort: TLS, caps,
// one handshake deadline, async until authenticated) with a Hello carrying the nonce of a registration; an accepted
// one gets one reader thread (gradient frames assembled into TensorPool arrays and handed to the coordinator as
// ChannelGradient) and one sender thread (the newest weights queued for that worker, written straight from the
// snapshot array). A Hello is accepted only for a live nonce and, over TLS, only with a worker certificate whose identity
// owns the registering worker id (docs/security.md). A connection that closes, resets or sends a bad frame is reported
// as ChannelClosed: the coordinator treats the worker as failed (its shards go to others) until it registers again.
// Leaves out: the round protocol (Coordinator), the listener (ServicePort).
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Channel;

/// <summary>The TCP tensor transport, coordinator side.</summary>
public sealed class TcpCoordinatorChannel : ICoordinatorTransport, IChannelAcceptor
{
    /// <summary>Live nonces kept per worker (each registration answer makes one; the worker uses the one it read).</summary>
    public const int NoncesPerWorker = 8;

    private readonly ServicePort _port;
    private readonly bool _ownsPort;
    private readonly bool _secure;
    private readonly string _publicHost;
    private readonly int _parameters;
    private readonly TensorPool _pool;
    private readonly IActorRef _coordinator;
    private readonly ILoggingAdapter? _log;
    private readonly ConcurrentDictionary<string, (IActorRef Worker, string WorkerId, long Issued)> _nonces = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, Connection> _open = new(); // coordinator thread only
    private readonly ConcurrentDictionary<Connection, byte> _all = new();
    private long _issued;
    private volatile bool _disposed;

    public TcpCoordinatorChannel(TensorChannelOptions options, int parameterCount, TensorPool pool, IActorRef coordinator, ILoggingAdapter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _parameters = parameterCount;
        _pool = pool ?? throw new ArgumentNullException(nameof(pool));
        _coordinator = coordinator ?? throw new ArgumentNullException(nameof(coordinator));
        _log = log;
        _ownsPort = options.SharedPort is null;
        _port = options.SharedPort ?? new ServicePort(new ServicePortOptions(options.BindHost, options.Port, options.AnyPortIfTaken), options.Tls, m => _log?.Warning("{0}", m));
        _secure = _port.IsSecure;
        _port.Channel = this;
        Port = _port.Port;
        _publicHost = options.PublicHost ?? options.BindHost;
    }

    /// <summary>The port actually listened on (useful with port 0).</summary>
    public int Port { get; }

    /// <summary>Gradient frames read (whole shard gradients handed to the coordinator).</summary>
    public long GradientsReceived => Interlocked.Read(ref _gradients);

    private long _gradients;

    /// <summary>Hello frames refused (unknown or used nonce, wrong certificate, wrong model size).</summary>
    public long HellosRefused => Interlocked.Read(ref _hellosRefused);

    private long _hellosRefused;

    /// <summary>Hello frames accepted (channels opened).</summary>
    public long HellosAccepted => Interlocked.Read(ref _hellosAccepted);

    private long _hellosAccepted;

    /// <summary>A fresh 256-bit nonce per registration answer, single use (a retry's answer may be the one the worker uses);
    /// the worker's channel must present it, over TLS with a worker certificate that owns <paramref name="workerId"/>.</summary>
    public TensorChannelEndpoint? Admit(IActorRef worker, string workerId)
    {
        var nonce = RandomNumberGenerator.GetBytes(FrameCodec.HelloNonceBytes);
        _nonces[Convert.ToBase64String(nonce)] = (worker, workerId, Interlocked.Increment(ref _issued));
        var mine = _nonces.Where(p => p.Value.Worker.Equals(worker)).OrderBy(p => p.Value.Issued).ToList();
        for (var i = 0; i < mine.Count - NoncesPerWorker; i++)
        {
            _nonces.TryRemove(mine[i].Key, out _);
        }

        return new TensorChannelEndpoint(_publicHost, Port, nonce);
    }

    public NodeIdentity? IdentityOf(IActorRef worker) => _open.TryGetValue(worker, out var c) ? c.Identity : null;

    /// <summary>ServicePort: a connection said Hello (thread-pool thread).</summary>
    public bool Accept(Socket socket, Stream stream, FrameHeader hello, byte[] nonce, NodeIdentity? peer, out string refusal)
    {
        if (_disposed)
        {
            refusal = "the coordinator is stopping";
            return false;
        }

        refusal = "";
        if (!_nonces.TryRemove(Convert.ToBase64String(nonce), out var entry))
        {
            refusal = "Hello with an unknown or used nonce (register first)";
        }
        else if (_secure && (peer is null || peer.Role != Hosting.NodeRole.Worker || !peer.Owns(entry.WorkerId)))
        {
            refusal = $"worker {entry.WorkerId}'s channel came with the certificate of {peer?.ToString() ?? "nobody"}, which does not own that worker id";
        }
        else if (hello.Total != _parameters)
        {
            refusal = $"the worker's model has {hello.Total} parameters, the coordinator's {_parameters}";
        }

        if (refusal.Length > 0)
        {
            Interlocked.Increment(ref _hellosRefused);
            return false;
        }

        Interlocked.Increment(ref _hellosAccepted);
        FrameCodec.Tune(socket);
        var c = new Connection(this, socket, stream, entry.Worker, peer);
        _all[c] = 0;
        c.Start();
        return true;
    }

    public bool IsOpen(IActorRef worker) => _open.ContainsKey(worker);

    public float[]? SendWeights(IActorRef worker, long version, float[] snapshot)
    {
        if (_open.TryGetValue(worker, out var c))
        {
            c.Post(version, snapshot);
        }
        else
        {
            _log?.Warning("tensor channel: no connection to {0}; weights version {1} not sent", worker.Path, version);
        }

        return null;
    }

    public bool Opened(ChannelOpened message, bool wanted)
    {
        var c = (Connection)message.Connection;
        if (!wanted)
        {
            c.Close("the worker is not registered any more", report: false);
        }

        if (c.IsClosed)
        {
            return false;
        }

        if (_open.TryGetValue(message.Worker, out var old) && old != c)
        {
            old.Close("replaced by a new connection", report: false);
        }

        _open[message.Worker] = c;
        return true;
    }

    public bool Closed(ChannelClosed message)
    {
        if (_open.TryGetValue(message.Worker, out var c) && c == message.Connection)
        {
            _open.Remove(message.Worker);
            return true;
        }

        return false;
    }

    public void Forget(IActorRef worker)
    {
        if (_open.Remove(worker, out var c))
        {
            c.Close("worker gone", report: false);
        }

        foreach (var stale in _nonces.Where(p => p.Value.Worker.Equals(worker)).Select(p => p.Key).ToList())
        {
            _nonces.TryRemove(stale, out _);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_port.Channel == this)
        {
            _port.Channel = null;
        }

        if (_ownsPort)
        {
            _port.Dispose();
        }

        foreach (var c in _all.Keys)
        {
            c.Close("coordinator stopped", report: false);
        }
    }

    /// <summary>One worker's connection: a reader thread, a sender thread, and the newest weights waiting to go out.</summary>
    private sealed class Connection(TcpCoordinatorChannel owner, Socket socket, Stream stream, IActorRef worker, NodeIdentity? identity)
    {
        private readonly Stream _stream = stream;
        private readonly object _gate = new();
        private float[]? _weights;
        private long _version;
        private int _closed;

        public NodeIdentity? Identity => identity;

        /// <summary>Starts the reader and sender threads and tells the coordinator the channel is open.</summary>
        public void Start()
        {
            new Thread(ReadLoop) { IsBackground = true, Name = "tensor-channel-read" }.Start();
            new Thread(SendLoop) { IsBackground = true, Name = "tensor-channel-send" }.Start();
            owner._coordinator.Tell(new ChannelOpened(worker, this, identity));
        }

        public bool IsClosed => Volatile.Read(ref _closed) != 0;

        /// <summary>Queues weights version <paramref name="version"/>; a newer version replaces one not yet sent (nobody needs the older one).</summary>
        public void Post(long version, float[] weights)
        {
            lock (_gate)
            {
                (_weights, _version) = (weights, version);
                Monitor.Pulse(_gate);
            }
        }

        public void Close(string reason, bool report, bool malformed = false)
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
            {
                return;
            }

            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }

            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }

            _stream.Dispose();
            owner._all.TryRemove(this, out _);
            if (report && !owner._disposed)
            {
                owner._coordinator.Tell(new ChannelClosed(worker, this, reason, malformed));
            }
        }

        private void ReadLoop()
        {
            var scratch = new byte[FrameCodec.HeaderBytes];
            var assembler = new GradientAssembler(owner._parameters, owner._pool);
            try
            {
                while (FrameCodec.TryReadHeader(_stream, scratch, owner._parameters, out var h))
                {
                    FrameCodec.ReadPayload(_stream, h, assembler.Begin(h));
                    if (assembler.Complete(h) is { } reply)
                    {
                        Interlocked.Increment(ref owner._gradients);
                        // checked here, on this connection's reader thread while the array is hot, not on the coordinator's
                        var finite = GradientSum.AllFinite(reply.Gradient, reply.LossSum);
                        owner._coordinator.Tell(new ChannelGradient(reply, identity, finite), worker);
                    }
                }

                Close("connection closed by the worker (end of stream)", report: true);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
            {
                Close(e is FrameFormatException ? e.Message : $"connection lost ({e.GetBaseException().Message})", report: true, malformed: e is FrameFormatException);
            }
            finally
            {
                assembler.Abandon();
            }
        }

        private void SendLoop()
        {
            var scratch = new byte[FrameCodec.HeaderBytes];
            try
            {
                while (true)
                {
                    float[] weights;
                    long version;
                    lock (_gate)
                    {
                        while (_weights is null && !IsClosed)
                        {
                            Monitor.Wait(_gate);
                        }

                        if (IsClosed)
                        {
                            return;
                        }

                        (weights, version) = (_weights!, _version);
                        _weights = null;
                    }

                    var h = new FrameHeader(FrameKind.Weights, FrameHeader.LastFlag, 0, version, -1, 0, weights.Length, weights.Length);
                    FrameCodec.Write(_stream, scratch, h, weights);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                Close($"connection lost while sending weights ({e.GetBaseException().Message})", report: true);
            }
        }
    }
}
