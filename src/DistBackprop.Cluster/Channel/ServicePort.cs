// The coordinator's service port (default: the Akka port + 1): one TLS listener for enrolment ("DBE1",
// ClusterAuthority; the node has no certificate yet), the tensor channel ("DBC1" Hello; the node's client
// certificate is checked against the cluster CA) and progress-subscription proofs ("DBS1", monitor certificates).
// Everything before authentication is bounded: an async accept loop and async handshakes (no thread per connection), at most MaxPending unauthenticated connections overall
// and MaxPendingPerAddress per remote address (more are closed at once), ONE deadline for the whole handshake
// (TLS, first frame, enrolment), and an accept loop that backs off and goes on after "too many open files".
// Only a connection whose Hello a channel accepts gets dedicated threads (TcpCoordinatorChannel).
// Leaves out: what Hello means (IChannelAcceptor), the enrolment and proof exchanges (Security/Enrolment, Monitoring/ProgressProof).
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Security;

namespace DistBackprop.Cluster.Channel;

/// <summary>Where the service port listens and its limits. <see cref="Port"/> 0 = any free port; <paramref name="AnyPortIfTaken"/>: fall back to any free port.</summary>
public sealed record ServicePortOptions(string BindHost, int Port, bool AnyPortIfTaken = false)
{
    /// <summary>The whole handshake (TLS, the first frame, an enrolment exchange) must end within this, however slowly bytes arrive.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Connections not yet authenticated, overall; more are closed as soon as accepted.</summary>
    public int MaxPending { get; init; } = 64;

    /// <summary>Connections not yet authenticated from one remote address.</summary>
    public int MaxPendingPerAddress { get; init; } = 8;
}

/// <summary>Takes over a connection that opened with a Hello (the tensor channel).</summary>
public interface IChannelAcceptor
{
    /// <summary>
    /// Called on a thread-pool thread with a Hello frame and its 32-byte nonce, the connection's stream (TLS or plain) and the peer's
    /// verified certificate identity (null on a plain connection). True: the acceptor owns the connection now; false (with the
    /// reason, logged): the port closes it.
    /// </summary>
    bool Accept(Socket socket, Stream stream, FrameHeader hello, byte[] nonce, NodeIdentity? peer, out string refusal);
}

public sealed class ServicePort : IDisposable
{
    private readonly ServicePortOptions _options;
    private readonly NodeCredentials? _tls;
    private readonly Action<string>? _warn;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly SslStreamCertificateContext? _context;
    private int _pending;
    private long _overCap;
    private long _timedOut;
    private long _failed;
    private long _lastWarning;

    /// <summary>Listens at once (throws <see cref="IOException"/> naming the port when it cannot); serves until disposed.</summary>
    public ServicePort(ServicePortOptions options, NodeCredentials? tls, Action<string>? warn = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _tls = tls;
        _warn = warn;
        if (tls is not null)
        {
            _context = SslStreamCertificateContext.Create(tls.Certificate, additionalCertificates: null, offline: true);
        }

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
                warn?.Invoke($"service port {options.Port} is taken; listening on any free port instead (the join line and the workers are told which)");
                _listener.Bind(new IPEndPoint(address, 0));
            }

