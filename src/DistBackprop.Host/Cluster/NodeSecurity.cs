// How a cluster node gets its TLS credentials (docs/security.md), for `coordinator`, `worker` and `monitor`:
//   --insecure                         plain TCP (a warning; refused together with any TLS option);
//   --tls-cert/--tls-key/--tls-ca      bring-your-own PEM files (e.g. a Kubernetes secret); the certificate names its role;
//   otherwise the state dir:           a coordinator opens or creates its CA under <state>/coordinator; a worker or monitor
//                                      uses <state>/<role>/node.pem, or enrols with --join TOKEN (retrying until the
//                                      coordinator answers) and keeps the certificate there; with neither: exit 2, saying how.
// Leaves out: the PKI itself (DistBackprop.Cluster.Security), the commands' other options.
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Security;
using DistBackprop.Host.Configuration;

namespace DistBackprop.Host.Cluster;

/// <summary>The security options every cluster command shares (names as the user typed them, for messages).</summary>
public sealed record SecurityOptions(string? StateDir, string? TlsCert, string? TlsKey, string? TlsCa, bool Insecure)
{
    /// <summary>The state dir in effect: --state-dir, else ~/.distbackprop.</summary>
    public string Root => string.IsNullOrWhiteSpace(StateDir) ? StateDirectory.Default : StateDir;

    public bool BringsOwn => TlsCert is not null || TlsKey is not null || TlsCa is not null;
}

public static class NodeSecurity
{
    /// <summary>The warning --insecure prints (once, on standard error).</summary>
    public const string InsecureWarning =
        "warning: --insecure: plain TCP without authentication: anyone who can reach this node's ports can join, send forged results or read the model; use only on a closed network";

    /// <summary>
    /// A coordinator's credentials and CA: null credentials with --insecure; from PEM files (no enrolment then); else the CA under
    /// &lt;state&gt;/coordinator, created on first start (told through <paramref name="note"/>). Throws <see cref="UsageException"/>.
    /// </summary>
    public static (NodeCredentials? Credentials, ClusterAuthority? Authority) ForCoordinator(SecurityOptions o, IEnumerable<string> hostNames, Action<string> note)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (CheckInsecure(o, join: null))
        {
            return (null, null);
        }

        if (o.BringsOwn)
        {
            return (FromFiles(o, NodeRole.Coordinator), null);
        }

