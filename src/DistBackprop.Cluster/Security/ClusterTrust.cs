// Who a peer is, proven by TLS: a certificate that chains to the cluster's own CA (pinned: the system store is
// never consulted), is in date, names a DistBackprop role and is not on the coordinator's revocation list.
// One check serves Akka.Remote (DotNetty's CertificateValidationCallback) and the service port (SslStream).
// Leaves out: making certificates (ClusterCertificates), what a role may do (the coordinator's state machine).
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using DistBackprop.Cluster.Hosting;

namespace DistBackprop.Cluster.Security;

/// <summary>
/// An authenticated peer: its certificate's common name (<paramref name="Name"/>), the role the certificate names, its
/// SHA-256 thumbprint and serial (hex). What the coordinator's rules check ("this channel is worker W's").
/// </summary>
public sealed record NodeIdentity(string Name, NodeRole Role, string Thumbprint, string Serial, DateTimeOffset NotAfter)
{
    public static NodeIdentity Of(X509Certificate2 certificate, NodeRole role) =>
        new(ClusterCertificates.NameOf(certificate), role, certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256),
            certificate.SerialNumber, certificate.NotAfter.ToUniversalTime());

    /// <summary>
    /// A worker's id is its certificate's name, '/', and the process (several workers may share one certificate: a state dir on
    /// one machine, or one Kubernetes secret): "worker-3fa2c1/vm1-12345". True when <paramref name="workerId"/> is one of this identity's.
    /// </summary>
    public bool Owns(string workerId) =>
        workerId.Length > Name.Length && workerId.StartsWith(Name, StringComparison.Ordinal) && workerId[Name.Length] == '/';

    /// <summary>The worker id of process <paramref name="instance"/> holding this certificate.</summary>
    public string WorkerId(string instance) => $"{Name}/{instance}";

    public override string ToString() => $"{Name} ({ClusterCertificates.RoleName(Role)})";
}

/// <summary>Validates peers against the cluster CA; see the file comment.</summary>
public sealed class ClusterTrust
{
    private readonly X509Certificate2 _ca;
    private readonly Func<X509Certificate2, string?>? _revoked;

    /// <param name="ca">The cluster's CA (its public certificate is enough).</param>
    /// <param name="revoked">Optional: a reason when the certificate is revoked (the coordinator's revocation list), else null.</param>
    public ClusterTrust(X509Certificate2 ca, Func<X509Certificate2, string?>? revoked = null)
    {
        _ca = ca ?? throw new ArgumentNullException(nameof(ca));
        _revoked = revoked;
        Fingerprint = ClusterCertificates.Fingerprint(ca);
    }

    public X509Certificate2 Ca => _ca;

    /// <summary>base64url SHA-256 of the CA certificate (what join tokens carry).</summary>
    public string Fingerprint { get; }

    /// <summary>Peers refused so far (for tests and logs).</summary>
    public long Refusals => Interlocked.Read(ref _refusals);

    private long _refusals;

    /// <summary>The peer's identity when <paramref name="certificate"/> is a valid cluster certificate (of one of <paramref name="roles"/>, any when empty); else null and why.</summary>
    public NodeIdentity? Validate(X509Certificate2? certificate, out string reason, params NodeRole[] roles)
    {
        var identity = Check(certificate, out reason, roles);
        if (identity is null)
        {
            Interlocked.Increment(ref _refusals);
        }

        return identity;
    }

    private NodeIdentity? Check(X509Certificate2? certificate, out string reason, NodeRole[] roles)
    {
        if (certificate is null)
        {
            reason = "no client certificate";
            return null;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (!chain.Build(certificate) || chain.ChainElements.Count < 2 || !chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(_ca.RawDataMemory.Span))
        {
            var status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            reason = $"certificate '{certificate.Subject}' is not signed by this cluster's CA or is out of date{(status.Length > 0 ? $" ({status})" : "")}";
            return null;
        }

        if (ClusterCertificates.RoleOf(certificate) is not { } role)
        {
            reason = $"certificate '{certificate.Subject}' names no DistBackprop role";
            return null;
        }

        if (roles.Length > 0 && !roles.Contains(role))
        {
            reason = $"certificate '{certificate.Subject}' has role {ClusterCertificates.RoleName(role)}, expected {string.Join(" or ", roles.Select(ClusterCertificates.RoleName))}";
            return null;
        }

        if (_revoked?.Invoke(certificate) is { } why)
        {
            reason = $"certificate '{certificate.Subject}' is revoked ({why})";
            return null;
        }

        reason = "";
        return NodeIdentity.Of(certificate, role);
    }

    /// <summary>For Akka.Remote's DotNetty transport: any cluster certificate (worker, monitor, coordinator) on both sides of a connection.</summary>
    public Akka.Remote.Transport.DotNetty.CertificateValidationCallback AkkaValidator() => (certificate, _, peer, _, log) =>
    {
        if (Validate(certificate, out var reason) is not null)
        {
            return true;
        }

        log?.Warning("TLS: refused {0}: {1}", peer, reason);
        return false;
    };

    /// <summary>For an SslStream whose peer must hold a cluster certificate of one of <paramref name="roles"/>.</summary>
    public RemoteCertificateValidationCallback SslValidator(Action<string>? refused, params NodeRole[] roles) => (_, certificate, _, _) =>
    {
        var peer = certificate as X509Certificate2 ?? (certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
        if (Validate(peer, out var reason, roles) is not null)
        {
            return true;
        }

        refused?.Invoke(reason);
        return false;
    };
}

/// <summary>
/// What a node presents and trusts: its certificate with the private key, its identity, and the cluster trust
/// (CA). One per node, shared by Akka.Remote and the tensor channel.
/// </summary>
public sealed class NodeCredentials
{
    public NodeCredentials(X509Certificate2 certificate, ClusterTrust trust)
    {
        Certificate = certificate ?? throw new ArgumentNullException(nameof(certificate));
        Trust = trust ?? throw new ArgumentNullException(nameof(trust));
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException("the node certificate needs its private key", nameof(certificate));
        }

        Identity = trust.Validate(certificate, out var reason)
            ?? throw new ArgumentException($"this node's own certificate is not valid for the cluster: {reason}", nameof(certificate));
    }

    public X509Certificate2 Certificate { get; }

    public ClusterTrust Trust { get; }

    public NodeIdentity Identity { get; }

    /// <summary>
    /// The TLS client options for a connection to the coordinator's service port or tensor channel: this node's
    /// certificate, the cluster's cipher suites, and a server that must hold a <c>coordinator</c> certificate of this
    /// cluster (why not, to <paramref name="refused"/>).
    /// </summary>
    public SslClientAuthenticationOptions CoordinatorClientOptions(Action<string> refused) => new()
    {
        TargetHost = "coordinator",
        ClientCertificateContext = SslStreamCertificateContext.Create(Certificate, additionalCertificates: null, offline: true),
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
        CipherSuitesPolicy = Channel.TlsCiphers.Policy,
        RemoteCertificateValidationCallback = Trust.SslValidator(refused, NodeRole.Coordinator),
    };
}
