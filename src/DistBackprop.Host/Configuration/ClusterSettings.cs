// Turns the cluster options of `coordinator` / `worker` into DistBackpropAkkaOptions:
//   - --host, --port, --public-host, --max-frame-size, --seed-nodes (flat names, like every option);
//   - the failure-detector and deadline timings from section "DistBackprop:Cluster" of the command's one configuration
//     root (ConfigurationLayers: appsettings.json, environment variables DistBackprop__Cluster__<Name>; docs/cluster-faults.md): HeartbeatInterval,
//     AcceptableHeartbeatPause, DowningStableAfter, JoinRetry, LeaveTimeout, ShardDeadline, each a TimeSpan
//     ("00:00:05") or seconds ("5", "0.5").
// Every problem is reported with the option (or key) that caused it (exit code 2).
// Leaves out: starting anything (Commands/CoordinatorCommand, Commands/WorkerCommand).
using System.Globalization;
using DistBackprop.Cluster.Hosting;

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
        string maxFrameSize, string frameSizeName, string[] seedNodes, bool verbose) =>
        Build(ConfigurationLayers.Build(env), role, host, port, publicHost, maxFrameSize, frameSizeName, seedNodes, verbose);

    /// <summary>As above, reading the timings from the command's configuration root.</summary>
    public static DistBackpropAkkaOptions Build(ConfigurationLayers layers, NodeRole role, string host, int port, string? publicHost,
        string maxFrameSize, string frameSizeName, string[] seedNodes, bool verbose)
    {
        ArgumentNullException.ThrowIfNull(layers);
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
        ApplyTimings(layers, options, errors);
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

    private static void ApplyTimings(ConfigurationLayers layers, DistBackpropAkkaOptions options, List<string> errors)
    {
        if (layers.Find($"{Section}:{nameof(DistBackpropAkkaOptions.TensorTransport)}") is var (transport, transportSource))
        {
            if (Enum.TryParse<DistBackprop.Cluster.Channel.TensorTransportKind>(transport, ignoreCase: true, out var kind) && !int.TryParse(transport, out _))
            {
                options.TensorTransport = kind;
            }
            else
            {
                errors.Add($"{transportSource}: '{transport}' is not a transport (tcp or akka)");
            }
        }

        foreach (var name in Timings)
        {
            if (layers.Find($"{Section}:{name}") is not var (value, source))
            {
                continue;
            }

            if (!TryParseDuration(value, out var t))
            {
                errors.Add($"{source}: '{value}' is not a duration (expected seconds like 5 or 0.5, or 00:00:05)");
                continue;
            }

            typeof(DistBackpropAkkaOptions).GetProperty(name)!.SetValue(options, t);
        }
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
