// The coordinator's end of the tensor channel: a listening socket, and per worker connection one reader thread
// (Hello, then gradient frames assembled into TensorPool arrays and handed to the coordinator as ChannelGradient)
// and one sender thread (the newest weights queued for that worker, written straight from the snapshot array).
// Plain blocking sockets on dedicated threads: two per worker, no per-frame buffers, no async state machines.
// A connection that closes, resets or sends a bad frame is reported as ChannelClosed: the coordinator treats the
// worker as failed (its shards go to others) until it registers again. Leaves out: the round protocol (Coordinator).
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;

namespace DistBackprop.Cluster.Channel;

/// <summary>The TCP tensor transport, coordinator side.</summary>
public sealed class TcpCoordinatorChannel : ICoordinatorTransport
{
    /// <summary>How long a new connection may take to say hello.</summary>
    public static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _listener;
    private readonly string _publicHost;
    private readonly int _parameters;
    private readonly TensorPool _pool;
    private readonly IActorRef _coordinator;
    private readonly ILoggingAdapter? _log;
    private readonly ConcurrentDictionary<long, IActorRef> _tokens = new();
    private readonly Dictionary<IActorRef, Connection> _open = new(); // coordinator thread only
    private readonly ConcurrentDictionary<Connection, byte> _all = new();
    private volatile bool _disposed;

    public TcpCoordinatorChannel(TensorChannelOptions options, int parameterCount, TensorPool pool, IActorRef coordinator, ILoggingAdapter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _parameters = parameterCount;
        _pool = pool ?? throw new ArgumentNullException(nameof(pool));
        _coordinator = coordinator ?? throw new ArgumentNullException(nameof(coordinator));
        _log = log;
        var address = IPAddress.TryParse(options.BindHost, out var ip) ? ip
            : Dns.GetHostAddresses(options.BindHost).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? IPAddress.Any;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        FrameCodec.Tune(_listener);
        try
        {
            try
            {
                _listener.Bind(new IPEndPoint(address, options.Port));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && options.AnyPortIfTaken && options.Port != 0)
            {
                _log?.Warning("tensor channel: port {0} is taken; listening on any free port instead (workers are told which)", options.Port);
                _listener.Bind(new IPEndPoint(address, 0));
            }

            _listener.Listen(64);
        }
        catch (SocketException e)
        {
            _listener.Dispose();
            throw new IOException($"--tensor-port: cannot listen on {options.BindHost}:{options.Port} for the tensor channel ({e.SocketErrorCode}: {e.Message})", e);
        }

        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _publicHost = options.PublicHost ?? options.BindHost;
        new Thread(AcceptLoop) { IsBackground = true, Name = "tensor-channel-accept" }.Start();
    }

    /// <summary>The port actually listened on (useful with port 0).</summary>
    public int Port { get; }

    /// <summary>Gradient frames read (whole shard gradients handed to the coordinator).</summary>
    public long GradientsReceived => Interlocked.Read(ref _gradients);

    private long _gradients;

    /// <summary>A fresh token per registration answer; tokens are single-use (a retry's answer may be the one the worker uses).</summary>
    public TensorChannelEndpoint? Admit(IActorRef worker)
    {
        var token = Random.Shared.NextInt64(1, long.MaxValue);
        _tokens[token] = worker;
        return new TensorChannelEndpoint(_publicHost, Port, token);
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

        foreach (var stale in _tokens.Where(p => p.Value.Equals(worker)).Select(p => p.Key).ToList())
        {
            _tokens.TryRemove(stale, out _);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _listener.Dispose();
        foreach (var c in _all.Keys)
        {
            c.Close("coordinator stopped", report: false);
        }
    }

    private void AcceptLoop()
    {
        while (!_disposed)
        {
            Socket socket;
            try
            {
                socket = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (!_disposed)
                {
                    _log?.Error("tensor channel: accept failed: {0}", e.Message);
                }

                return;
            }

            FrameCodec.Tune(socket);
            var c = new Connection(this, socket);
            _all[c] = 0;
            new Thread(c.ReadLoop) { IsBackground = true, Name = "tensor-channel-read" }.Start();
        }
    }

    /// <summary>One worker's connection: a reader thread, a sender thread, and the newest weights waiting to go out.</summary>
    private sealed class Connection(TcpCoordinatorChannel owner, Socket socket)
    {
        private readonly NetworkStream _stream = new(socket, ownsSocket: true);
        private readonly object _gate = new();
        private float[]? _weights;
        private long _version;
        private int _closed;
        private IActorRef? _worker;

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

        public void Close(string reason, bool report)
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
            if (report && _worker is { } w && !owner._disposed)
            {
                owner._coordinator.Tell(new ChannelClosed(w, this, reason));
            }
        }

        public void ReadLoop()
        {
            var scratch = new byte[FrameCodec.HeaderBytes];
            var assembler = new GradientAssembler(owner._parameters, owner._pool);
            try
            {
                socket.ReceiveTimeout = (int)HelloTimeout.TotalMilliseconds;
                if (!FrameCodec.TryReadHeader(_stream, scratch, owner._parameters, out var hello) || hello.Kind != FrameKind.Hello)
                {
                    throw new FrameFormatException("tensor channel: the connection did not open with a Hello frame");
                }

                if (!owner._tokens.TryRemove(hello.Step, out var worker))
                {
                    throw new FrameFormatException("tensor channel: Hello with an unknown or used token (register first)");
                }

                if (hello.Total != owner._parameters)
                {
                    throw new FrameFormatException($"tensor channel: the worker's model has {hello.Total} parameters, the coordinator's {owner._parameters}");
                }

                socket.ReceiveTimeout = 0;
                _worker = worker;
                new Thread(SendLoop) { IsBackground = true, Name = "tensor-channel-send" }.Start();
                owner._coordinator.Tell(new ChannelOpened(worker, this));
                while (FrameCodec.TryReadHeader(_stream, scratch, owner._parameters, out var h))
                {
                    FrameCodec.ReadPayload(_stream, h, assembler.Begin(h));
                    if (assembler.Complete(h) is { } reply)
                    {
                        Interlocked.Increment(ref owner._gradients);
                        owner._coordinator.Tell(new ChannelGradient(reply), worker);
                    }
                }

                Close("connection closed by the worker (end of stream)", report: true);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
            {
                Close(e is FrameFormatException ? e.Message : $"connection lost ({e.GetBaseException().Message})", report: true);
                if (e is FrameFormatException && _worker is null)
                {
                    owner._log?.Warning("{0}", e.Message);
                }
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
