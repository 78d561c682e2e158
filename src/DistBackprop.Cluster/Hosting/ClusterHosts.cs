// Cluster mode as two calls the Host's `coordinator` and `worker` commands make: each runs a generic
// host with one ActorSystem configured by the same WithDistBackprop* extensions. A worker rebuilds its
// actor system whenever its coordinator is gone (a restarted coordinator forms a new cluster at the same
// seed address), and only returns when cancelled or refused. Leaves out: option parsing, exit codes.
using Akka.Actor;
using Akka.Hosting;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DistBackprop.Cluster.Hosting;

/// <summary>How a worker process ended: stopped by its host (exit 0), or refused by the coordinator (exit 2, <see cref="Reason"/>).</summary>
public sealed record WorkerExit(bool Refused, string? Reason);

public static class ClusterCoordinatorHost
{
    /// <summary>
    /// Starts a coordinator node (role coordinator, seed of its own cluster unless options.SeedNodes says otherwise),
    /// waits for settings.MinWorkers workers, trains, returns the result, leaves the cluster.
    /// Throws <see cref="FrameSizeException"/> before starting when the model does not fit options.MaxFrameSize, <see cref="ArgumentException"/>
    /// for invalid options (message names the option), <see cref="TrainingFailedException"/> when training fails.
    /// Cancelling stops after the step in progress (Summary.Stopped). <paramref name="started"/> is given the node's address once up.
    /// </summary>
    public static async Task<TrainingResult> RunAsync(DistBackpropAkkaOptions options, CoordinatorSettings settings, IProgress<StepReport>? progress = null,
        ILoggerFactory? loggerFactory = null, Action<Address>? started = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settings);
        options.Role = NodeRole.Coordinator;
        if (settings.Validate() is { } invalid)
        {
            throw new ArgumentException(invalid, nameof(settings));
        }

        var done = new TaskCompletionSource<TrainingResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var steps = new List<StepReport>();
        var user = settings.Events;
        settings = settings with
        {
            ShardDeadline = options.ShardDeadline,
            Events = e =>
            {
                user?.Invoke(e);
                switch (e)
                {
                    case StepReport r:
                        steps.Add(r);
                        progress?.Report(r);
                        break;
                    case TrainingCompleted c:
                        done.TrySetResult(new TrainingResult(c.Parameters, steps, c.Summary));
                        break;
                    case TrainingFailed f:
                        done.TrySetException(TrainingFailedException.From(f));
                        break;
                }
            },
        };

        // The service port (enrolment and the tensor channel) listens before Akka does, so the join line is right when printed.
        using var servicePort = OpenServicePort(options, loggerFactory);
        options.SharedServicePort = servicePort;
        try
        {
            return await RunIncarnationsAsync(options, settings, servicePort, done.Task, steps, loggerFactory, started, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            options.SharedServicePort = null;
        }
    }

    private static async Task<TrainingResult> RunIncarnationsAsync(DistBackpropAkkaOptions options, CoordinatorSettings settings, ServicePort? servicePort,
        Task<TrainingResult> done, List<StepReport> steps, ILoggerFactory? loggerFactory, Action<Address>? started, CancellationToken cancellationToken)
    {

        for (var incarnation = 1; ; incarnation++)
        {
            var outcome = await RunIncarnationAsync(options, settings, servicePort, done, steps, loggerFactory, incarnation == 1 ? started : null,
                cancellationToken).ConfigureAwait(false);
            if (outcome is { } result)
            {
                return result;
            }

            var after = steps.LastOrDefault()?.Step ?? settings.State.Step;
            if (incarnation > MaxRebuilds)
            {
                throw new TrainingFailedException($"the coordinator's actor system was shut down by Akka.Remote after a failed outbound TLS handshake {incarnation} times (after step {after}); check the nodes' certificates (--tls-cert, --state-dir); resume from the newest checkpoint", 1, after);
            }

            // Akka.Remote (1.5.50 and later, akka.net#7839) runs CoordinatedShutdown whenever a TLS handshake this node started
            // fails, also when the peer merely closed the connection mid-handshake (a downed worker tearing its actor system
            // down as the coordinator probes it). Training is the state machine's, not the actor system's: a new actor system
            // at the same address takes over the same TrainingState after its last completed step, and the workers rejoin it
            // as they rejoin a restarted coordinator. The step in progress is dealt again; the bits do not change.
            options.Notice?.Invoke($"warning: Akka.Remote shut the coordinator's actor system down after a failed outbound TLS handshake; rebuilding it and continuing after step {after}");
        }
    }

    /// <summary>How often a coordinator rebuilds its actor system after Akka.Remote shut it down for a failed outbound TLS handshake.</summary>
    public const int MaxRebuilds = 5;

    /// <summary>
    /// One actor system for the coordinator: the result, or null when Akka.Remote shut it down after a failed outbound TLS
    /// handshake (the caller builds another); throws when it stopped for any other reason.
    /// </summary>
    private static async Task<TrainingResult?> RunIncarnationAsync(DistBackpropAkkaOptions options, CoordinatorSettings settings, ServicePort? servicePort,
        Task<TrainingResult> done, List<StepReport> steps, ILoggerFactory? loggerFactory, Action<Address>? started, CancellationToken cancellationToken)
    {
        // The caller owns Ctrl+C/SIGTERM (cancellation stops after the step in progress and returns the weights): with Akka's
        // own process-exit hook on, SIGTERM would stop the actor system under the running coordinator and lose the step.
        using var host = LocalTraining.BuildHost(loggerFactory, options.LogLevel, b => b
            .WithDistBackpropCoordinator(options, settings)
            .AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend));
        await host.StartAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            options.SystemStarted?.Invoke(system);
            var self = Akka.Cluster.Cluster.Get(system).SelfAddress;
            if (started is not null)
            {
                started(self);
                options.Listening?.Invoke(self, servicePort?.Port ?? 0); // the join line: once per run
            }

