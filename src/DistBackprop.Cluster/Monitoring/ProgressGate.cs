// Who may watch a run (issue 11 item 5, docs/security.md "Progress subscriptions"): Akka does not tell the coordinator
// which certificate a remote sender presented, and a sender path can be forged, so a remote SubscribeProgress is answered
// with a challenge — a fresh 32-byte nonce bound to the subscriber's actor path — and the subscriber is added only once a
// node proves it over the coordinator's service port: TLS with a `monitor` client certificate of the cluster CA, the nonce,
// and the same actor path (ProgressProof). The proof then reaches the coordinator as SubscriberProven, a message this process
// makes and no serializer can. Thread-safe: challenges are made on the coordinator's thread, proofs checked on the port's.
// Leaves out: the wire exchange (ProgressProof), the listener (Channel/ServicePort), the subscriber list (Actors/Coordinator).
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Akka.Actor;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;

namespace DistBackprop.Cluster.Monitoring;

/// <summary>To the coordinator, from its <see cref="ProgressGate"/>: <paramref name="Subscriber"/> proved it holds a monitor
/// certificate (<paramref name="By"/>). Never crosses the network (outside the Protocol namespace, no serializer binding).</summary>
public sealed record SubscriberProven(IActorRef Subscriber, NodeIdentity By, ProgressGate Gate) : INoSerializationVerificationNeeded;

/// <summary>The coordinator's outstanding progress challenges.</summary>
public sealed class ProgressGate
{
    /// <summary>Challenges kept at once; beyond it the oldest is forgotten (a flood of SubscribeProgress costs nothing lasting).</summary>
    public const int MaxOutstanding = 64;

    /// <summary>How long a challenge can be proved.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private long _issued;
    private long _proven;
    private long _refused;

    /// <param name="servicePort">The coordinator's service port, where proofs go (told to the subscriber in the challenge).</param>
    public ProgressGate(int servicePort, TimeProvider? time = null)
    {
        ServicePort = servicePort;
        _time = time ?? TimeProvider.System;
    }

    public int ServicePort { get; }

    /// <summary>Challenges issued, proofs accepted, proofs refused.</summary>
    public (long Issued, long Proven, long Refused) Counts => (Interlocked.Read(ref _issued), Interlocked.Read(ref _proven), Interlocked.Read(ref _refused));

    /// <summary>A challenge for <paramref name="subscriber"/>: whoever proves it subscribes that actor (and only that one) at <paramref name="coordinator"/>.</summary>
    public ProgressChallenge Challenge(IActorRef subscriber, IActorRef coordinator)
    {
        ArgumentNullException.ThrowIfNull(subscriber);
        ArgumentNullException.ThrowIfNull(coordinator);
        var nonce = RandomNumberGenerator.GetBytes(ProgressProof.NonceBytes);
        var order = Interlocked.Increment(ref _issued);
        _pending[Convert.ToBase64String(nonce)] = new Pending(subscriber, coordinator, subscriber.Path.ToString(), _time.GetTimestamp(), order);
        if (_pending.Count > MaxOutstanding)
        {
            foreach (var old in _pending.OrderBy(p => p.Value.Order).Take(_pending.Count - MaxOutstanding).ToList())
            {
                _pending.TryRemove(old.Key, out _);
            }
        }

        return new ProgressChallenge(nonce, ServicePort);
    }

    /// <summary>
    /// A proof (service-port thread): <paramref name="nonce"/> of a live challenge, made for the actor at <paramref name="subscriberPath"/>,
    /// by a peer whose verified client certificate is <paramref name="peer"/>. True: the coordinator is told to subscribe that actor. Each
    /// nonce counts once, right or wrong.
    /// </summary>
    public bool Prove(ReadOnlySpan<byte> nonce, string subscriberPath, NodeIdentity? peer, out string refusal)
    {
        refusal = "";
        if (!_pending.TryRemove(Convert.ToBase64String(nonce), out var p))
        {
            refusal = "an unknown or used challenge (subscribe again)";
        }
        else if (_time.GetElapsedTime(p.Issued) > Lifetime)
        {
            refusal = $"the challenge expired (older than {Lifetime.TotalSeconds:0} s)";
        }
        else if (peer is not { Role: NodeRole.Monitor })
        {
            refusal = $"progress is only for monitor certificates; this one is {peer?.ToString() ?? "none"} (enrol with `distbackprop token create --role monitor`)";
        }
        else if (!string.Equals(subscriberPath, p.Path, StringComparison.Ordinal))
        {
            refusal = $"the challenge was made for {p.Path}, not {subscriberPath}";
        }

        if (refusal.Length > 0)
        {
            Interlocked.Increment(ref _refused);
            return false;
        }

        Interlocked.Increment(ref _proven);
        p!.Coordinator.Tell(new SubscriberProven(p.Subscriber, peer!, this));
        return true;
    }

    private sealed record Pending(IActorRef Subscriber, IActorRef Coordinator, string Path, long Issued, long Order);
}
