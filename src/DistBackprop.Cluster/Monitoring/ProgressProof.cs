// The proof a remote progress subscriber gives on the coordinator's service port (docs/security.md), over mutual TLS:
//   1. the monitor connects, TLS with its `monitor` client certificate (it checks the server holds this cluster's coordinator certificate);
//   2. monitor → magic u32 "DBS1", the challenge's 32-byte nonce, u16 length + UTF-8 actor path of the subscriber (≤ 1 KiB);
//   3. coordinator → u8 status (0 subscribed, 1 refused), u16 length + UTF-8 reason; then it closes.
// The path binds the nonce to the actor it was issued to: a node that relays its own challenge to a real monitor gains nothing.
// Leaves out: the listener, its caps and deadline (Channel/ServicePort), the decision (ProgressGate).
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;

namespace DistBackprop.Cluster.Monitoring;

/// <summary>The coordinator refused the proof (the message says why).</summary>
public sealed class ProgressProofException(string message) : Exception(message);

public static class ProgressProof
{
    public const uint Magic = 0x31534244; // "DBS1"
    public const int NonceBytes = 32;
    public const int MaxPathBytes = 1024;

    /// <summary>
    /// Proves <paramref name="challenge"/> at <paramref name="host"/>:<paramref name="challenge"/>.ServicePort for the actor at
    /// <paramref name="subscriberPath"/> with <paramref name="credentials"/>. Returns when the coordinator subscribed it; throws
    /// <see cref="ProgressProofException"/> when refused, <see cref="IOException"/>/<see cref="SocketException"/>/<see cref="AuthenticationException"/>
    /// when it cannot be reached or is not this cluster's coordinator, <see cref="OperationCanceledException"/> after <paramref name="timeout"/>.
    /// </summary>
    public static async Task ProveAsync(string host, ProgressChallenge challenge, string subscriberPath, NodeCredentials credentials, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        ArgumentNullException.ThrowIfNull(credentials);
        var path = Encoding.UTF8.GetBytes(subscriberPath);
        if (challenge.Nonce.Length != NonceBytes || path.Length > MaxPathBytes)
        {
            throw new ArgumentException($"a challenge of {challenge.Nonce.Length} bytes for a path of {path.Length}", nameof(challenge));
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, challenge.ServicePort, cts.Token).ConfigureAwait(false);
        await using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        var refused = "";
        try
        {
            await ssl.AuthenticateAsClientAsync(credentials.CoordinatorClientOptions(r => refused = r), cts.Token).ConfigureAwait(false);
        }
        catch (AuthenticationException e) when (refused.Length > 0)
        {
            throw new AuthenticationException($"{host}:{challenge.ServicePort} is not this cluster's coordinator ({refused})", e);
        }

        var request = new byte[4 + NonceBytes + 2 + path.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(request, Magic);
        challenge.Nonce.CopyTo(request, 4);
        BinaryPrimitives.WriteUInt16LittleEndian(request.AsSpan(4 + NonceBytes), (ushort)path.Length);
        path.CopyTo(request, 4 + NonceBytes + 2);
        await ssl.WriteAsync(request, cts.Token).ConfigureAwait(false);
        await ssl.FlushAsync(cts.Token).ConfigureAwait(false);

        var head = new byte[3];
        await ssl.ReadExactlyAsync(head, cts.Token).ConfigureAwait(false);
        var reason = new byte[BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(1))];
        await ssl.ReadExactlyAsync(reason, cts.Token).ConfigureAwait(false);
        if (head[0] != 0)
        {
            throw new ProgressProofException($"the coordinator refused the progress subscription: {Encoding.UTF8.GetString(reason)}");
        }
    }

    /// <summary>
    /// The coordinator's side, after the service port read the magic "DBS1" on a TLS connection whose client certificate is
    /// <paramref name="peer"/> (null: none). Every read runs under <paramref name="cancellationToken"/> (the port's one handshake deadline).
    /// Returns the refusal (null: subscribed), for the port's log.
    /// </summary>
    public static async Task<string?> ServeAsync(Stream stream, NodeIdentity? peer, ProgressGate gate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(gate);
        var head = new byte[NonceBytes + 2];
        await stream.ReadExactlyAsync(head, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(NonceBytes));
        if (length > MaxPathBytes)
        {
            throw new IOException($"progress proof: a {length}-byte actor path (at most {MaxPathBytes})");
        }

        var path = new byte[length];
        await stream.ReadExactlyAsync(path, cancellationToken).ConfigureAwait(false);
        string subscriber;
        try
        {
            subscriber = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(path);
        }
        catch (DecoderFallbackException)
        {
            throw new IOException("progress proof: the actor path is not UTF-8");
        }

        var ok = gate.Prove(head.AsSpan(0, NonceBytes), subscriber, peer, out var refusal);
        var reason = Encoding.UTF8.GetBytes(refusal);
        var answer = new byte[3 + reason.Length];
        answer[0] = ok ? (byte)0 : (byte)1;
        BinaryPrimitives.WriteUInt16LittleEndian(answer.AsSpan(1), (ushort)reason.Length);
        reason.CopyTo(answer, 3);
        await stream.WriteAsync(answer, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        return ok ? null : $"progress subscription for {Quote(subscriber)} refused: {refusal}";
    }

    private static string Quote(string s) => s.Length <= 120 ? s : s[..120] + "…";
}
