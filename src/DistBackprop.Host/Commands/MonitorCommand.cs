// `distbackprop monitor --seed-nodes akka.tcp://distbackprop@HOST:PORT`: joins the cluster in the `monitor`
// role (it takes no shards), subscribes to the coordinator's progress and shows the same view as the
// coordinator's console (live in a terminal, plain lines otherwise or with --plain). Runs until Ctrl+C (exit 0)
// or until the run ends: exit 0 when training completed, the coordinator's code when it failed (3 diverged, 1 other).
// A malformed seed address → exit 2 naming --seed-nodes; a bad --max-frame-size → exit 2 naming it. Options come from
// the command line (cluster timings also from the configuration, as for coordinator and worker: ClusterSettings).
// Leaves out: the cluster side (Cluster/Monitoring), drawing (Output/*).
using System.CommandLine;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Monitoring;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Host.Cluster;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Output;
using Microsoft.Extensions.Logging;

namespace DistBackprop.Host.Commands;

public static class MonitorCommand
{
    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var seeds = new Option<string[]>("--seed-nodes")
        {
            Description = "the coordinator's address(es), akka.tcp://distbackprop@HOST:PORT",
            AllowMultipleArgumentsPerToken = true,
        };
        var host = new Option<string>("--host") { Description = "bind address of this node", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port of this node (0: any free port)", DefaultValueFactory = _ => 0 };
        var publicHost = new Option<string>("--public-host") { Description = "address advertised to the cluster (containers) [default: --host]" };
        var maxFrame = new Option<string>("--max-frame-size")
        {
            Description = "largest Akka message, the same on every node (64MiB, 128KiB, 1048576)",
            DefaultValueFactory = _ => "64MiB",
        };
        var command = new Command("monitor",
            "Watch a running cluster: join it in the monitor role (no shards) and show the coordinator's progress, live or as plain lines. " +
            "Example: distbackprop monitor --seed-nodes akka.tcp://distbackprop@127.0.0.1:4053")
        {
            seeds, host, port, publicHost, maxFrame,
        };
        TrainingCommandLine.AddSecurity(command, coordinator: false);
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            context.Verbose = parseResult.GetValue<bool>("--verbose");
            var seedNodes = (parseResult.GetValue(seeds) ?? []).SelectMany(ClusterSettings.SplitSeedNodes).ToArray(); // repeated or comma-separated
            var options = ClusterSettings.Build(context.Environment, NodeRole.Monitor, parseResult.GetValue(host) ?? "127.0.0.1", parseResult.GetValue(port),
                parseResult.GetValue(publicHost), parseResult.GetValue(maxFrame) ?? "64MiB", "--max-frame-size", seedNodes, context.Verbose);
            var insecure = parseResult.GetValue<bool>("--insecure");
            var security = new SecurityOptions(parseResult.GetValue<string>("--state-dir") ?? context.Environment.Variables["DISTBACKPROP__STATEDIR"] as string,
                parseResult.GetValue<string>("--tls-cert"), parseResult.GetValue<string>("--tls-key"), parseResult.GetValue<string>("--tls-ca"), insecure);
            if (insecure)
            {
                context.Err.WriteLine(NodeSecurity.InsecureWarning);
            }

            var (coordinatorHost, servicePort) = NodeSecurity.ServiceEndpoint(seedNodes[0], parseResult.GetValue<int?>("--service-port"));
            options.Tls = NodeSecurity.ForNode(NodeRole.Monitor, security, parseResult.GetValue<string>("--join") ?? context.Environment.Variables["DISTBACKPROP__JOIN"] as string,
                coordinatorHost, servicePort, options.JoinRetry, context.Err.WriteLine, context.Cancellation);
            options.Insecure = insecure;
            return Run(context, options, parseResult.GetValue<bool>("--plain"));
        }));
        return command;
    }

    private static int Run(CliContext context, DistBackpropAkkaOptions options, bool plain)
    {
        using var view = ViewFactory.Create(context, plain);
        using var loggers = NodeLog.Factory(ViewFactory.ErrorFor(view, context.Err), context.Verbose); // one line per record, `warning: akka: …`
        view.Line($"distbackprop monitor: joining {string.Join(", ", options.SeedNodes)}");
        var feed = new TrainingEventFeed(view, "distbackprop monitor");
        var end = ClusterMonitorHost.RunAsync(options, feed.On, view.Line, loggers, a => view.Line($"monitor node up at {a}"), context.Cancellation)
            .GetAwaiter().GetResult();
        view.Finish();
        switch (end)
        {
            case TrainingFailed f:
                return f.ExitCode is ExitCodes.Diverged ? ExitCodes.Diverged : ExitCodes.RuntimeFailure;
            case null:
                view.Line("monitor stopped (Ctrl+C / SIGTERM)");
                return ExitCodes.Ok;
            default:
                return ExitCodes.Ok;
        }
    }
}
