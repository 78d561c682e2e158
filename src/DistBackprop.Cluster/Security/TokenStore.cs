// The coordinator's join tokens: one small JSON file per token under <state>/coordinator/tokens (id, role, expiry and
// the SHA-256 of the secret, never the secret), so `distbackprop token create` on the same machine adds one that the
// running coordinator reads at the next enrolment. A token given to the coordinator (--join-token) lives in memory
// only, for either role, until the coordinator stops. Expired token files are deleted when met.
// Leaves out: the token format (JoinToken), issuing certificates (ClusterAuthority).
using System.Globalization;
using System.Text.Json;
using DistBackprop.Cluster.Hosting;

namespace DistBackprop.Cluster.Security;

/// <summary>A stored token: <paramref name="Roles"/> it may enrol, until <paramref name="Expires"/> (null: while the coordinator runs).</summary>
public sealed record StoredToken(string Id, string SecretSha256, NodeRole[] Roles, DateTimeOffset? Expires);

public sealed class TokenStore
{
    private readonly string _directory;
    private readonly Dictionary<string, StoredToken> _memory = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    public TokenStore(string directory) => _directory = directory;

    /// <summary>Creates a token for <paramref name="role"/> valid for <paramref name="ttl"/>, writes its hash, returns the token (the only copy of the secret).</summary>
    public JoinToken Create(NodeRole role, TimeSpan ttl, string caFingerprint)
    {
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), "a token's time to live must be positive");
        }

        var token = JoinToken.Create(caFingerprint);
        StateDirectory.Ensure(_directory);
        var stored = new StoredToken(token.Id, JoinToken.Hash(token.Secret), [role], DateTimeOffset.UtcNow + ttl);
        StateDirectory.WriteSecret(PathOf(token.Id), JsonSerializer.Serialize(new TokenFile(stored.Id, stored.SecretSha256,
            stored.Roles.Select(ClusterCertificates.RoleName).ToArray(), stored.Expires!.Value.ToString("O", CultureInfo.InvariantCulture))));
        return token;
    }

    /// <summary>Accepts <paramref name="token"/> (e.g. --join-token) for workers and monitors while this process runs.</summary>
    public void AddInMemory(JoinToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        lock (_gate)
        {
            _memory[token.Id] = new StoredToken(token.Id, JoinToken.Hash(token.Secret), [NodeRole.Worker, NodeRole.Monitor], null);
        }
    }

    /// <summary>Checks a presented token: null when it may enrol <paramref name="role"/>, else why not (no secret in the text).</summary>
    public string? Check(string id, string secret, NodeRole role)
    {
        if (id.Length is < 1 or > 32 || !id.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)))
        {
            return "malformed join token id"; // from the network: never let it name a path
        }

        StoredToken? stored;
        lock (_gate)
        {
            _memory.TryGetValue(id, out stored);
        }

        stored ??= Read(id);
        if (stored is null || !JoinToken.Matches(secret, stored.SecretSha256))
        {
            return $"unknown join token {JoinToken.Prefix}.{id}.… (create one with `distbackprop token create` on the coordinator's machine)";
        }

        if (stored.Expires is { } until && until < DateTimeOffset.UtcNow)
        {
            TryDelete(id);
            return $"join token {JoinToken.Prefix}.{id}.… expired at {until:u} (create a new one with `distbackprop token create`)";
        }

        if (!stored.Roles.Contains(role))
        {
            return $"join token {JoinToken.Prefix}.{id}.… is for {string.Join("/", stored.Roles.Select(ClusterCertificates.RoleName))} nodes, not {ClusterCertificates.RoleName(role)} " +
                $"(create one with `distbackprop token create --role {ClusterCertificates.RoleName(role)}`)";
        }

        return null;
    }

    private StoredToken? Read(string id)
    {
        var path = PathOf(id);
        try
        {
            var file = JsonSerializer.Deserialize<TokenFile>(File.ReadAllText(path));
            if (file is null || file.Id != id)
            {
                return null;
            }

            var roles = file.Roles.Select(ClusterCertificates.ParseRole).OfType<NodeRole>().ToArray();
            return new StoredToken(file.Id, file.SecretSha256, roles,
                DateTimeOffset.Parse(file.Expires, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or FormatException or ArgumentException)
        {
            return null; // no such token, or a file that is not one
        }
    }

    private void TryDelete(string id)
    {
        try
        {
            File.Delete(PathOf(id));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    // ids are [a-z0-9]{1,32} (JoinToken.Parse), so they are safe file names
    private string PathOf(string id) => Path.Combine(_directory, id + ".json");

    private sealed record TokenFile(string Id, string SecretSha256, string[] Roles, string Expires);
}
