// A throwaway cluster PKI for in-process tests, made in memory once per test run (ECDSA P-256: milliseconds):
// the CA, node credentials of each role, and a second CA that the cluster must not trust. Production makes the
// same objects from a state dir (ClusterAuthority) or PEM files. Leaves out: enrolment (EnrolmentTests).
using System.Security.Cryptography.X509Certificates;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Security;

namespace DistBackprop.Cluster.Tests;

internal static class TestPki
{
    private static readonly Lazy<X509Certificate2> CaValue = new(() => ClusterCertificates.CreateAuthority("DistBackprop test CA"));
    private static readonly Lazy<X509Certificate2> OtherCaValue = new(() => ClusterCertificates.CreateAuthority("Some other CA"));

    public static X509Certificate2 Ca => CaValue.Value;

    /// <summary>Credentials of <paramref name="role"/> signed by the test CA; the name defaults to "test-ROLE".</summary>
    public static NodeCredentials For(NodeRole role, string? name = null) =>
        new(ClusterCertificates.IssueWithNewKey(Ca, name ?? $"test-{ClusterCertificates.RoleName(role)}", role), new ClusterTrust(Ca));

    /// <summary>The id a worker started as <paramref name="id"/> has in a TLS cluster of test nodes: "test-worker/ID".</summary>
    public static string Id(string id) => $"test-worker/{id}";

    /// <summary>Credentials from a CA the test cluster does not know (each trusting only its own CA).</summary>
    public static NodeCredentials Foreign(NodeRole role) =>
        new(ClusterCertificates.IssueWithNewKey(OtherCaValue.Value, "intruder", role), new ClusterTrust(OtherCaValue.Value));
}