            var coordinator = await ActorRegistry.For(system).GetAsync<Coordinator>(CancellationToken.None).ConfigureAwait(false);
            using var stop = cancellationToken.Register(() => coordinator.Tell(StopTraining.Instance));
            if (await Task.WhenAny(done, system.WhenTerminated).ConfigureAwait(false) != done && !done.IsCompleted)
            {
                if (IsTlsShutdown(CoordinatedShutdown.Get(system).ShutdownReason) && !cancellationToken.IsCancellationRequested)
                {
                    return null;
                }

                // e.g. this node was downed or its actor system stopped under it: say so rather than hang
                throw new TrainingFailedException($"the coordinator's actor system stopped before training ended (after step {steps.LastOrDefault()?.Step ?? 0}); resume from the newest checkpoint", 1, steps.LastOrDefault()?.Step ?? 0);
            }

            return await done.ConfigureAwait(false);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false); // coordinated shutdown: leaves the cluster
        }
    }

    /// <summary>Akka.Remote's reason for a failed TLS handshake (internal type Akka.Remote.Transport.DotNetty.TlsHandshakeFailureReason).</summary>
    internal static bool IsTlsShutdown(CoordinatedShutdown.Reason? reason) =>
        reason?.GetType().Name == "TlsHandshakeFailureReason";

    /// <summary>The service port when there is something to serve on it: the tensor channel, or enrolment (the node has a CA). Throws
    /// <see cref="IOException"/> naming --tensor-port when it cannot listen.</summary>
    private static ServicePort? OpenServicePort(DistBackpropAkkaOptions options, ILoggerFactory? loggerFactory)
    {
        var enrol = options.Authority is not null && options.Tls is not null;
        if (options.TensorTransport != TensorTransportKind.Tcp && !enrol)
        {
            return null;
        }

        var log = loggerFactory?.CreateLogger("DistBackprop.ServicePort");
        var limits = options.ServicePortLimits ?? new ServicePortOptions(options.Host, options.EffectiveTensorPort);
        var port = new ServicePort(limits with { BindHost = options.Host, Port = options.EffectiveTensorPort, AnyPortIfTaken = options.TensorPort is null },
            options.Tls, m => log?.LogWarning("{Message}", m))
        {
            Authority = enrol ? options.Authority : null,
            Notice = options.Notice,
        };
        return port;
    }
}

public static class ClusterWorkerHost
{
    /// <summary>
    /// Runs a worker node until <paramref name="cancellationToken"/> fires (→ Refused = false) or the coordinator refuses it
    /// (→ Refused = true with the reason). Joins options.SeedNodes, retrying for as long as it runs; when its coordinator is
    /// gone it shuts its actor system down and builds a new one to join the next coordinator. <paramref name="incarnationStarted"/>
    /// is given each new actor system's address. Throws <see cref="ArgumentException"/> for invalid options (e.g. a malformed
    /// seed-node address; the message names --seed-nodes).
    /// </summary>
    public static async Task<WorkerExit> RunAsync(DistBackpropAkkaOptions options, WorkerSettings settings, ILoggerFactory? loggerFactory = null,
        Action<Address>? incarnationStarted = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settings);
        options.Role = NodeRole.Worker;
        if ((options.Validate() ?? options.ValidateSecurity()) is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var log = loggerFactory?.CreateLogger("DistBackprop.Worker");
        while (!cancellationToken.IsCancellationRequested)
        {
            var refused = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var incarnation = settings with
            {
                OnRefused = r =>
                {
                    settings.OnRefused?.Invoke(r);
                    refused.TrySetResult(r);
                },
                OnCoordinatorLost = () => lost.TrySetResult(),
                LeaveTimeout = options.LeaveTimeout,
            };

            using var host = LocalTraining.BuildHost(loggerFactory, options.LogLevel, b => b.WithDistBackpropWorker(options, incarnation));
            await host.StartAsync(CancellationToken.None).ConfigureAwait(false);
            var system = host.Services.GetRequiredService<ActorSystem>();
            options.SystemStarted?.Invoke(system);
            incarnationStarted?.Invoke(Akka.Cluster.Cluster.Get(system).SelfAddress);
            var cancelled = Task.Delay(Timeout.Infinite, cancellationToken);
            var first = await Task.WhenAny(refused.Task, lost.Task, system.WhenTerminated, cancelled).ConfigureAwait(false);
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            if (first == refused.Task)
            {
                return new WorkerExit(true, refused.Task.Result);
            }

            if (first == cancelled)
            {
                break;
            }

            log?.LogWarning("worker {Worker}: the coordinator or the cluster is gone; rebuilding the actor system to join the next coordinator", settings.WorkerId);
            await Task.Delay(options.JoinRetry < TimeSpan.FromSeconds(1) ? options.JoinRetry : TimeSpan.FromSeconds(1), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }

        return new WorkerExit(false, null);
    }
}