            _listener.Listen(512);
        }
        catch (SocketException e)
        {
            _listener.Dispose();
            throw new IOException($"--tensor-port: cannot listen on {options.BindHost}:{options.Port} for the service port ({e.SocketErrorCode}: {e.Message})", e);
        }

        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _ = AcceptLoopAsync();
    }

    /// <summary>The port actually listened on.</summary>
    public int Port { get; }

    /// <summary>Whether connections use TLS (false with --insecure: plain TCP, no enrolment).</summary>
    public bool IsSecure => _tls is not null;

    /// <summary>Serves enrolment when set (the coordinator's CA).</summary>
    public ClusterAuthority? Authority { get; set; }

    /// <summary>Told of each enrolment granted or refused (a line for the coordinator's console).</summary>
    public Action<string>? Notice { get; set; }

    /// <summary>Takes Hello connections when set (the coordinator's tensor channel; null: refused).</summary>
    public IChannelAcceptor? Channel { get; set; }

    /// <summary>Checks progress-subscription proofs ("DBS1", monitor certificates only) when set.</summary>
    public Monitoring.ProgressGate? Progress { get; set; }

    /// <summary>Connections in their handshake now.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Closed at once because of the caps / closed at the handshake deadline / failed or refused in the handshake.</summary>
    public (long OverCap, long TimedOut, long Failed) Refused => (Interlocked.Read(ref _overCap), Interlocked.Read(ref _timedOut), Interlocked.Read(ref _failed));

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        _listener.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var backoff = TimeSpan.FromMilliseconds(20);
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(20);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // EMFILE/ENFILE ("too many open files"), ENOBUFS, a connection reset before accept: wait a little, go on
                Warn($"service port: accept failed ({e.SocketErrorCode}: {e.Message}); retrying in {backoff.TotalMilliseconds:0} ms");
                try
                {
                    await Task.Delay(backoff, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
                continue;
            }

            var remote = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (!Admit(remote))
            {
                Interlocked.Increment(ref _overCap);
                socket.Dispose();
                continue;
            }

            _ = HandshakeAsync(socket, remote);
        }
    }

    private bool Admit(IPAddress remote)
    {
        if (Interlocked.Increment(ref _pending) > _options.MaxPending)
        {
            Interlocked.Decrement(ref _pending);
            return false;
        }

        var n = _perAddress.AddOrUpdate(remote, 1, (_, c) => c + 1);
        if (n > _options.MaxPendingPerAddress)
        {
            Release(remote);
            return false;
        }

        return true;
    }

    private void Release(IPAddress remote)
    {
        Interlocked.Decrement(ref _pending);
        if (_perAddress.AddOrUpdate(remote, 0, (_, c) => c - 1) <= 0)
        {
            _perAddress.TryRemove(new KeyValuePair<IPAddress, int>(remote, 0));
        }
    }

    private async Task HandshakeAsync(Socket socket, IPAddress remote)
    {
        var handedOver = false;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(_options.HandshakeTimeout);
        var peer = socket.RemoteEndPoint?.ToString() ?? "unknown";
        try
        {
            NodeIdentity? identity = null;
            if (_tls is not null)
            {
                var refusal = "";
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = _context,
                    ClientCertificateRequired = true, // asked for; enrolling nodes have none yet, and may only enrol
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    CipherSuitesPolicy = TlsCiphers.Policy,
                    RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    {
                        if (cert is null)
                        {
                            return true;
                        }

                        identity = _tls.Trust.Validate(cert as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(cert.GetRawCertData()), out refusal);
                        return identity is not null;
                    },
                }, deadline.Token).ConfigureAwait(false);
            }

            var header = new byte[FrameCodec.HeaderBytes];
            await stream.ReadExactlyAsync(header.AsMemory(0, 4), deadline.Token).ConfigureAwait(false);
            var magic = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header);
            if (magic == Enrolment.Magic && Authority is { } authority && _tls is not null)
            {
                await Enrolment.ServeAsync(stream, authority, peer, Notice ?? _warn, deadline.Token).ConfigureAwait(false);
                return;
            }

            if (magic == Monitoring.ProgressProof.Magic && Progress is { } gate && _tls is not null)
            {
                if (await Monitoring.ProgressProof.ServeAsync(stream, identity, gate, deadline.Token).ConfigureAwait(false) is { } refused)
                {
                    Interlocked.Increment(ref _failed);
                    Warn($"{refused} (from {peer})");
                }

                return;
            }

            if (magic != FrameCodec.Magic || Channel is not { } channel)
            {
                Interlocked.Increment(ref _failed);
                return; // not a DistBackprop peer (or nobody takes channels): close
            }

            await stream.ReadExactlyAsync(header.AsMemory(4), deadline.Token).ConfigureAwait(false);
            var hello = FrameCodec.ReadHeader(header, int.MaxValue);
            var nonce = new byte[FrameCodec.HelloNonceBytes];
            if (hello.Kind != FrameKind.Hello)
            {
                throw new FrameFormatException("tensor channel: the connection did not open with a Hello frame");
            }

            await stream.ReadExactlyAsync(nonce, deadline.Token).ConfigureAwait(false);
            if (_tls is not null && identity is null)
            {
                throw new FrameFormatException($"tensor channel from {peer}: Hello without a client certificate (enrol first: distbackprop worker --join TOKEN)");
            }

            if (!channel.Accept(socket, stream, hello, nonce, identity, out var why))
            {
                throw new FrameFormatException($"tensor channel from {peer} refused: {why}");
            }

            handedOver = true;
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _timedOut);
        }
        catch (FrameFormatException e)
        {
            Interlocked.Increment(ref _failed);
            Warn(e.Message);
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException or ObjectDisposedException or OperationCanceledException
            or InvalidOperationException or System.Security.Cryptography.CryptographicException)
        {
            Interlocked.Increment(ref _failed);
        }
        finally
        {
            Release(remote); // authenticated (or gone): no longer counted against the caps
            if (!handedOver)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>At most one warning a second (a flood of bad connections must not flood the log).</summary>
    private void Warn(string message)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastWarning);
        if (now - last >= 1000 && Interlocked.CompareExchange(ref _lastWarning, now, last) == last)
        {
            _warn?.Invoke(message);
        }
    }
}

/// <summary>The TLS cipher suites both ends offer: AES-128-GCM first (the fastest with AES-NI), where the platform lets us choose.</summary>
public static class TlsCiphers
{
    public static CipherSuitesPolicy? Policy { get; } = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()
        ? new CipherSuitesPolicy([
            TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384])
        : null;
}
