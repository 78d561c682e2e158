// The cluster's own PKI (docs/security.md): an ECDSA P-256 certificate authority, node certificates signed by it
// with the node's role in a SAN URI (urn:distbackprop:role:worker), PEM in and out, and the CA's SHA-256
// fingerprint that join tokens carry. All with System.Security.Cryptography; nothing touches the system store.
// Leaves out: where files live (StateDirectory), who may get a certificate (EnrolmentAuthority), validation (ClusterTrust).
using System.Buffers.Text;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DistBackprop.Cluster.Hosting;

namespace DistBackprop.Cluster.Security;

public static class ClusterCertificates
{
    /// <summary>The SAN URI prefix that names a node's role: urn:distbackprop:role:worker.</summary>
    public const string RoleUriPrefix = "urn:distbackprop:role:";

    /// <summary>How long a CA is valid (re-create the state dir to rotate it).</summary>
    public static readonly TimeSpan CaValidity = TimeSpan.FromDays(3650);

    /// <summary>How long a node certificate is valid unless asked otherwise.</summary>
    public static readonly TimeSpan NodeValidity = TimeSpan.FromDays(365);

    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>A new CA with its private key: CA:true, path length 0, may sign certificates only.</summary>
    public static X509Certificate2 CreateAuthority(string? name = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name ?? $"DistBackprop cluster CA {id}"}, O=DistBackprop"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return Portable(request.CreateSelfSigned(now - ClockSkew, now + CaValidity));
    }

    /// <summary>A node key pair and its certificate signed by <paramref name="ca"/> (in memory: tests, `cert create`, the coordinator's own).</summary>
    public static X509Certificate2 IssueWithNewKey(X509Certificate2 ca, string name, NodeRole role, TimeSpan? validity = null, IEnumerable<string>? dnsNames = null)
    {
        ArgumentNullException.ThrowIfNull(ca);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var cert = Issue(ca, new PublicKey(key), name, role, validity, dnsNames);
        return Portable(cert.CopyWithPrivateKey(key));
    }

    /// <summary>
    /// A certificate for <paramref name="publicKey"/> (the node keeps its private key) signed by <paramref name="ca"/> (which must
    /// hold its private key): subject CN=name, OU=role; SAN URI urn:distbackprop:role:ROLE (and DNS names); server and client
    /// authentication; a random 128-bit serial.
    /// </summary>
    public static X509Certificate2 Issue(X509Certificate2 ca, PublicKey publicKey, string name, NodeRole role, TimeSpan? validity = null, IEnumerable<string>? dnsNames = null)
    {
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(publicKey);
        if (!IsValidName(name))
        {
            throw new ArgumentException($"a node name is 1-64 letters, digits, '-', '_' or '.' (got '{name}')", nameof(name));
        }

        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}, OU={RoleName(role)}, O=DistBackprop"), publicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication"), new Oid("1.3.6.1.5.5.7.3.2", "Client Authentication")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(RoleUriPrefix + RoleName(role)));
        foreach (var dns in dnsNames ?? [])
        {
            if (System.Net.IPAddress.TryParse(dns, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else if (Uri.CheckHostName(dns) == UriHostNameType.Dns)
            {
                san.AddDnsName(dns);
            }
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + (validity ?? NodeValidity);
        if (notAfter > ca.NotAfter)
        {
            notAfter = ca.NotAfter;
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // a positive INTEGER
        return request.Create(ca, now - ClockSkew, notAfter, serial);
    }

    /// <summary>A PKCS#10 request for <paramref name="key"/> (the worker's side of enrolment; the CA sets every field itself).</summary>
    public static byte[] CreateSigningRequest(ECDsa key, string name)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new CertificateRequest(new X500DistinguishedName($"CN={(IsValidName(name) ? name : "node")}"), key, HashAlgorithmName.SHA256).CreateSigningRequest();
    }

    /// <summary>The public key of a PKCS#10 request whose signature checks out (proof that the sender holds the private key).
    /// Throws <see cref="CryptographicException"/> for anything else, and for keys other than ECDSA P-256/P-384 or RSA ≥ 2048.</summary>
    public static PublicKey ReadSigningRequest(byte[] der)
    {
        ArgumentNullException.ThrowIfNull(der);
        var request = CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.Default);
        var key = request.PublicKey;
        using var ec = key.GetECDsaPublicKey();
        using var rsa = key.GetRSAPublicKey();
        if (!(ec is { KeySize: 256 or 384 } || rsa is { KeySize: >= 2048 }))
        {
            throw new CryptographicException("the request's key must be ECDSA P-256/P-384 or RSA of at least 2048 bits");
        }

        return key;
    }

    /// <summary>base64url(SHA-256(DER)) of a certificate: the fingerprint a join token carries for the CA.</summary>
    public static string Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Base64Url.EncodeToString(SHA256.HashData(certificate.RawData));
    }

    /// <summary>The role a certificate names: its SAN URI urn:distbackprop:role:ROLE, else its subject's OU (bring-your-own certificates).</summary>
    public static NodeRole? RoleOf(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        foreach (var ext in certificate.Extensions)
        {
            if (ext is X509SubjectAlternativeNameExtension san)
            {
                foreach (var uri in Uris(san))
                {
                    if (uri.StartsWith(RoleUriPrefix, StringComparison.Ordinal) && ParseRole(uri[RoleUriPrefix.Length..]) is { } r)
                    {
                        return r;
                    }
                }
            }
        }

        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.GetSingleElementType().Value == "2.5.4.11" && ParseRole(rdn.GetSingleElementValue() ?? "") is { } r)
            {
                return r;
            }
        }

        return null;
    }

    /// <summary>The subject's common name (CN), or "" when it has none.</summary>
    public static string NameOf(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.GetNameInfo(X509NameType.SimpleName, false) ?? "";
    }

    /// <summary>"worker", "monitor", "coordinator".</summary>
    public static string RoleName(NodeRole role) => AkkaBuilderExtensions.RoleName(role);

    public static NodeRole? ParseRole(string text) => text switch
    {
        "worker" => NodeRole.Worker,
        "monitor" => NodeRole.Monitor,
        "coordinator" => NodeRole.Coordinator,
        _ => null,
    };

    public static bool IsValidName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Certificate PEM, then the private key as PKCS#8 PEM when <paramref name="withKey"/>.</summary>
    public static string ToPem(X509Certificate2 certificate, bool withKey)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.ExportCertificatePem() + "\n" + (withKey ? PrivateKeyPem(certificate) : "");
    }

    /// <summary>The certificate's private key as PKCS#8 PEM.</summary>
    public static string PrivateKeyPem(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var ec = certificate.GetECDsaPrivateKey();
        using var rsa = ec is null ? certificate.GetRSAPrivateKey() : null;
        AsymmetricAlgorithm key = (AsymmetricAlgorithm?)ec ?? rsa ?? throw new CryptographicException("the certificate has no private key");
        return key.ExportPkcs8PrivateKeyPem() + "\n";
    }

    /// <summary>Every certificate in a PEM text, in order.</summary>
    public static List<X509Certificate2> CertificatesFromPem(string pem)
    {
        var all = new List<X509Certificate2>();
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            if (rest[fields.Label].SequenceEqual("CERTIFICATE"))
            {
                all.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(rest[fields.Base64Data].ToString())));
            }

            rest = rest[fields.Location.End..];
        }

        return all;
    }

    /// <summary>The first certificate of <paramref name="certificatePem"/> with the private key of <paramref name="keyPem"/> (PKCS#8, SEC1 or PKCS#1).</summary>
    public static X509Certificate2 WithKeyFromPem(string certificatePem, string keyPem)
    {
        var first = CertificatesFromPem(certificatePem).FirstOrDefault() ?? throw new CryptographicException("no CERTIFICATE block");
        using (first)
        {
            return Portable(X509Certificate2.CreateFromPem(first.ExportCertificatePem(), keyPem));
        }
    }

    /// <summary>Windows' TLS stack cannot use an ephemeral key: round-trip through PKCS#12 there (elsewhere the certificate is returned as is).</summary>
    private static X509Certificate2 Portable(X509Certificate2 cert)
    {
        if (!OperatingSystem.IsWindows())
        {
            return cert;
        }

        using (cert)
        {
            return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
        }
    }

    private static IEnumerable<string> Uris(X509SubjectAlternativeNameExtension san)
    {
        // SubjectAlternativeName ::= SEQUENCE OF GeneralName; uniformResourceIdentifier [6] IA5String
        var reader = new AsnReader(san.RawData, AsnEncodingRules.DER).ReadSequence();
        var uris = new List<string>();
        while (reader.HasData)
        {
            var tag = reader.PeekTag();
            if (tag.TagClass == TagClass.ContextSpecific && tag.TagValue == 6)
            {
                uris.Add(reader.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 6)));
            }
            else
            {
                reader.ReadEncodedValue();
            }
        }

        return uris;
    }
}
