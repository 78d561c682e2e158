// `distbackprop cert create --role worker|monitor|coordinator --name NAME --out DIR [--days N] [--state-dir DIR]`:
// PEM files for bring-your-own deployments (a Kubernetes secret, a config-management tool): DIR/NAME.pem (the node's
// certificate), DIR/NAME.key (its private key, 0600) and DIR/ca.pem, signed by this machine's cluster CA (the state dir's,
// created if missing). Nodes then start with --tls-cert DIR/NAME.pem --tls-key DIR/NAME.key --tls-ca DIR/ca.pem.
// Leaves out: enrolment (token create), revocation (the state dir's `revoked` file, docs/security.md).
using System.CommandLine;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Security;
using DistBackprop.Host.Cluster;

namespace DistBackprop.Host.Commands;

public static class CertCommand
{
    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var role = new Option<string>("--role") { Description = "worker, monitor or coordinator", DefaultValueFactory = _ => "worker" };
        var name = new Option<string>("--name") { Description = "the certificate's name (CN): letters, digits, '-', '_', '.'" };
        var outDir = new Option<string>("--out") { Description = "folder for NAME.pem, NAME.key and ca.pem" };
        var days = new Option<int>("--days") { Description = "validity in days", DefaultValueFactory = _ => 365 };
        var stateDir = new Option<string>("--state-dir") { Description = "the coordinator's state dir with the CA [default: ~/.distbackprop]" };
        var create = new Command("create", "Issue PEM files signed by this machine's cluster CA. Example: distbackprop cert create --role worker --name workers --out tls")
        {
            role, name, outDir, days, stateDir,
        };
        create.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var errors = new List<string>();
            var roleText = parseResult.GetValue(role) ?? "worker";
            var parsed = ClusterCertificates.ParseRole(roleText);
            if (parsed is null)
            {
                errors.Add($"--role: '{roleText}' is not worker, monitor or coordinator");
            }

            var certName = parseResult.GetValue(name) ?? roleText;
            if (!ClusterCertificates.IsValidName(certName))
            {
                errors.Add($"--name: '{certName}' must be 1-64 letters, digits, '-', '_' or '.'");
            }

            var folder = parseResult.GetValue(outDir);
            if (string.IsNullOrWhiteSpace(folder))
            {
                errors.Add("--out is required: the folder to write NAME.pem, NAME.key and ca.pem into");
            }

            var validity = parseResult.GetValue(days);
            if (validity is < 1 or > 3650)
            {
                errors.Add($"--days must be in 1..3650 (got {validity})");
            }

            if (errors.Count > 0)
            {
                throw new UsageException(errors);
            }

            var security = new SecurityOptions(parseResult.GetValue(stateDir) ?? context.Environment.Variables["DISTBACKPROP__STATEDIR"] as string, null, null, null, false);
            var (_, authority) = NodeSecurity.ForCoordinator(security, [], m => context.Err.WriteLine(m));
            using var cert = authority!.IssueWithNewKey(certName, parsed!.Value, TimeSpan.FromDays(validity));
            try
            {
                var dir = StateDirectory.Ensure(folder!);
                StateDirectory.WriteSecret(Path.Combine(dir, certName + ".key"), ClusterCertificates.PrivateKeyPem(cert));
                StateDirectory.WriteSecret(Path.Combine(dir, certName + ".pem"), ClusterCertificates.ToPem(cert, withKey: false));
                StateDirectory.WriteSecret(Path.Combine(dir, "ca.pem"), ClusterCertificates.ToPem(authority.Trust.Ca, withKey: false));
                context.Out.WriteLine($"{Path.Combine(dir, certName)}.pem, .key and ca.pem: a {roleText} certificate '{certName}' valid until {cert.NotAfter.ToUniversalTime():u}");
                context.Out.WriteLine($"use: --tls-cert {Path.Combine(dir, certName)}.pem --tls-key {Path.Combine(dir, certName)}.key --tls-ca {Path.Combine(dir, "ca.pem")}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--out: cannot write into {folder}: {e.Message}");
            }

            return ExitCodes.Ok;
        }));
        return new Command("cert", "PEM certificates of this machine's cluster CA for bring-your-own deployments. Example: distbackprop cert create --role worker --name workers --out tls") { create };
    }
}
