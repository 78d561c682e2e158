// Turns the cluster options of `coordinator` / `worker` into DistBackpropAkkaOptions:
//   - --host, --port, --public-host, --max-frame-size, --seed-nodes (flat names, like every option);
//   - the failure-detector and deadline timings from the section "DistBackprop:Cluster" of appsettings.json
//     or environment variables DistBackprop__Cluster__<Name> (docs/cluster-faults.md): HeartbeatInterval,
//     AcceptableHeartbeatPause, DowningStableAfter, JoinRetry, LeaveTimeout, ShardDeadline, each a TimeSpan
//     ("00:00:05") or seconds ("5", "0.5").
// Every problem is reported with the option (or key) that caused it (exit code 2).
// Leaves out: starting anything (Commands/CoordinatorCommand, Commands/WorkerCommand).
using System.Collections;
using System.Globalization;
using DistBackprop.Cluster.Hosting;
using Microsoft.Extensions.Configuration;

namespace DistBackprop.Host.Configuration;

public static class ClusterSettings
{
    /// <summary>The configuration section of the timings.</summary>
    public const string Section = "DistBackprop:Cluster";

    private static readonly string[] Timings =
        [nameof(DistBackpropAkkaOptions.HeartbeatInterval), nameof(DistBackpropAkkaOptions.AcceptableHeartbeatPause),
         nameof(DistBackpropAkkaOptions.DowningStableAfter), nameof(DistBackpropAkkaOptions.JoinRetry),
         nameof(DistBackpropAkkaOptions.LeaveTimeout), nameof(DistBackpropAkkaOptions.ShardDeadline)];

    /// <summary>
    /// Akka options for a node. <paramref name="frameSizeName"/> / <paramref name="seedNodesName"/> are the
    /// option names as the user should see them (with their source). Throws <see cref="UsageException"/>.
    /// </summary>
    public static DistBackpropAkkaOptions Build(CliEnvironment env, NodeRole role, string host, int port, string? publicHost,
        string maxFrameSize, string frameSizeName, string[] seedNodes, bool verbose)
    {
        ArgumentNullException.ThrowIfNull(env);
        var errors = new List<string>();
        if (!ByteSize.TryParse(maxFrameSize, out var frame, out var why))
        {
            errors.Add($"{frameSizeName}: '{maxFrameSize}' is not a size: {why}");
        }

        var options = new DistBackpropAkkaOptions
        {
            Role = role,
            Host = host,
            Port = port,
            PublicHost = string.IsNullOrWhiteSpace(publicHost) ? null : publicHost,
            SeedNodes = seedNodes,
            MaxFrameSize = frame > 0 ? frame : DistBackpropAkkaOptions.DefaultMaxFrameSize,
            LogLevel = verbose ? Akka.Event.LogLevel.InfoLevel : Akka.Event.LogLevel.WarningLevel,
        };
        ApplyTimings(env, options, errors);
        if (errors.Count == 0 && options.Validate() is { } invalid)
        {
            errors.Add(invalid.StartsWith("--max-frame-size", StringComparison.Ordinal) ? frameSizeName + invalid["--max-frame-size".Length..] : invalid);
        }

        if (string.IsNullOrWhiteSpace(host))
        {
            errors.Add("--host must not be empty (the address to bind, e.g. 127.0.0.1 or 0.0.0.0)");
        }

        if (errors.Count > 0)
        {
            throw new UsageException(errors);
        }

        return options;
    }

    private static void ApplyTimings(CliEnvironment env, DistBackpropAkkaOptions options, List<string> errors)
    {
        var values = new Dictionary<string, (string Value, string Source)>(StringComparer.OrdinalIgnoreCase);
        foreach (var file in SettingsFiles(env))
        {
            IConfigurationRoot root;
            try
            {
                root = new ConfigurationBuilder().AddJsonFile(file, optional: true, reloadOnChange: false).Build();
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or IOException or System.Text.Json.JsonException)
            {
                errors.Add($"{file}: cannot read the settings: {e.InnerException?.Message ?? e.Message}");
                continue;
            }

            foreach (var child in root.GetSection(Section).GetChildren())
            {
                if (child.Value is { } v)
                {
                    values[child.Key] = (v, $"{file} {Section}:{child.Key}");
                }
            }
        }

        const string prefix = "DISTBACKPROP__CLUSTER__";
        foreach (DictionaryEntry e in env.Variables)
        {
            if (e.Key is string k && k.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && e.Value is string v)
            {
                values[k[prefix.Length..]] = (v, $"environment variable {k}");
            }
        }

        if (values.TryGetValue(nameof(DistBackpropAkkaOptions.TensorTransport), out var transport))
        {
            if (Enum.TryParse<DistBackprop.Cluster.Channel.TensorTransportKind>(transport.Value, ignoreCase: true, out var kind) && !int.TryParse(transport.Value, out _))
            {
                options.TensorTransport = kind;
            }
            else
            {
                errors.Add($"{transport.Source}: '{transport.Value}' is not a transport (tcp or akka)");
            }
        }

        foreach (var name in Timings)
        {
            if (!values.TryGetValue(name, out var entry))
            {
                continue;
            }

            if (!TryParseDuration(entry.Value, out var t))
            {
                errors.Add($"{entry.Source}: '{entry.Value}' is not a duration (expected seconds like 5 or 0.5, or 00:00:05)");
                continue;
            }

            typeof(DistBackpropAkkaOptions).GetProperty(name)!.SetValue(options, t);
        }
    }

    private static IEnumerable<string> SettingsFiles(CliEnvironment env)
    {
        var files = new List<string>();
        if (env.BaseDirectory is { } exeDir)
        {
            files.Add(Path.GetFullPath(Path.Combine(exeDir, "appsettings.json")));
        }

        var cwd = Path.GetFullPath(Path.Combine(env.CurrentDirectory, "appsettings.json"));
        if (!files.Contains(cwd, StringComparer.Ordinal))
        {
            files.Add(cwd);
        }

        return files.Where(File.Exists);
    }

    private static bool TryParseDuration(string s, out TimeSpan t)
    {
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds) && seconds >= 0)
        {
            t = TimeSpan.FromSeconds(seconds);
            return true;
        }

        return TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out t);
    }

    /// <summary>Splits "a,b" (and trims) into seed-node addresses.</summary>
    public static string[] SplitSeedNodes(string? text) =>
        (text ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
