// A join token, kubeadm style: `dbp1.<id>.<secret>.<fingerprint>`. The id names the token (not secret), the secret
// (32 random bytes, base64url) proves the holder may enrol, and the fingerprint (base64url SHA-256 of the CA
// certificate) lets the worker check whom it talks to before it sends the secret. The coordinator keeps only
// SHA-256 hashes of secrets. A token without the fingerprint (`dbp1.<id>.<secret>`, e.g. shared by a compose file
// before the CA exists) makes the worker trust the first CA it is shown. Leaves out: storage (TokenStore).
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace DistBackprop.Cluster.Security;

public sealed record JoinToken(string Id, string Secret, string? CaFingerprint)
{
    public const string Prefix = "dbp1";

    /// <summary>A new token (id: 8 hex digits, secret: 256 bits from the cryptographic RNG) for the CA with this fingerprint.</summary>
    public static JoinToken Create(string caFingerprint) =>
        new(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)), caFingerprint);

    public override string ToString() => CaFingerprint is null ? $"{Prefix}.{Id}.{Secret}" : $"{Prefix}.{Id}.{Secret}.{CaFingerprint}";

    /// <summary>The token without its secret, for logs: "dbp1.1a2b3c4d.…".</summary>
    public string Redacted => $"{Prefix}.{Id}.…";

    /// <summary>This token with the CA fingerprint set (the join line prints the full form).</summary>
    public JoinToken WithFingerprint(string fingerprint) => this with { CaFingerprint = fingerprint };

    /// <summary>base64url(SHA-256(secret)): what the coordinator stores and compares.</summary>
    public static string Hash(string secret) => Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Constant-time comparison of a secret with a stored hash.</summary>
    public static bool Matches(string secret, string hash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(hash));

    /// <summary>Parses a token; on failure returns null and says what is wrong (never echoing the secret).</summary>
    public static JoinToken? Parse(string? text, out string error)
    {
        error = "";
        var parts = (text ?? "").Trim().Split('.');
        if (parts.Length is not (3 or 4) || parts[0] != Prefix)
        {
            error = $"a join token reads {Prefix}.<id>.<secret>.<ca-fingerprint> (as printed in the coordinator's `join:` line or by `distbackprop token create`)";
            return null;
        }

        if (parts[1].Length is < 1 or > 32 || !parts[1].All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)))
        {
            error = "the token id must be 1-32 lower-case letters or digits";
            return null;
        }

        if (parts[2].Length < 22 || !parts[2].All(IsBase64Url))
        {
            error = "the token secret must be at least 22 characters of A-Z, a-z, 0-9, '-' or '_' (128 bits or more)";
            return null;
        }

        if (parts.Length == 4 && (parts[3].Length != 43 || !parts[3].All(IsBase64Url)))
        {
            error = "the token's CA fingerprint must be 43 base64url characters (SHA-256)";
            return null;
        }

        return new JoinToken(parts[1], parts[2], parts.Length == 4 ? parts[3] : null);
    }

    private static bool IsBase64Url(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';
}
