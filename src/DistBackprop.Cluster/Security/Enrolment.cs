// Enrolment on the coordinator's service port (docs/security.md), over TLS that authenticates the server only:
//   1. the node connects, TLS handshake (the coordinator shows its certificate; the node has none yet);
//   2. node → "DBE1" frame {op: "hello"}; coordinator → {ca: PEM};
//   3. the node checks SHA-256(CA) against the token's fingerprint and that the TLS certificate it was shown is the
//      coordinator's, signed by that CA — only then does it send the secret;
//   4. node → {op: "enrol", tokenId, secret, role, csr}; coordinator → {certificate: PEM} or {error: "…"}.
// The node's private key never leaves it (a PKCS#10 request). Frames: magic u32 "DBE1", length u32 (≤ 64 KiB), UTF-8 JSON.
// Leaves out: the listener, its limits and deadline (Channel/ServicePort), the CA itself (ClusterAuthority).
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using DistBackprop.Cluster.Hosting;

namespace DistBackprop.Cluster.Security;

/// <summary>The coordinator refused the enrolment, or the server is not the one the token names: exit 2, with this message.</summary>
public sealed class EnrolmentException(string message) : Exception(message);

public static class Enrolment
{
    public const uint Magic = 0x31454244; // "DBE1"
    public const int MaxFrameBytes = 64 * 1024;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Enrols at <paramref name="host"/>:<paramref name="port"/> with <paramref name="token"/> for <paramref name="role"/>: returns this node's new
    /// credentials. Throws <see cref="EnrolmentException"/> when refused or when the server is not the token's cluster, and
    /// <see cref="IOException"/>/<see cref="SocketException"/>/<see cref="AuthenticationException"/> when it cannot be reached (try again later).
    /// </summary>
    public static async Task<NodeCredentials> EnrolAsync(string host, int port, JoinToken token, NodeRole role, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
        X509Certificate2? shown = null;
        await using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, cert, _, _) =>
        {
            shown = cert is null ? null : X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
            return shown is not null; // checked below against the CA the server names, before any secret is sent
        });
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "coordinator",
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        }, cts.Token).ConfigureAwait(false);

        await WriteAsync(ssl, new Request("hello", null, null, null, null), cts.Token).ConfigureAwait(false);
        var hello = await ReadAsync<Response>(ssl, cts.Token).ConfigureAwait(false);
        var ca = ClusterCertificates.CertificatesFromPem(hello.Ca ?? "").FirstOrDefault()
            ?? throw new EnrolmentException($"{host}:{port} did not show a cluster CA (is it a DistBackprop coordinator's service port?)");
        var fingerprint = ClusterCertificates.Fingerprint(ca);
        if (token.CaFingerprint is { } expected && !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(expected), System.Text.Encoding.ASCII.GetBytes(fingerprint)))
        {
            throw new EnrolmentException($"{host}:{port} belongs to a cluster whose CA has fingerprint {fingerprint}, the join token expects {expected}: " +
                "a wrong address, an old token, or someone in between; the token's secret was not sent");
        }

        var trust = new ClusterTrust(ca);
        if (trust.Validate(shown, out var why, NodeRole.Coordinator) is null)
        {
            throw new EnrolmentException($"{host}:{port}: the TLS certificate it showed is not its cluster's coordinator certificate ({why}); the token's secret was not sent");
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = ClusterCertificates.CreateSigningRequest(key, ClusterCertificates.RoleName(role));
        await WriteAsync(ssl, new Request("enrol", token.Id, token.Secret, ClusterCertificates.RoleName(role), Convert.ToBase64String(csr)), cts.Token).ConfigureAwait(false);
        var answer = await ReadAsync<Response>(ssl, cts.Token).ConfigureAwait(false);
        if (answer.Error is { } error)
        {
            throw new EnrolmentException($"the coordinator at {host}:{port} refused to enrol this {ClusterCertificates.RoleName(role)}: {error}");
        }

        var issued = ClusterCertificates.CertificatesFromPem(answer.Certificate ?? "").FirstOrDefault()
            ?? throw new EnrolmentException($"the coordinator at {host}:{port} sent no certificate");
        using (issued)
        {
            var mine = issued.CopyWithPrivateKey(key);
            return new NodeCredentials(ClusterCertificates.WithKeyFromPem(mine.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem()), trust);
        }
    }

    /// <summary>
    /// The coordinator's side, after the service port has read the frame magic "DBE1" of the first frame. Every read and write
    /// runs under <paramref name="cancellationToken"/> (the port's one handshake deadline).
    /// </summary>
    public static async Task ServeAsync(Stream stream, ClusterAuthority authority, string peer, Action<string>? log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(authority);
        var hello = await ReadBodyAsync<Request>(stream, cancellationToken).ConfigureAwait(false);
        if (hello.Op != "hello")
        {
            return;
        }

        await WriteAsync(stream, new Response(authority.Trust.Ca.ExportCertificatePem(), null, null), cancellationToken).ConfigureAwait(false);
        var request = await ReadAsync<Request>(stream, cancellationToken).ConfigureAwait(false);
        if (request is not { Op: "enrol", TokenId: { } id, Secret: { } secret, Role: { } roleName, Csr: { } csr })
        {
            return;
        }

        X509Certificate2? issued = null;
        string refusal;
        if (ClusterCertificates.ParseRole(roleName) is not { } role)
        {
            refusal = $"unknown role '{Quote(roleName)}'";
        }
        else
        {
            byte[] der;
            try
            {
                der = Convert.FromBase64String(csr);
            }
            catch (FormatException)
            {
                der = [];
            }

            issued = authority.Enrol(id, secret, role, der, out refusal);
        }

        if (issued is null)
        {
            log?.Invoke($"enrolment from {peer} refused: {refusal}");
            await WriteAsync(stream, new Response(null, null, refusal), cancellationToken).ConfigureAwait(false);
            return;
        }

        using (issued)
        {
            log?.Invoke($"enrolled {ClusterCertificates.NameOf(issued)} ({roleName}) from {peer} with token {JoinToken.Prefix}.{Quote(id)}.…, valid until {issued.NotAfter:u}");
            await WriteAsync(stream, new Response(null, issued.ExportCertificatePem(), null), cancellationToken).ConfigureAwait(false);
        }
    }

    private static string Quote(string s) => s.Length <= 32 ? s : s[..32] + "…";

    private static async Task WriteAsync<T>(Stream stream, T message, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message, Json);
        var frame = new byte[8 + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), (uint)body.Length);
        body.CopyTo(frame, 8);
        await stream.WriteAsync(frame, ct).ConfigureAwait(false);
        await stream.FlushAsync(ct).ConfigureAwait(false);
    }

    private static async Task<T> ReadAsync<T>(Stream stream, CancellationToken ct)
    {
        var magic = new byte[4];
        await stream.ReadExactlyAsync(magic, ct).ConfigureAwait(false);
        if (BinaryPrimitives.ReadUInt32LittleEndian(magic) != Magic)
        {
            throw new IOException("enrolment: the peer does not speak the enrolment protocol");
        }

        return await ReadBodyAsync<T>(stream, ct).ConfigureAwait(false);
    }

    private static async Task<T> ReadBodyAsync<T>(Stream stream, CancellationToken ct)
    {
        var length = new byte[4];
        await stream.ReadExactlyAsync(length, ct).ConfigureAwait(false);
        var n = BinaryPrimitives.ReadUInt32LittleEndian(length);
        if (n > MaxFrameBytes)
        {
            throw new IOException($"enrolment: a {n}-byte message (at most {MaxFrameBytes})");
        }

        var body = new byte[n];
        await stream.ReadExactlyAsync(body, ct).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize<T>(body, Json) ?? throw new IOException("enrolment: an empty message");
        }
        catch (JsonException e)
        {
            throw new IOException($"enrolment: a malformed message ({e.Message})", e);
        }
    }

    private sealed record Request(string Op, string? TokenId, string? Secret, string? Role, string? Csr);

    private sealed record Response(string? Ca, string? Certificate, string? Error);
}
