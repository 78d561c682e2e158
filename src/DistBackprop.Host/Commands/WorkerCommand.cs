// `distbackprop worker --seed-nodes akka.tcp://distbackprop@HOST:PORT`: joins a cluster in the worker
// role and computes the shards the coordinator deals it (SPEC §7). It takes the coordinator's dataset
// and architecture unless given its own (--data/--seed/--test-split/--val-split, --layers/--activation/--loss),
// which the coordinator then checks: a mismatch is refused on both sides (exit 2 here). It retries
// joining for as long as it runs and never exits on its own; Ctrl+C / SIGTERM leaves the cluster
// gracefully (its shards handed back) and exits 0. Only bad options (a malformed seed address) exit 2 at once.
// Leaves out: the actor (DistBackprop.Cluster Worker) and the rebuild-and-rejoin loop (ClusterWorkerHost).
using System.CommandLine;
using System.Globalization;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Host.Cluster;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Output;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Commands;

public static class WorkerCommand
{
    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var d = new WorkerOptions();
        var command = new Command("worker",
            "Join a cluster and compute shards. Example: distbackprop worker --seed-nodes akka.tcp://distbackprop@127.0.0.1:4053");
        command.Options.Add(TrainingCommandLine.Text("--seed-nodes", "the coordinator's address, akka.tcp://distbackprop@HOST:PORT (comma-separated for several)"));
        command.Options.Add(TrainingCommandLine.Text("--host", "address to bind (0.0.0.0 for every interface)", d.Host));
        command.Options.Add(TrainingCommandLine.Value("--port", "port of this node (0: any free port)", d.Port));
        command.Options.Add(TrainingCommandLine.Text("--public-host", "name or address other nodes reach this one by [default: --host]"));
        command.Options.Add(TrainingCommandLine.Value<int>("--threads", "kernel threads for this worker's shards [default: cores]"));
        command.Options.Add(TrainingCommandLine.Text("--max-frame-size", "largest Akka message, the same on every node (64MiB, 128KiB, 1048576)", d.MaxFrameSize));
        command.Options.Add(TrainingCommandLine.Text("--data", "use (and check) this dataset instead of taking the coordinator's"));
        command.Options.Add(TrainingCommandLine.Text("--layers", "check this architecture against the coordinator's (default: take the coordinator's)"));
        command.Options.Add(TrainingCommandLine.Text("--activation", "with --layers: hidden activation to check [default: relu]"));
        command.Options.Add(TrainingCommandLine.Text("--loss", "with --layers: output/loss pair to check [default: softmax-ce]"));
        command.Options.Add(TrainingCommandLine.Value<long>("--seed", "seed of the worker's own (synthetic) data, checked by fingerprint"));
        command.Options.Add(TrainingCommandLine.Value<double>("--test-split", "test split of the worker's own data, as for train"));
        command.Options.Add(TrainingCommandLine.Value<double>("--val-split", "validation split of the worker's own data, as for train"));
        TrainingCommandLine.AddSecurity(command, coordinator: false);
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var layers = ConfigurationLayers.Build(context.Environment, TrainingCommandLine.CommandLineValues(parseResult)); // one root for every setting
            var bound = OptionsBinder.Bind<WorkerOptions>(layers);
            context.Verbose = bound.Value.Verbose;
            return Execute(context, layers, bound);
        }));
        return command;
    }

    private static int Execute(CliContext context, ConfigurationLayers layers, Bound<WorkerOptions> bound)
    {
        var o = bound.Value;
        var errors = new List<string>();
        var seeds = ClusterSettings.SplitSeedNodes(o.SeedNodes);
        if (seeds.Length == 0)
        {
            errors.Add("--seed-nodes is required: the coordinator's address, e.g. --seed-nodes akka.tcp://distbackprop@127.0.0.1:4053");
        }

        if (o.Port is < 0 or > 65535)
        {
            errors.Add($"{bound.Name(nameof(o.Port))} must be in 0..65535 (got {o.Port})");
        }

        if (o.Threads is < 1)
        {
            errors.Add($"{bound.Name(nameof(o.Threads))} must be at least 1 (got {o.Threads})");
        }

        if (o.TestSplit is { } split && !(split >= 0 && split < 1))
        {
            errors.Add($"{bound.Name(nameof(o.TestSplit))} must be in [0, 1) (got {split.ToString("R", CultureInfo.InvariantCulture)})");
        }

        if (o.ValSplit is { } valSplit && !(valSplit >= 0 && valSplit < 1))
        {
            errors.Add($"{bound.Name(nameof(o.ValSplit))} must be in [0, 1) (got {valSplit.ToString("R", CultureInfo.InvariantCulture)})");
        }

        var model = ParseModel(bound, errors);
        DistBackpropAkkaOptions? akka = null;
        if (errors.Count == 0)
        {
            try
            {
                akka = ClusterSettings.Build(layers, NodeRole.Worker, o.Host, o.Port, o.PublicHost, o.MaxFrameSize,
                    bound.Name(nameof(o.MaxFrameSize)), seeds, o.Verbose);
            }
            catch (UsageException e)
            {
                errors.AddRange(e.Messages);
            }
        }

        if (o.ServicePort is < 1 or > 65535)
        {
            errors.Add($"{bound.Name(nameof(o.ServicePort))} must be in 1..65535 (got {o.ServicePort})");
        }

        if (errors.Count > 0)
        {
            throw new UsageException(errors);
        }

        // Credentials before anything else: a worker that cannot join the cluster says so at once (exit 2)
        var output0 = context.Out;
        var (coordinatorHost, servicePort) = NodeSecurity.ServiceEndpoint(seeds[0], o.ServicePort);
        var security = new SecurityOptions(o.StateDir, o.TlsCert, o.TlsKey, o.TlsCa, o.Insecure);
        if (o.Insecure)
        {
            context.Err.WriteLine(NodeSecurity.InsecureWarning);
        }

        var credentials = NodeSecurity.ForNode(NodeRole.Worker, security, o.Join, coordinatorHost, servicePort, akka!.JoinRetry, t =>
        {
            lock (output0)
            {
                output0.WriteLine(t);
            }
        }, context.Cancellation);
        (akka.Tls, akka.Insecure) = (credentials, o.Insecure);

        // The worker's own data, when any data option was given: the coordinator checks its fingerprint.
        Dataset? own = null;
        var ownData = bound.IsSet(nameof(o.Data)) || bound.IsSet(nameof(o.Seed)) || bound.IsSet(nameof(o.TestSplit)) || bound.IsSet(nameof(o.ValSplit));
        if (ownData)
        {
            own = DatasetLoader.Load(o.Data, new DataOptions(o.Seed ?? 1, o.TestSplit ?? 0, context.Environment.DataDirectory, o.ValSplit ?? 0)).Train;
        }

        var descriptor = model is null ? null : Complete(bound, model.Value, own);
        var threads = o.Threads ?? Math.Max(1, context.ProcessorCount);
        // the certificate's name, then this process (several workers may share a certificate): the coordinator checks the prefix
        var instance = $"{Environment.MachineName}-{Environment.ProcessId}";
        var id = credentials?.Identity.WorkerId(instance) ?? instance;
        var env = context.Environment;
        var settings = new DistBackprop.Cluster.Actors.WorkerSettings
        {
            WorkerId = id,
            Threads = threads,
            Model = descriptor,
            Dataset = own,
            LoadDataset = d => DatasetLoader.Load(d.Source, new DataOptions(d.DataSeed, d.TestSplit, env.DataDirectory, d.ValSplit)).Train,
        };

        var output = context.Out;
        void Line(string text)
        {
            lock (output)
            {
                output.WriteLine(text);
            }
        }

        Line($"distbackprop worker {id}: kernels {KernelInfo.Describe()}, {threads} kernel thread(s); " +
            $"model {descriptor?.ToString() ?? "from the coordinator"}; data {(own is null ? "from the coordinator" : $"{own.Name} ({own.Count} samples, fingerprint {own.Fingerprint})")}");
        using var loggers = NodeLog.Factory(context.Err, o.Verbose);
        var exit = ClusterWorkerHost.RunAsync(akka!, settings, loggers,
            incarnationStarted: a => Line($"worker node up at {a}; joining {string.Join(", ", akka.EffectiveSeedNodes())} (retrying until a coordinator answers)"),
            context.Cancellation).GetAwaiter().GetResult();
        if (exit.Refused)
        {
            context.Err.WriteLine($"error: {exit.Reason}");
            return ExitCodes.Usage;
        }

        Line("worker stopped; left the cluster");
        return ExitCodes.Ok;
    }

    /// <summary>--layers/--activation/--loss when any is given (null: adopt the coordinator's architecture).</summary>
    private static (int[]? Sizes, Activation Activation, LossKind Loss)? ParseModel(Bound<WorkerOptions> bound, List<string> errors)
    {
        var o = bound.Value;
        if (!bound.IsSet(nameof(o.Layers)) && !bound.IsSet(nameof(o.Activation)) && !bound.IsSet(nameof(o.Loss)))
        {
            return null;
        }

        int[]? sizes = null;
        if (o.Layers is not null)
        {
            sizes = Names.TryParseLayers(o.Layers, out var why);
            if (sizes is null)
            {
                errors.Add($"{bound.Name(nameof(o.Layers))}: '{o.Layers}' is malformed: {why} (expected sizes like 784,128,10)");
            }
        }

        var activation = Activation.Relu;
        if (o.Activation is not null && !Names.TryParseActivation(o.Activation, out activation))
        {
            errors.Add($"{bound.Name(nameof(o.Activation))}: unknown activation '{o.Activation}' (expected relu, leaky-relu, sigmoid or tanh)");
        }

        var loss = LossKind.SoftmaxCrossEntropy;
        if (o.Loss is not null && !Names.TryParseLoss(o.Loss, out loss))
        {
            errors.Add($"{bound.Name(nameof(o.Loss))}: unknown loss '{o.Loss}' (expected softmax-ce, sigmoid-ce or mse)");
        }

        return (sizes, activation, loss);
    }

    /// <summary>The architecture to check: --layers, else (as `train` infers it) [features, 128, classes] of the worker's own data.</summary>
    private static ModelDescriptor Complete(Bound<WorkerOptions> bound, (int[]? Sizes, Activation Activation, LossKind Loss) m, Dataset? own)
    {
        var o = bound.Value;
        var sizes = m.Sizes;
        if (sizes is null)
        {
            if (own is null)
            {
                throw new UsageException($"{bound.Name(o.Activation is not null ? nameof(o.Activation) : nameof(o.Loss))} needs --layers (or --data) so the architecture can be checked; " +
                    "give neither to take the coordinator's architecture");
            }

            sizes = [own.FeatureCount, TrainRun.DefaultHidden, own.Classes];
        }
        else if (own is not null && (sizes[0] != own.FeatureCount || !ModelSpec.OutputsFit(sizes[^1], own.Classes)))
        {
            throw new UsageException($"{bound.Name(nameof(o.Layers))}: {string.Join(',', sizes)} does not fit the worker's data {own.Name} ({own.FeatureCount} features, {own.Classes} classes)");
        }

        return ModelDescriptor.From(new ModelSpec(sizes, m.Activation, m.Loss));
    }
}
