// The one place DistBackprop's Akka configuration is written: serializers and their bindings, remoting
// and clustering (roles, seed nodes, frame size, split brain resolver) when clustered — with mutual TLS pinned to
// the cluster CA and untrusted-mode (docs/security.md) unless --insecure — and the actors of each role.
// Local mode, cluster nodes and the tests all go through WithDistBackprop.
// Leaves out: process concerns (command line, exit codes): the Host project.
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Akka.Serialization;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Data;

namespace DistBackprop.Cluster.Hosting;

public static class AkkaBuilderExtensions
{
    /// <summary>
    /// Serialization for every mode: control messages (<see cref="IControlMessage"/>) through Hyperion restricted by
    /// <see cref="HyperionTypeFilter"/>; weights and gradients (<see cref="ITensorMessage"/>) through <see cref="TensorSerializer"/>;
    /// anything else (System.Object) through <see cref="GuardSerializer"/>, which refuses and logs it (no JSON fallback). The guard takes the place of Akka's "json" serializer (to which System.Object is bound) rather
    /// than rebinding System.Object: a rebinding makes Akka print a warning on standard output at every start. When the role is not Local: remoting and clustering as described on the options.
    /// <paramref name="startActors"/> starts this node's actors once the system is up.
    /// </summary>
    public static AkkaConfigurationBuilder WithDistBackprop(this AkkaConfigurationBuilder builder, DistBackpropAkkaOptions options,
        Action<ActorSystem, IActorRegistry>? startActors = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        if ((options.Validate() ?? options.ValidateSecurity()) is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        builder
            .WithCustomSerializer("distbackprop-hyperion", [typeof(IControlMessage)],
                system => new HyperionSerializer(system, HyperionSerializerSettings.Default.WithTypeFilter(HyperionTypeFilter.Instance)))
            .WithCustomSerializer("distbackprop-tensor", [typeof(ITensorMessage)], system => new TensorSerializer(system))
            .ConfigureLoggers(l => l.LogLevel = options.LogLevel)
            .AddHocon(ConfigurationFactory.ParseString($$"""
                akka.actor.serialize-messages = {{(options.SerializeMessages ? "on" : "off")}}
                akka.coordinated-shutdown.exit-clr = off
                akka.actor.serializers.json = "{{typeof(GuardSerializer).FullName}}, {{typeof(GuardSerializer).Assembly.GetName().Name}}"
                """), HoconAddMode.Prepend);

        if (options.Role != NodeRole.Local)
        {
            var gossip = options.HeartbeatInterval < TimeSpan.FromSeconds(1) ? options.HeartbeatInterval : TimeSpan.FromSeconds(1);
            // A refused connection gates the address (Akka's default: 5 s) and drops every message to it meanwhile, join
            // attempts included: a worker that knocked at a restarting coordinator before it listened would wait out
            // the gate. Gate no longer than the join retry interval, so the next attempt after the coordinator is up gets through.
            var gate = options.JoinRetry < TimeSpan.FromSeconds(5) ? options.JoinRetry : TimeSpan.FromSeconds(5);
            if (options.TestThrottler)
            {
                // and ActorSystem.Terminate() without coordinated shutdown: with the node black-holed first, that is kill -9
                builder.AddHocon(ConfigurationFactory.ParseString("""
                    akka.remote.dot-netty.tcp.applied-adapters = [trttl]
                    akka.coordinated-shutdown.run-by-actor-system-terminate = off
                    """), HoconAddMode.Prepend);
            }

            var frame = options.AkkaFrameSize;
            var remoting = new RemoteOptions
            {
                HostName = options.Host,
                Port = options.Port,
                PublicHostName = options.PublicHost,
                // A frame holds one whole message: with --tensor-transport akka the weights or a gradient (4 bytes per parameter +
                // header); with the tensor channel a coordinator's frames carry control messages only (FrameBudget.ControlFrameSize).
                MaxFrameSize = frame,
                SendBufferSize = frame,
                ReceiveBufferSize = frame,
            };
            if (options.Tls is { } tls)
            {
                // Mutual TLS: every node presents its certificate, and accepts a peer only if its certificate chains to the
                // cluster's own CA and names a role (ClusterTrust; the system store is never consulted). Host names are not
                // checked: nodes move and have dynamic ports; the pinned CA is the identity.
                remoting.EnableSsl = true;
                remoting.Ssl = new SslOptions
                {
                    X509Certificate = tls.Certificate,
                    SuppressValidation = false,
                    RequireMutualAuthentication = true,
                    ValidateCertificateHostname = false,
                    CustomValidator = tls.Trust.AkkaValidator(),
                };
            }

            // Nothing from the network may stop, kill, suspend or remotely deploy an actor: untrusted-mode drops PoisonPill,
            // IPossiblyHarmful system messages, remote deployment and actor selections to other paths than these; the
            // guarded serializers (RemoteCommandGuard) refuse Kill, IntentionalRestart and the lifecycle system messages.
            builder.AddHocon(ConfigurationFactory.ParseString($$"""
                akka.remote.untrusted-mode = on
                akka.remote.trusted-selection-paths = ["/user/{{Coordinator.ActorName}}", "/user/{{Worker.ActorName}}", "/system/cluster/core/daemon", "/system/cluster/heartbeatReceiver", "/system/remote-watcher"]
                akka.actor.serializers.akka-misc = "{{typeof(GuardedMiscSerializer).FullName}}, {{typeof(GuardedMiscSerializer).Assembly.GetName().Name}}"
                akka.actor.serializers.akka-system-msg = "{{typeof(GuardedSystemMessageSerializer).FullName}}, {{typeof(GuardedSystemMessageSerializer).Assembly.GetName().Name}}"
                """), HoconAddMode.Prepend);

            builder
                .WithRemoting(remoting)
                .WithClustering(new ClusterOptions
                {
                    Roles = [RoleName(options.Role)],
                    SeedNodes = options.EffectiveSeedNodes(),
                    // Keep-oldest among the members with role "coordinator", never downing the oldest when it is alone:
                    // the coordinator forms the cluster (it is the only seed), so it is the oldest, and whatever the
                    // partition, the side with the live coordinator survives and workers cut off from it down
                    // themselves (their host then rebuilds the actor system and rejoins). keep-majority would let
                    // two workers out-vote the coordinator (and in a 2-node cluster it breaks ties by address: a worker
                    // on a lower address would survive and the coordinator be downed). With keep-oldest, a coordinator +
                    // one worker pair that loses contact keeps the coordinator (it pauses) and the worker downs itself,
                    // rebuilds and rejoins (FaultToleranceTests). The price: if the coordinator itself dies, every worker
                    // downs itself — intended, as the run needs a coordinator anyway (restart it with --resume).
                    // Timings: docs/cluster-faults.md.
                    SplitBrainResolver = new KeepOldestOption { DownIfAlone = false, Role = RoleName(NodeRole.Coordinator) },
                })
                .AddHocon(ConfigurationFactory.ParseString($$"""
                    akka.cluster.split-brain-resolver.stable-after = {{Ms(options.DowningStableAfter)}}
                    # Akka's default downs EVERY node (the coordinator too) when reachability keeps changing for 3/4 of
                    # stable-after past it; seen once here after a worker was killed (SBR DownAll "including myself").
                    # The coordinator must never be downed in favour of workers (SPEC §7): keep-oldest alone decides.
                    akka.cluster.split-brain-resolver.down-all-when-unstable = off
                    akka.cluster.failure-detector.heartbeat-interval = {{Ms(options.HeartbeatInterval)}}
                    akka.cluster.failure-detector.acceptable-heartbeat-pause = {{Ms(options.AcceptableHeartbeatPause)}}
                    akka.cluster.failure-detector.expected-response-after = {{Ms(options.HeartbeatInterval)}}
                    akka.cluster.gossip-interval = {{Ms(gossip)}}
                    akka.cluster.leader-actions-interval = {{Ms(gossip)}}
                    akka.cluster.unreachable-nodes-reaper-interval = {{Ms(gossip)}}
                    akka.cluster.retry-unsuccessful-join-after = {{Ms(options.JoinRetry)}}
                    akka.cluster.seed-node-timeout = {{Ms(options.JoinRetry)}}
                    akka.remote.retry-gate-closed-for = {{Ms(gate)}}
                    akka.remote.watch-failure-detector.heartbeat-interval = {{Ms(options.HeartbeatInterval)}}
                    akka.remote.watch-failure-detector.acceptable-heartbeat-pause = {{Ms(options.AcceptableHeartbeatPause + options.AcceptableHeartbeatPause)}}
                    akka.remote.flush-wait-on-shutdown = {{Ms(options.AcceptableHeartbeatPause < TimeSpan.FromSeconds(2) ? options.AcceptableHeartbeatPause : TimeSpan.FromSeconds(2))}}
                    akka.cluster.run-coordinated-shutdown-when-down = on
                    akka.cluster.shutdown-after-unsuccessful-join-seed-nodes = off
                    akka.remote.dot-netty.tcp.connection-timeout = 10s
                    akka.remote.dot-netty.tcp.maximum-frame-size = {{frame}}b
                    akka.remote.dot-netty.tcp.send-buffer-size = {{frame}}b
                    akka.remote.dot-netty.tcp.receive-buffer-size = {{frame}}b
                    """), HoconAddMode.Prepend);
        }

        if (startActors is not null)
        {
            builder.WithActors(startActors);
        }

        return builder;
    }

    /// <summary>
    /// A coordinator node (or the coordinator of local mode): checks that the run's messages fit the frame size
    /// (throws <see cref="FrameSizeException"/> naming --max-frame-size, before anything starts) and starts
    /// /user/coordinator, registered in the ActorRegistry under <see cref="Coordinator"/>.
    /// </summary>
    public static AkkaConfigurationBuilder WithDistBackpropCoordinator(this AkkaConfigurationBuilder builder, DistBackpropAkkaOptions options,
        CoordinatorSettings settings, Action<ActorSystem, IActorRegistry>? alsoStart = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Validate() is { } invalid)
        {
            throw new ArgumentException(invalid, nameof(settings));
        }

        var config = settings.State.Config;
        if (options.Role != NodeRole.Local)
        {
            FrameBudget.Check(config.Spec, config.BatchSize, config.Shards, options.MaxFrameSize);
        }

        if (options.Role != NodeRole.Local && options.TensorTransport == TensorTransportKind.Tcp)
        {
            options.ControlFrameSize = FrameBudget.ControlFrameSize(config.BatchSize, config.Shards); // tensors never travel in Akka frames
            var channel = settings.TensorChannel ?? new TensorChannelOptions(options.Host, options.EffectiveTensorPort, options.PublicHost, AnyPortIfTaken: options.TensorPort is null);
            settings = settings with { TensorChannel = channel with { Tls = options.Tls, SharedPort = options.SharedServicePort } };
        }

        return builder.WithDistBackprop(options, (system, registry) =>
        {
            var props = Coordinator.Props(settings);
            var coordinator = system.ActorOf(options.Role == NodeRole.Local ? props.WithDispatcher(LocalDispatcher) : props, Coordinator.ActorName);
            registry.Register<Coordinator>(coordinator);
            alsoStart?.Invoke(system, registry);
        });
    }

