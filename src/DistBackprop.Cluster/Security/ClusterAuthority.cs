// The coordinator's side of the cluster PKI, kept under <state>/coordinator: the CA (ca.pem, ca.key), the
// coordinator's own certificate (node.pem), join tokens (tokens/) and a revocation list (revoked: one certificate
// serial or node name per line). Created on first start; the coordinator's certificate is renewed when it has
// less than 30 days left. Enrol() is what the service port calls for a worker or monitor that shows a token.
// Leaves out: the wire protocol (Enrolment), the listener (Channel/ServicePort).
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DistBackprop.Cluster.Hosting;

namespace DistBackprop.Cluster.Security;

public sealed class ClusterAuthority
{
    private readonly X509Certificate2 _ca; // with its private key
    private readonly string _revokedPath;
    private readonly object _gate = new();
    private DateTime _revokedStamp;
    private HashSet<string> _revoked = new(StringComparer.OrdinalIgnoreCase);

    private ClusterAuthority(string directory, X509Certificate2 ca)
    {
        Directory = directory;
        _ca = ca;
        _revokedPath = Path.Combine(directory, "revoked");
        Trust = new ClusterTrust(PublicOnly(ca), IsRevoked);
        Tokens = new TokenStore(Path.Combine(directory, "tokens"));
    }

    /// <summary>&lt;state&gt;/coordinator.</summary>
    public string Directory { get; }

    public ClusterTrust Trust { get; }

    public TokenStore Tokens { get; }

    /// <summary>The coordinator's own credentials (role coordinator), signed by this CA.</summary>
    public NodeCredentials Coordinator { get; private set; } = null!;

    /// <summary>Enrolments answered so far (granted, refused).</summary>
    public (long Granted, long Refused) Enrolments => (Interlocked.Read(ref _granted), Interlocked.Read(ref _refusedCount));

    private long _granted;
    private long _refusedCount;

    /// <summary>
    /// Opens the CA under <paramref name="directory"/> (&lt;state&gt;/coordinator), creating it on first use; <paramref name="note"/> is told
    /// what was created. Throws <see cref="IOException"/>/<see cref="CryptographicException"/> naming the file when one is unreadable.
    /// </summary>
    public static ClusterAuthority OpenOrCreate(string directory, Action<string>? note = null, IEnumerable<string>? hostNames = null)
    {
        directory = StateDirectory.Ensure(directory);
        var caPem = Path.Combine(directory, "ca.pem");
        var caKey = Path.Combine(directory, "ca.key");
        X509Certificate2 ca;
        if (File.Exists(caPem) && File.Exists(caKey))
        {
            try
            {
                ca = ClusterCertificates.WithKeyFromPem(File.ReadAllText(caPem), File.ReadAllText(caKey));
            }
            catch (CryptographicException e)
            {
                throw new CryptographicException($"{caPem} / {caKey}: not a certificate and its key ({e.Message})", e);
            }
        }
        else
        {
            ca = ClusterCertificates.CreateAuthority();
            StateDirectory.WriteSecret(caKey, ClusterCertificates.PrivateKeyPem(ca));
            StateDirectory.WriteSecret(caPem, ca.ExportCertificatePem() + "\n");
            note?.Invoke($"created the cluster CA {ca.Subject} in {directory} (fingerprint {ClusterCertificates.Fingerprint(ca)})");
        }

        var authority = new ClusterAuthority(directory, ca);
        authority.Coordinator = authority.LoadOrIssueOwn(hostNames ?? [], note);
        return authority;
    }

    /// <summary>A new join token for <paramref name="role"/> (stored as a hash; the returned token carries the secret and the CA fingerprint).</summary>
    public JoinToken CreateToken(NodeRole role, TimeSpan ttl) => Tokens.Create(role, ttl, Trust.Fingerprint);

    /// <summary>A certificate with a new key for a node of <paramref name="role"/> named <paramref name="name"/> (`distbackprop cert create`).</summary>
    public X509Certificate2 IssueWithNewKey(string name, NodeRole role, TimeSpan? validity = null) =>
        ClusterCertificates.IssueWithNewKey(_ca, name, role, validity);

