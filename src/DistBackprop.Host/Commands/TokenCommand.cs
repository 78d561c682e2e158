// `distbackprop token create [--role worker|monitor] [--ttl 1h] [--state-dir DIR]`: a new join token of the coordinator's
// CA on this machine (created if the state dir has none yet), printed as a complete `join:` line. The token's hash goes
// into <state>/coordinator/tokens, where the running coordinator looks at the next enrolment; the secret is printed
// once and kept nowhere. The seed address comes from <state>/coordinator/address, which the coordinator writes at start.
// Leaves out: enrolment itself (DistBackprop.Cluster.Security).
using System.CommandLine;
using System.Globalization;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Security;
using DistBackprop.Host.Cluster;

namespace DistBackprop.Host.Commands;

public static class TokenCommand
{
    private const string AddressFile = "address";

    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var role = new Option<string>("--role") { Description = "who may enrol with it: worker or monitor", DefaultValueFactory = _ => "worker" };
        var ttl = new Option<string>("--ttl") { Description = "how long it is valid: 90s, 30m, 1h, 2d", DefaultValueFactory = _ => "1h" };
        var stateDir = new Option<string>("--state-dir") { Description = "the coordinator's state dir [default: ~/.distbackprop]" };
        var create = new Command("create", "Print a new join line for this machine's coordinator. Example: distbackprop token create --role monitor --ttl 30m")
        {
            role, ttl, stateDir,
        };
        create.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var errors = new List<string>();
            var roleText = parseResult.GetValue(role) ?? "worker";
            var parsedRole = ClusterCertificates.ParseRole(roleText);
            if (parsedRole is not (NodeRole.Worker or NodeRole.Monitor))
            {
                errors.Add($"--role: '{roleText}' is not worker or monitor");
            }

            var ttlText = parseResult.GetValue(ttl) ?? "1h";
            if (!TryParseTtl(ttlText, out var span))
            {
                errors.Add($"--ttl: '{ttlText}' is not a duration (e.g. 90s, 30m, 1h, 2d)");
            }

            if (errors.Count > 0)
            {
                throw new UsageException(errors);
            }

            var security = new SecurityOptions(parseResult.GetValue(stateDir) ?? context.Environment.Variables["DISTBACKPROP__STATEDIR"] as string, null, null, null, false);
            var (_, authority) = NodeSecurity.ForCoordinator(security, [], m => context.Err.WriteLine(m));
            var token = authority!.CreateToken(parsedRole!.Value, span);
            var (seed, servicePort) = ReadAddress(authority.Directory);
            var akkaPort = seed is null ? 4053 : Akka.Actor.Address.Parse(seed).Port ?? 4053;
            context.Out.WriteLine(NodeSecurity.JoinLine(ClusterCertificates.RoleName(parsedRole.Value), seed ?? "akka.ssl.tcp://distbackprop@COORDINATOR-HOST:4053",
                akkaPort, servicePort, $"--join {token}"));
            context.Err.WriteLine($"token {token.Redacted} for {roleText} nodes, valid until {DateTimeOffset.UtcNow + span:u}{(seed is null ? "; put the coordinator's address in --seed-nodes" : "")}");
            return ExitCodes.Ok;
        }));
        var command = new Command("token", "Join tokens for new workers and monitors. Example: distbackprop token create --role monitor --ttl 30m") { create };
        return command;
    }

    /// <summary>Records the coordinator's seed address and service port for `token create` (best effort).</summary>
    public static void WriteAddress(string directory, string seed, int servicePort)
    {
        try
        {
            StateDirectory.WriteSecret(Path.Combine(directory, AddressFile), $"{seed}\n{servicePort.ToString(CultureInfo.InvariantCulture)}\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the join line is printed anyway; `token create` then asks for the address
        }
    }

    private static (string? Seed, int ServicePort) ReadAddress(string directory)
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(directory, AddressFile));
            return (lines[0].Trim(), lines.Length > 1 && int.TryParse(lines[1], CultureInfo.InvariantCulture, out var p) ? p : 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            return (null, 0);
        }
    }

    /// <summary>"90s", "30m", "1h", "2d", or a TimeSpan ("01:00:00"); positive.</summary>
    public static bool TryParseTtl(string text, out TimeSpan span)
    {
        span = default;
        text = text.Trim();
        if (text.Length >= 2 && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n) && n > 0)
        {
            double? seconds = char.ToLowerInvariant(text[^1]) switch { 's' => n, 'm' => n * 60, 'h' => n * 3600, 'd' => n * 86400, _ => null };
            if (seconds is { } s && s < TimeSpan.MaxValue.TotalSeconds / 2)
            {
                span = TimeSpan.FromSeconds(s);
                return true;
            }
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out span) && span > TimeSpan.Zero;
    }
}