    /// <summary>A worker node: starts /user/worker, which finds the coordinator through cluster membership. With TLS the worker's channel
    /// uses the node's certificate, and its id is made the certificate's ("NAME/id"): the coordinator checks that prefix.</summary>
    public static AkkaConfigurationBuilder WithDistBackpropWorker(this AkkaConfigurationBuilder builder, DistBackpropAkkaOptions options, WorkerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settings);
        if (options.Tls is { } tls)
        {
            settings = settings with
            {
                Tls = settings.Tls ?? tls,
                WorkerId = tls.Identity.Owns(settings.WorkerId) ? settings.WorkerId : tls.Identity.WorkerId(settings.WorkerId),
            };
        }

        return builder.WithDistBackprop(options, (system, registry) =>
            registry.Register<Worker>(system.ActorOf(Worker.Props(settings), Worker.ActorName)));
    }

    /// <summary>Local mode: the coordinator and <paramref name="workers"/> in-process workers sharing <paramref name="train"/> (read-only).</summary>
    public static AkkaConfigurationBuilder WithDistBackpropLocal(this AkkaConfigurationBuilder builder, DistBackpropAkkaOptions options,
        CoordinatorSettings settings, Dataset train, int workers, int threadsPerWorker)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(threadsPerWorker, 1);
        // The coordinator and the workers share `workers` dedicated threads: a step's messages go from one to the other
        // without waking a thread-pool thread, and with one worker the update and the next shard run on the same
        // thread, with the weights still in its core's cache.
        builder.AddHocon(ConfigurationFactory.ParseString($$"""
            {{LocalDispatcher}} {
              type = ForkJoinDispatcher
              throughput = 100
              dedicated-thread-pool {
                thread-count = {{workers}}
                threadtype = background
              }
            }
            """), HoconAddMode.Prepend);
        return builder.WithDistBackpropCoordinator(options, settings, (system, registry) =>
        {
            var coordinator = registry.Get<Coordinator>();
            for (var i = 1; i <= workers; i++)
            {
                system.ActorOf(Worker.Props(new WorkerSettings
                {
                    WorkerId = $"local-{i:D2}",
                    Threads = threadsPerWorker,
                    Dataset = train,
                    Coordinator = coordinator,
                    KernelPath = settings.KernelPath,
                }).WithDispatcher(LocalDispatcher), $"worker-{i}");
            }
        });
    }

    /// <summary>The dispatcher of local mode's coordinator and workers (see WithDistBackpropLocal).</summary>
    public const string LocalDispatcher = "distbackprop.local-dispatcher";

    private static string Ms(TimeSpan t) => $"{(long)Math.Ceiling(t.TotalMilliseconds)}ms";

    /// <summary>"coordinator", "worker", "monitor" (local → "coordinator").</summary>
    public static string RoleName(NodeRole role) => role switch
    {
        NodeRole.Worker => "worker",
        NodeRole.Monitor => "monitor",
        _ => "coordinator",
    };
}
