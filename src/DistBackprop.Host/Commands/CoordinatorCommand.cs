// `distbackprop coordinator`: cluster mode's training node (SPEC §6–7). Every `train` option (same
// binder, validation and TrainRun: data, architecture, --init, --resume, --out, --metrics, checkpoints,
// test evaluation per epoch, exit codes) plus --host, --port, --public-host, --min-workers and
// --max-frame-size. The shards are computed by `distbackprop worker` processes (ClusterEngine).
// --shards defaults to --min-workers. --workers and --threads are train's (in-process workers): refused here.
// Leaves out: the cluster itself (DistBackprop.Cluster), the worker side (WorkerCommand).
using System.CommandLine;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;
using DistBackprop.Host.Cluster;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Commands;

public static class CoordinatorCommand
{
    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var command = new Command("coordinator",
            "Train in cluster mode: wait for worker processes, deal them the shards. Example: distbackprop coordinator --min-workers 2 --epochs 5 --out model.safetensors");
        TrainingCommandLine.AddTo(command);
        foreach (var o in command.Options.Where(o => o.Name is "--workers" or "--threads"))
        {
            o.Hidden = true; // train's in-process options; a clear refusal below instead of "unrecognized"
        }

        AddClusterOptions(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var values = TrainingCommandLine.CommandLineValues(parseResult);
            var layers = ConfigurationLayers.Build(context.Environment, values); // one root for every setting of the run
            var bound = OptionsBinder.Bind<TrainingOptions>(layers);
            var cluster = OptionsBinder.Bind<CoordinatorOptions>(layers);
            context.Verbose = bound.Value.Verbose;
            return Execute(context, layers, values, bound, cluster);
        }));
        return command;
    }

    private static void AddClusterOptions(Command command)
    {
        var d = new CoordinatorOptions();
        command.Options.Add(TrainingCommandLine.Text("--host", "address to bind (0.0.0.0 for every interface)", d.Host));
        command.Options.Add(TrainingCommandLine.Value("--port", "port of this node, the seed address workers join", d.Port));
        command.Options.Add(TrainingCommandLine.Text("--public-host", "name or address other nodes reach this one by [default: --host]"));
        command.Options.Add(TrainingCommandLine.Value("--min-workers", "workers that must be ready before step 1; --shards defaults to it", d.MinWorkers));
        command.Options.Add(TrainingCommandLine.Value("--fan-in", "with more than K live workers, at most K aggregation groups per step (workers relay weights and add partial sums); 0: off", d.FanIn));
        command.Options.Add(TrainingCommandLine.Text("--max-frame-size", "largest Akka message, the same on every node (64MiB, 128KiB, 1048576)", d.MaxFrameSize));
        command.Options.Add(TrainingCommandLine.Text("--tensor-transport", "tcp: weights and gradients over a TCP connection per worker; akka: inside Akka messages (workers follow)", "tcp"));
        command.Options.Add(TrainingCommandLine.Value<int>("--tensor-port", "the service port (tensor channel, enrolment), 0 = any free port [default: --port + 1]"));
        TrainingCommandLine.AddSecurity(command, coordinator: true);
    }

    /// <summary>
    /// TLS credentials and the CA (NodeSecurity), the join token the `join:` line shows (--join-token, else a new one valid for an
    /// hour), and that line itself, printed once the node listens; the address goes to &lt;state&gt;/coordinator/address for `token create`.
    /// </summary>
    private static void Secure(CliContext context, DistBackpropAkkaOptions akka, CoordinatorOptions c, Bound<CoordinatorOptions> cluster)
    {
        akka.MaxFrameSizeExplicit = cluster.IsSet(nameof(c.MaxFrameSize));
        var security = new SecurityOptions(c.StateDir, c.TlsCert, c.TlsKey, c.TlsCa, c.Insecure);
        var (credentials, authority) = NodeSecurity.ForCoordinator(security, [akka.PublicHost ?? akka.Host], m => context.Out.WriteLine(m));
        (akka.Tls, akka.Authority, akka.Insecure) = (credentials, authority, c.Insecure);
        string joinWith;
        if (c.Insecure)
        {
            context.Err.WriteLine(NodeSecurity.InsecureWarning);
            joinWith = "--insecure";
            if (c.JoinToken is not null)
            {
                throw new UsageException($"{cluster.Name(nameof(c.JoinToken))}: join tokens need TLS; not with --insecure");
            }
        }
        else if (authority is null)
        {
            joinWith = "--tls-cert WORKER.pem --tls-key WORKER.key --tls-ca CA.pem";
            if (c.JoinToken is not null)
            {
                throw new UsageException($"{cluster.Name(nameof(c.JoinToken))}: enrolment needs the state dir's CA; with --tls-cert/--tls-key/--tls-ca workers bring their own certificates too");
            }
        }
        else
        {
            JoinToken token;
            if (c.JoinToken is not null)
            {
                token = JoinToken.Parse(c.JoinToken, out var why) ?? throw new UsageException($"{cluster.Name(nameof(c.JoinToken))}: {why}");
                if (token.CaFingerprint is { } fp && fp != authority.Trust.Fingerprint)
                {
                    throw new UsageException($"{cluster.Name(nameof(c.JoinToken))}: the token names the CA {fp}, this coordinator's is {authority.Trust.Fingerprint} (in {authority.Directory})");
                }

                authority.Tokens.AddInMemory(token);
                token = token.WithFingerprint(authority.Trust.Fingerprint);
            }
            else
            {
                token = authority.CreateToken(NodeRole.Worker, TimeSpan.FromHours(1));
            }

            joinWith = $"--join {token}";
        }

        akka.Listening = (address, servicePort) =>
        {
            var seed = address.ToString();
            if (authority is not null)
            {
                TokenCommand.WriteAddress(authority.Directory, seed, servicePort);
            }

            akka.Notice?.Invoke(NodeSecurity.JoinLine("worker", seed, address.Port ?? akka.Port, servicePort, joinWith));
        };
    }

    private static int Execute(CliContext context, ConfigurationLayers layers, IReadOnlyDictionary<string, string?> commandLine, Bound<TrainingOptions> bound, Bound<CoordinatorOptions> cluster)
    {
        var c = cluster.Value;
        var errors = new List<string>();
        if (commandLine.ContainsKey("workers"))
        {
            errors.Add("--workers is for `train` (in-process workers); a coordinator's workers are `distbackprop worker` processes: use --min-workers N to wait for N of them before step 1");
        }

        if (commandLine.ContainsKey("threads"))
        {
            errors.Add("--threads is for `train` and `worker` (kernel threads per worker); the coordinator computes no shards: pass --threads to each worker");
        }

        if (c.MinWorkers < 1)
        {
            errors.Add($"{cluster.Name(nameof(c.MinWorkers))} must be at least 1 (got {c.MinWorkers})");
        }

        if (c.FanIn < 0)
        {
            errors.Add($"{cluster.Name(nameof(c.FanIn))} must be 0 (off) or at least 1 (got {c.FanIn})");
        }

        if (c.Port is < 1 or > 65535)
        {
            errors.Add($"{cluster.Name(nameof(c.Port))} must be in 1..65535 (got {c.Port}): workers join the coordinator at a fixed address");
        }

        // train's checks (all of them reported together with the cluster ones)
        ResolvedTraining? resolved = null;
        try
        {
            resolved = TrainingOptionsValidator.Resolve(bound, context.ProcessorCount);
        }
        catch (UsageException e)
        {
            errors.AddRange(e.Messages);
        }

        DistBackpropAkkaOptions? akka = null;
        if (c.Port is >= 1 and <= 65535)
        {
            try
            {
                akka = ClusterSettings.Build(layers, NodeRole.Coordinator, c.Host, c.Port, c.PublicHost, c.MaxFrameSize,
                    cluster.Name(nameof(c.MaxFrameSize)), [], bound.Value.Verbose);
            }
            catch (UsageException e)
            {
                errors.AddRange(e.Messages);
            }

            // docs/tensor-channel.md; DistBackprop__Cluster__TensorTransport already applied by ClusterSettings
            if (akka is not null && c.TensorTransport is { } transport)
            {
                if (Enum.TryParse<DistBackprop.Cluster.Channel.TensorTransportKind>(transport, ignoreCase: true, out var kind) && !int.TryParse(transport, out _))
                {
                    akka.TensorTransport = kind;
                }
                else
                {
                    errors.Add($"{cluster.Name(nameof(c.TensorTransport))}: '{transport}' is not a transport (tcp or akka)");
                }
            }

            if (akka is not null && c.TensorPort is { } tensorPort)
            {
                akka.TensorPort = tensorPort;
                if (akka.Validate() is { } invalid)
                {
                    errors.Add(invalid.Replace("--tensor-port", cluster.Name(nameof(c.TensorPort)), StringComparison.Ordinal));
                }
            }
        }

        if (akka is not null && errors.Count == 0)
        {
            try
            {
                Secure(context, akka, c, cluster);
            }
            catch (UsageException e)
            {
                errors.AddRange(e.Messages);
            }
        }

        if (errors.Count > 0)
        {
            throw new UsageException(errors);
        }

        var o = bound.Value;
        resolved = resolved! with { Workers = c.MinWorkers, Shards = o.Shards ?? c.MinWorkers, Threads = 1 };
        var frameName = cluster.Name(nameof(c.MaxFrameSize));
        var run = new CliContext(context.Out, context.Err, context.Environment, context.Cancellation)
        {
            ProcessorCount = context.ProcessorCount,
            IsTerminal = context.IsTerminal,
            EngineFactory = ctx => new ClusterEngine(akka!, c.MinWorkers, c.FanIn,
                train => new DatasetDescriptor(o.Data, o.Seed, o.TestSplit, train.Fingerprint, train.Count, o.ValSplit),
                ctx.Out, ctx.Err, ctx.Verbose, frameName),
        };
        run.Verbose = context.Verbose;
        return new TrainRun(run, bound, resolved, "coordinator").Execute();
    }
}