    /// <summary>
    /// Answers an enrolment: checks the token for the role, then signs the request's key with subject "ROLE-xxxxxx" (random).
    /// Returns the certificate, or null and the reason (logged and sent to the node).
    /// </summary>
    public X509Certificate2? Enrol(string tokenId, string secret, NodeRole role, byte[] signingRequest, out string refusal)
    {
        if (role is not (NodeRole.Worker or NodeRole.Monitor))
        {
            refusal = $"only worker and monitor nodes enrol (asked for {ClusterCertificates.RoleName(role)})";
            Interlocked.Increment(ref _refusedCount);
            return null;
        }

        if (Tokens.Check(tokenId, secret, role) is { } why)
        {
            refusal = why;
            Interlocked.Increment(ref _refusedCount);
            return null;
        }

        PublicKey key;
        try
        {
            key = ClusterCertificates.ReadSigningRequest(signingRequest);
        }
        catch (CryptographicException e)
        {
            refusal = $"bad certificate request: {e.Message}";
            Interlocked.Increment(ref _refusedCount);
            return null;
        }

        refusal = "";
        Interlocked.Increment(ref _granted);
        var name = $"{ClusterCertificates.RoleName(role)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        return ClusterCertificates.Issue(_ca, key, name, role);
    }

    private NodeCredentials LoadOrIssueOwn(IEnumerable<string> hostNames, Action<string>? note)
    {
        var path = Path.Combine(Directory, "node.pem");
        if (File.Exists(path))
        {
            try
            {
                var own = NodeCredentialStore.Load(path, Trust.Ca);
                if (own.Certificate.NotAfter.ToUniversalTime() > DateTime.UtcNow.AddDays(30) && own.Identity.Role == NodeRole.Coordinator)
                {
                    return new NodeCredentials(own.Certificate, Trust);
                }
            }
            catch (Exception e) when (e is CryptographicException or IOException or ArgumentException)
            {
                note?.Invoke($"{path}: {e.Message}; issuing a new coordinator certificate");
            }
        }

        var cert = ClusterCertificates.IssueWithNewKey(_ca, "coordinator", NodeRole.Coordinator, dnsNames: hostNames);
        NodeCredentialStore.Save(path, cert, Trust.Ca);
        return new NodeCredentials(cert, Trust);
    }

    private string? IsRevoked(X509Certificate2 certificate)
    {
        lock (_gate)
        {
            var stamp = File.Exists(_revokedPath) ? File.GetLastWriteTimeUtc(_revokedPath) : DateTime.MinValue;
            if (stamp != _revokedStamp)
            {
                _revokedStamp = stamp;
                _revoked = stamp == DateTime.MinValue ? new(StringComparer.OrdinalIgnoreCase)
                    : new(File.ReadAllLines(_revokedPath).Select(l => l.Split('#')[0].Trim()).Where(l => l.Length > 0), StringComparer.OrdinalIgnoreCase);
            }

            var name = ClusterCertificates.NameOf(certificate);
            return _revoked.Contains(certificate.SerialNumber) ? $"serial {certificate.SerialNumber} listed in {_revokedPath}"
                : _revoked.Contains(name) ? $"name {name} listed in {_revokedPath}" : null;
        }
    }

    private static X509Certificate2 PublicOnly(X509Certificate2 cert) => X509CertificateLoader.LoadCertificate(cert.RawData);
}

/// <summary>A node's credentials file: its certificate, the cluster CA and its private key, in one PEM file (written atomically, 0600).</summary>
public static class NodeCredentialStore
{
    /// <summary>The file name under a role's state folder.</summary>
    public const string FileName = "node.pem";

    public static void Save(string path, X509Certificate2 certificate, X509Certificate2 ca)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(ca);
        StateDirectory.Ensure(Path.GetDirectoryName(Path.GetFullPath(path))!);
        StateDirectory.WriteSecret(path, ClusterCertificates.ToPem(certificate, withKey: false) + ClusterCertificates.ToPem(ca, withKey: false) +
            ClusterCertificates.PrivateKeyPem(certificate));
    }

    /// <summary>Loads a credentials file (certificate, CA, key); with <paramref name="expectedCa"/>, its CA must be that one.</summary>
    public static NodeCredentials Load(string path, X509Certificate2? expectedCa = null)
    {
        var text = File.ReadAllText(path);
        var certs = ClusterCertificates.CertificatesFromPem(text);
        if (certs.Count < 2)
        {
            throw new CryptographicException($"{path}: expected this node's certificate, then the cluster CA, then the private key");
        }

        var ca = certs[^1];
        if (expectedCa is not null && !ca.RawDataMemory.Span.SequenceEqual(expectedCa.RawDataMemory.Span))
        {
            throw new CryptographicException($"{path}: its CA is not this cluster's");
        }

        var cert = ClusterCertificates.WithKeyFromPem(text, text);
        return new NodeCredentials(cert, new ClusterTrust(expectedCa ?? ca));
    }
}