        var directory = Path.Combine(o.Root, "coordinator");
        try
        {
            var authority = ClusterAuthority.OpenOrCreate(directory, note, hostNames);
            return (authority.Coordinator, authority);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new UsageException($"--state-dir: cannot use {directory} for the cluster CA: {e.Message}");
        }
    }

    /// <summary>
    /// A worker's or monitor's credentials (see the file comment). <paramref name="join"/> is --join; enrolment goes to
    /// <paramref name="coordinatorHost"/>:<paramref name="servicePort"/> and retries every <paramref name="retry"/> while the coordinator
    /// cannot be reached. Throws <see cref="UsageException"/> (exit 2) for a refusal or when the node has no way to join.
    /// </summary>
    public static NodeCredentials? ForNode(NodeRole role, SecurityOptions o, string? join, string coordinatorHost, int servicePort, TimeSpan retry,
        Action<string> line, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(o);
        var roleName = ClusterCertificates.RoleName(role);
        if (CheckInsecure(o, join))
        {
            return null;
        }

        if (o.BringsOwn)
        {
            if (join is not null)
            {
                throw new UsageException("--join enrols for a certificate; with --tls-cert/--tls-key/--tls-ca you bring your own: give one or the other");
            }

            return FromFiles(o, role);
        }

        JoinToken? token = null;
        if (join is not null)
        {
            token = JoinToken.Parse(join, out var why) ?? throw new UsageException($"--join: {why}");
        }

        var directory = Path.Combine(o.Root, roleName);
        var path = Path.Combine(directory, NodeCredentialStore.FileName);
        if (File.Exists(path))
        {
            NodeCredentials? stored = null;
            try
            {
                stored = NodeCredentialStore.Load(path);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                if (token is null)
                {
                    throw new UsageException($"{path}: {e.Message}; enrol again with --join TOKEN (distbackprop token create on the coordinator's machine)");
                }

                line($"{path}: {e.Message}; enrolling again");
            }

            if (stored is not null && (token is null || token.CaFingerprint is null || token.CaFingerprint == stored.Trust.Fingerprint))
            {
                line($"{roleName} {stored.Identity.Name}: certificate from {path} (cluster CA {stored.Trust.Fingerprint[..12]}…, valid until {stored.Certificate.NotAfter.ToUniversalTime():u})");
                return stored;
            }

            if (stored is not null)
            {
                line($"{path} is for another cluster (CA {stored.Trust.Fingerprint[..12]}…); enrolling with the new token");
            }
        }

        if (token is null)
        {
            throw new UsageException(
                $"this {roleName} has no certificate for the cluster (none in {path}). Run the command from the coordinator's `join:` line " +
                $"(distbackprop {roleName} --seed-nodes … --join TOKEN), or make a token on the coordinator's machine with `distbackprop token create{(role == NodeRole.Monitor ? " --role monitor" : "")}`; " +
                "bring your own PEM files with --tls-cert/--tls-key/--tls-ca; or pass --insecure for plain TCP on a closed network");
        }

        if (token.CaFingerprint is null)
        {
            line($"warning: --join: the token {token.Redacted} carries no CA fingerprint: this {roleName} trusts the first cluster CA it is shown (use the full token from the `join:` line to check it)");
        }

        var credentials = Enrol(role, token, coordinatorHost, servicePort, retry, line, cancellation);
        try
        {
            NodeCredentialStore.Save(path, credentials.Certificate, credentials.Trust.Ca);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--state-dir: cannot keep the certificate in {path}: {e.Message}");
        }

        line($"{roleName} {credentials.Identity.Name}: enrolled at {coordinatorHost}:{servicePort} (valid until {credentials.Certificate.NotAfter.ToUniversalTime():u}); certificate kept in {path}");
        return credentials;
    }

    /// <summary>The coordinator's host and service port from a seed address (akka[.ssl].tcp://distbackprop@HOST:PORT): PORT + 1 unless given.</summary>
    public static (string Host, int Port) ServiceEndpoint(string seed, int? servicePort)
    {
        var address = Akka.Actor.Address.Parse(seed);
        return (address.Host ?? "127.0.0.1", servicePort ?? (address.Port ?? 4053) + 1);
    }

    /// <summary>"join: distbackprop worker --seed-nodes SEED --join TOKEN" (--service-port when it is not the seed's port + 1).</summary>
    public static string JoinLine(string command, string seed, int akkaPort, int servicePort, string credentials) =>
        $"join: distbackprop {command} --seed-nodes {seed} {credentials}{(servicePort != 0 && servicePort != akkaPort + 1 ? $" --service-port {servicePort}" : "")}";

    private static NodeCredentials Enrol(NodeRole role, JoinToken token, string host, int port, TimeSpan retry, Action<string> line, CancellationToken cancellation)
    {
        var warned = DateTime.MinValue;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            try
            {
                return Enrolment.EnrolAsync(host, port, token, role, TimeSpan.FromSeconds(15), cancellation).GetAwaiter().GetResult();
            }
            catch (EnrolmentException e)
            {
                throw new UsageException($"--join: {e.Message}");
            }
            catch (Exception e) when (e is IOException or SocketException or AuthenticationException || (e is OperationCanceledException && !cancellation.IsCancellationRequested))
            {
                if (DateTime.UtcNow - warned > TimeSpan.FromSeconds(30))
                {
                    warned = DateTime.UtcNow;
                    line($"warning: cannot enrol at {host}:{port} yet ({e.GetBaseException().Message}); retrying every {retry.TotalSeconds:0.#} s until the coordinator answers");
                }
            }

            cancellation.WaitHandle.WaitOne(retry);
        }
    }

    private static bool CheckInsecure(SecurityOptions o, string? join)
    {
        if (!o.Insecure)
        {
            return false;
        }

        if (o.BringsOwn || join is not null)
        {
            throw new UsageException("--insecure turns TLS off: it cannot be combined with --join or --tls-cert/--tls-key/--tls-ca");
        }

        return true;
    }

    private static NodeCredentials FromFiles(SecurityOptions o, NodeRole role)
    {
        if (o.TlsCert is null || o.TlsKey is null || o.TlsCa is null)
        {
            throw new UsageException("--tls-cert, --tls-key and --tls-ca go together: this node's certificate, its private key and the cluster CA (PEM files)");
        }

        string Read(string option, string file)
        {
            try
            {
                return File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"{option}: cannot read {file}: {e.Message}");
            }
        }

        var certText = Read("--tls-cert", o.TlsCert);
        var keyText = Read("--tls-key", o.TlsKey);
        var caText = Read("--tls-ca", o.TlsCa);
        try
        {
            var ca = ClusterCertificates.CertificatesFromPem(caText).FirstOrDefault() ?? throw new UsageException($"--tls-ca: {o.TlsCa} holds no CERTIFICATE");
            var cert = ClusterCertificates.WithKeyFromPem(certText, keyText);
            var credentials = new NodeCredentials(cert, new ClusterTrust(ca));
            if (credentials.Identity.Role != role)
            {
                throw new UsageException($"--tls-cert: {o.TlsCert} is a {ClusterCertificates.RoleName(credentials.Identity.Role)} certificate; this node is a {ClusterCertificates.RoleName(role)}");
            }

            return credentials;
        }
        catch (CryptographicException e)
        {
            throw new UsageException($"--tls-cert/--tls-key: {o.TlsCert} and {o.TlsKey} are not a PEM certificate and its private key ({e.Message})");
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--tls-cert: {o.TlsCert}: {e.Message} (--tls-ca {o.TlsCa})");
        }
    }
}
