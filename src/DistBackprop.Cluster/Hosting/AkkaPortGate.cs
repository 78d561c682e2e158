// A bound on the Akka port (issue 11 item 6, docs/security.md): DotNetty accepts every TCP connection and Akka.Remote
// keeps each one until its handshake deadline, so 600 idle connections exhausted a 512-descriptor coordinator. This
// Akka.Remote transport adapter sits right above DotNetty (akka.remote.dot-netty.tcp.applied-adapters) and sees every
// inbound connection as it is accepted: at most MaxPending connections that have not yet delivered a payload, overall
// and MaxPendingPerAddress per remote IP; more are aborted at once (a reset: their descriptor is free before the next
// burst), and a pending one is aborted at its handshake deadline. With TLS the first payload can only come after a
// handshake with a certificate of the cluster CA, so "pending" means "not yet authenticated". The adapter keeps the
// wrapped transport's scheme (addresses stay akka.ssl.tcp://) and passes outbound connections, writes and everything
// after the first payload through untouched. Measured (IntruderTests): 500 idle and slow connections under
// prlimit --nofile=512 leave the coordinator at ~300 descriptors. Leaves out: TLS and the Akka handshake themselves
// (DotNetty, Akka.Remote), the service port (Channel/ServicePort); a flood that keeps the caps full also delays an honest
// node's new connection until a slot frees (at worst the deadline).
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Reflection;
using Akka.Actor;
using Akka.Event;
using Akka.Remote.Transport;
using DotNetty.Transport.Channels;
using Google.Protobuf;

namespace DistBackprop.Cluster.Hosting;

/// <summary>The limits of <see cref="AkkaPortGate"/> (HOCON <c>distbackprop.akka-port-gate</c>, written by WithDistBackprop).</summary>
public sealed record AkkaPortLimits(int MaxPending = 64, int MaxPendingPerAddress = 8, double HandshakeSeconds = 10)
{
    public const string ConfigPath = "distbackprop.akka-port-gate";

    public string Hocon => FormattableString.Invariant(
        $"{ConfigPath} {{ max-pending = {MaxPending}, max-pending-per-address = {MaxPendingPerAddress}, handshake-timeout = {(long)(HandshakeSeconds * 1000)}ms }}");
}

/// <summary>Made by Akka.Remote from <c>akka.remote.adapters.distbackprop-gate</c> (public parameterless constructor).</summary>
public sealed class AkkaPortGateProvider : ITransportAdapterProvider
{
    public const string Name = "distbackprop-gate";

    public Transport Create(Transport wrappedTransport, ExtendedActorSystem system)
    {
        ArgumentNullException.ThrowIfNull(system);
        var c = system.Settings.Config.GetConfig(AkkaPortLimits.ConfigPath);
        var limits = c is null || c.IsEmpty ? new AkkaPortLimits()
            : new AkkaPortLimits(c.GetInt("max-pending", 64), c.GetInt("max-pending-per-address", 8), c.GetTimeSpan("handshake-timeout", TimeSpan.FromSeconds(10)).TotalSeconds);
        return new AkkaPortGate(wrappedTransport, system, limits);
    }
}

/// <summary>The transport adapter: caps and a deadline on inbound connections until their first payload.</summary>
public sealed class AkkaPortGate : Transport
{
    private readonly Transport _wrapped;
    private readonly AkkaPortLimits _limits;
    private readonly ILoggingAdapter _log;
    private readonly ConcurrentDictionary<string, int> _perAddress = new(StringComparer.Ordinal);
    private int _pending;
    private long _overCap;
    private long _timedOut;
    private long _lastWarning;

    public AkkaPortGate(Transport wrapped, ActorSystem system, AkkaPortLimits limits)
    {
        _wrapped = wrapped ?? throw new ArgumentNullException(nameof(wrapped));
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        System = system;
        Config = wrapped.Config;
        SchemeIdentifier = wrapped.SchemeIdentifier; // no scheme of its own: addresses stay what the transport says
        MaximumPayloadBytes = wrapped.MaximumPayloadBytes;
        _log = Logging.GetLogger(system, "DistBackprop.AkkaPortGate");
    }

    /// <summary>Inbound connections not yet past their first payload.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Closed at once (over a cap) / closed at the handshake deadline.</summary>
    public (long OverCap, long TimedOut) Closed => (Interlocked.Read(ref _overCap), Interlocked.Read(ref _timedOut));

