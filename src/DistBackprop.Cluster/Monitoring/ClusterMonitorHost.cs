// A `monitor` node as one call the Host's `monitor` command makes: a generic host with one ActorSystem in
// the "monitor" role (no worker actor, so it takes no shards) running a ProgressMonitor. Returns when the
// run ends (TrainingCompleted or TrainingFailed) or when cancelled. Like a worker, it rebuilds its actor
// system when its cluster is gone (a restarted coordinator forms a new one at the same seed address).
// Leaves out: option parsing, exit codes, display.
using Akka.Actor;
using Akka.Hosting;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DistBackprop.Cluster.Monitoring;

public static class ClusterMonitorHost
{
    /// <summary>
    /// Joins options.SeedNodes as a monitor and passes every coordinator event to <paramref name="onEvent"/> (on the monitor
    /// actor's thread: keep it short). Returns the final event (<see cref="TrainingCompleted"/> or <see cref="TrainingFailed"/>),
    /// or null when cancelled. Throws <see cref="ArgumentException"/> for invalid options (a malformed seed address names --seed-nodes).
    /// </summary>
    public static async Task<ITrainingEvent?> RunAsync(DistBackpropAkkaOptions options, Action<ITrainingEvent> onEvent, Action<string>? onConnection = null,
        ILoggerFactory? loggerFactory = null, Action<Address>? started = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(onEvent);
        options.Role = NodeRole.Monitor;
        if ((options.Validate() ?? options.ValidateSecurity()) is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var log = loggerFactory?.CreateLogger("DistBackprop.Monitor");
        while (!cancellationToken.IsCancellationRequested)
        {
            var end = new TaskCompletionSource<ITrainingEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            var settings = new MonitorSettings(
                e =>
                {
                    onEvent(e);
                    if (e is TrainingCompleted or TrainingFailed)
                    {
                        end.TrySetResult(e);
                    }
                },
                onConnection)
            {
                Tls = options.Tls,
            };
            using var host = LocalTraining.BuildHost(loggerFactory, options.LogLevel, b => b
                .WithDistBackprop(options, (system, registry) => registry.Register<ProgressMonitor>(system.ActorOf(ProgressMonitor.Props(settings), "monitor")))
                .AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend));
            await host.StartAsync(CancellationToken.None).ConfigureAwait(false);
            var system = host.Services.GetRequiredService<ActorSystem>();
            started?.Invoke(Akka.Cluster.Cluster.Get(system).SelfAddress);
            var cancelled = Task.Delay(Timeout.Infinite, cancellationToken);
            var first = await Task.WhenAny(end.Task, system.WhenTerminated, cancelled).ConfigureAwait(false);
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            if (first == end.Task)
            {
                return end.Task.Result;
            }

            if (first == cancelled)
            {
                break;
            }

            log?.LogWarning("monitor: the cluster is gone; rebuilding the actor system to join the next coordinator");
            onConnection?.Invoke("the cluster is gone; joining again");
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }

        return null;
    }
}