    public override async Task<(Address, TaskCompletionSource<IAssociationEventListener>)> Listen()
    {
        var (address, below) = await _wrapped.Listen().ConfigureAwait(false);
        var above = new TaskCompletionSource<IAssociationEventListener>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = above.Task.ContinueWith(t => below.TrySetResult(new Listener(this, t.Result)), CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return (address, above);
    }

    public override bool IsResponsibleFor(Address remote) => _wrapped.IsResponsibleFor(remote);

    public override Task<AssociationHandle> Associate(Address remoteAddress) => _wrapped.Associate(remoteAddress); // our own, outbound: not gated

    public override Task<bool> Shutdown() => _wrapped.Shutdown();

    public override Task<bool> ManagementCommand(object message) => _wrapped.ManagementCommand(message); // e.g. the test throttler's

    private void Inbound(AssociationHandle handle, IAssociationEventListener above)
    {
        var from = handle.RemoteAddress.Host ?? "";
        if (!Admit(from))
        {
            Interlocked.Increment(ref _overCap);
            Close(handle);
            Warn($"akka port: a connection from {from} closed at once ({Pending} unauthenticated already, at most {_limits.MaxPending}, " +
                $"{_limits.MaxPendingPerAddress} per address); {Closed.OverCap} so far");
            return;
        }

        var gated = new GatedHandle(this, handle, from);
        above.Notify(new InboundAssociation(gated));
        _ = Task.Delay(TimeSpan.FromSeconds(_limits.HandshakeSeconds)).ContinueWith(_ => gated.Expire(), TaskScheduler.Default);
    }

    private bool Admit(string from)
    {
        if (Interlocked.Increment(ref _pending) > _limits.MaxPending)
        {
            Interlocked.Decrement(ref _pending);
            return false;
        }

        if (_perAddress.AddOrUpdate(from, 1, (_, n) => n + 1) > _limits.MaxPendingPerAddress)
        {
            Release(from);
            return false;
        }

        return true;
    }

    private void Release(string from)
    {
        Interlocked.Decrement(ref _pending);
        if (_perAddress.AddOrUpdate(from, 0, (_, n) => n - 1) <= 0)
        {
            _perAddress.TryRemove(new KeyValuePair<string, int>(from, 0));
        }
    }

    // Akka.Remote's own TcpAssociationHandle.Disassociate closes gracefully (Akka.Remote 1.5.75: DotNettyTransport's
    // BeginGracefulClose/HalfClose drain the connection first): measured, a flood's descriptors stayed taken ~2 s after
    // Disassociate, long enough for 300 idle connections in 40 ms to exhaust 512. A connection the gate refuses or expires
    // never carried a byte of Akka: its DotNetty channel is aborted (SO_LINGER 0: a reset, no drain). Reflection on the
    // internal field, pinned by AkkaPortGateTests; without it (another transport) the handle's own Disassociate.
    private static readonly FieldInfo? ChannelField = typeof(AssociationHandle).Assembly
        .GetType("Akka.Remote.Transport.DotNetty.TcpAssociationHandle")?.GetField("_channel", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Whether <see cref="Close"/> can abort DotNetty channels (false: it falls back to Disassociate).</summary>
    public static bool AbortsChannels => ChannelField?.FieldType == typeof(IChannel);

    private static void Close(AssociationHandle handle)
    {
        if (ChannelField?.GetValue(handle) is IChannel channel)
        {
            try
            {
                channel.Configuration.SetOption(ChannelOption.SoLinger, 0);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or ChannelException)
            {
                // closed meanwhile
            }

            _ = channel.CloseAsync();
            return;
        }

#pragma warning disable CS0618 // the reason-taking overload only logs and calls this one
        handle.Disassociate();
#pragma warning restore CS0618
    }

    /// <summary>At most one warning every 10 s: a flood must not flood the log.</summary>
    private void Warn(string message)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastWarning);
        if (now - last >= 10_000 && Interlocked.CompareExchange(ref _lastWarning, now, last) == last)
        {
            _log.Warning("{0}", message);
        }
    }

    /// <summary>Between DotNetty and the layer above: inbound connections go through the caps.</summary>
    private sealed class Listener(AkkaPortGate gate, IAssociationEventListener above) : IAssociationEventListener
    {
        public void Notify(IAssociationEvent ev)
        {
            if (ev is InboundAssociation inbound)
            {
                gate.Inbound(inbound.Association, above);
            }
            else
            {
                above.Notify(ev);
            }
        }
    }

    /// <summary>One inbound connection: pending until its first payload (or its end), closed at the deadline if still pending.</summary>
    private sealed class GatedHandle : AssociationHandle
    {
        private readonly AkkaPortGate _gate;
        private readonly AssociationHandle _wrapped;
        private readonly string _from;
        private int _settled;

        public GatedHandle(AkkaPortGate gate, AssociationHandle wrapped, string from)
            : base(wrapped.LocalAddress, wrapped.RemoteAddress)
        {
            (_gate, _wrapped, _from) = (gate, wrapped, from);
            _ = ReadHandlerSource.Task.ContinueWith(t => _wrapped.ReadHandlerSource.TrySetResult(new Reader(this, t.Result)), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        public override bool Write(ByteString payload) => _wrapped.Write(payload);

#pragma warning disable CS0672, CS0618 // the obsolete overload is the one transports implement
        public override void Disassociate()
        {
            Settle();
            _wrapped.Disassociate();
        }
#pragma warning restore CS0672, CS0618

        /// <summary>The handshake deadline: a connection that sent nothing by now is closed.</summary>
        public void Expire()
        {
            if (Settle())
            {
                Interlocked.Increment(ref _gate._timedOut);
                Close(_wrapped);
            }
        }

        /// <summary>No longer pending (first payload, closed, or expired); true the first time.</summary>
        public bool Settle()
        {
            if (Interlocked.Exchange(ref _settled, 1) != 0)
            {
                return false;
            }

            _gate.Release(_from);
            return true;
        }

        private sealed class Reader(GatedHandle handle, IHandleEventListener above) : IHandleEventListener
        {
            public void Notify(IHandleEvent ev)
            {
                if (ev is InboundPayload or Disassociated)
                {
                    handle.Settle();
                }

                above.Notify(ev);
            }
        }
    }
}
