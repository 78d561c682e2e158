// The command-line spelling of TrainingOptions (SPEC §6), shared by `train` and, later,
// `coordinator`. Defaults shown in --help come from a fresh TrainingOptions; only options given
// explicitly override the environment and appsettings.json (see CommandLineValues).
// Leaves out: what the options do (TrainRun) and their range checks (TrainingOptionsValidator).
using System.CommandLine;
using System.CommandLine.Parsing;
using DistBackprop.Host.Configuration;

namespace DistBackprop.Host.Commands;

public static class TrainingCommandLine
{
    /// <summary>Adds every training option to <paramref name="command"/>.</summary>
    public static void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var d = new TrainingOptions();
        command.Options.Add(Text("--data", "synthetic name (digits, spirals, …), mnist, an IDX folder or a .csv file [default: digits]"));
        command.Options.Add(Text("--layers", "layer sizes, input first, e.g. 784,128,10 [default: features,128,classes from the data]"));
        command.Options.Add(Text("--activation", "hidden activation: relu|leaky-relu|sigmoid|tanh", d.Activation));
        command.Options.Add(Text("--loss", "output/loss pair: softmax-ce|sigmoid-ce|mse", d.Loss));
        command.Options.Add(Text("--optimizer", "sgd|momentum|nesterov|adam", d.Optimizer));
        command.Options.Add(Value("--lr", "learning rate α (≥ 0, no upper bound)", d.Lr));
        command.Options.Add(Value("--momentum", "μ for momentum/nesterov", d.Momentum));
        command.Options.Add(Value("--weight-decay", "L2 λ on weights (not biases)", d.WeightDecay));
        command.Options.Add(Value("--batch", "global batch size", d.Batch));
        command.Options.Add(Value<int>("--epochs", "epochs [default: 10; unbounded when --max-steps is given alone]"));
        command.Options.Add(Value<long>("--max-steps", "stop after this many steps (with --epochs: whichever ends first)"));
        command.Options.Add(Value("--seed", "seed for initialisation, shuffling and synthetic data", d.Seed));
        command.Options.Add(Flag("--no-shuffle", "batches are consecutive slices in file order"));
        command.Options.Add(Value("--test-split", "fraction in [0, 1) carved off as a test set when the data has none", d.TestSplit));
        command.Options.Add(Text("--lr-schedule", "learning-rate schedule, stepped per optimizer step: constant|step|cosine", d.LrSchedule));
        command.Options.Add(Value<int>("--lr-step-size", "step schedule: multiply the rate by --lr-gamma every N steps (after warmup)"));
        command.Options.Add(Value("--lr-gamma", "step schedule's factor", d.LrGamma));
        command.Options.Add(Value("--lr-min", "cosine schedule's final rate (eta_min)", d.LrMin));
        command.Options.Add(Value("--warmup-steps", "linear warmup over the first W steps, from --warmup-start-factor × --lr", d.WarmupSteps));
        command.Options.Add(Value("--warmup-start-factor", "warmup's first factor f in (0, 1]", d.WarmupStartFactor));
        command.Options.Add(Value<double>("--clip-grad-norm", "scale the mean gradient to this L2 norm when larger (torch clip_grad_norm_)"));
        command.Options.Add(Value("--val-split", "fraction in [0, 1) of the training rows held out for validation after every epoch", d.ValSplit));
        command.Options.Add(Value<int>("--early-stop", "stop when the validation loss has not improved for N epochs (needs --val-split)"));
        command.Options.Add(Text("--best-out", "write the model of the epoch with the lowest validation loss here (needs --val-split)"));
        command.Options.Add(Value("--dropout", "dropout probability p in [0, 1) on the hidden layers while training", d.Dropout));
        command.Options.Add(Value("--label-smoothing", "label smoothing ε in [0, 1) for softmax-ce", d.LabelSmoothing));
        command.Options.Add(Value<int>("--workers", "in-process workers [default: cores]"));
        command.Options.Add(Value<int>("--shards", "shards per step, fixed for the run [default: workers]"));
        command.Options.Add(Value<int>("--threads", "kernel threads per worker [default: max(1, cores / workers)]"));
        command.Options.Add(Text("--init", "start from the layers.{i}.weight/bias tensors of this safetensors file"));
        command.Options.Add(Text("--out", "write the final model (safetensors) here"));
        command.Options.Add(Text("--checkpoint-dir", "write resume checkpoints ckpt-{step}.safetensors here"));
        command.Options.Add(Value<int>("--checkpoint-every", "checkpoint every N steps [default: at each epoch end]"));
        command.Options.Add(Text("--resume", "continue from the newest valid checkpoint in DIR, or from FILE"));
        command.Options.Add(Text("--metrics", "one row per step to file.csv or file.jsonl"));
        command.Options.Add(Text("--plot", "loss/accuracy curves (test figures per epoch) to file.svg|file.png at the end"));
        command.Options.Add(Text("--onnx", "also write the final model as ONNX (input [N, in], output probabilities [N, K]) to file.onnx"));
        command.Options.Add(Text("--tensorboard", "write TensorBoard event files (train/loss, train/accuracy, lr, test/… per epoch) into DIR"));
        AddCommon(command);
    }

    /// <summary>--plain and --verbose, accepted by every command.</summary>
    public static void AddCommon(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(Flag("--plain", "plain log lines instead of the live view"));
        command.Options.Add(Flag("--verbose", "show stack traces of runtime failures"));
    }

    /// <summary>The security options of the cluster commands (docs/security.md); <paramref name="coordinator"/>: --join-token, else --join and --service-port.</summary>
    public static void AddSecurity(Command command, bool coordinator)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(Text("--state-dir", "keys, certificates and tokens of this node, owner-only [default: ~/.distbackprop]"));
        if (coordinator)
        {
            command.Options.Add(Text("--join-token", "also accept this join token (dbp1.ID.SECRET), e.g. one a compose file shares"));
        }
        else
        {
            command.Options.Add(Text("--join", "enrol with this token from the coordinator's `join:` line (or `distbackprop token create`)"));
            command.Options.Add(Value<int>("--service-port", "the coordinator's service port, for enrolment [default: the seed port + 1]"));
        }

        command.Options.Add(Text("--tls-cert", "bring your own PEM certificate of this node (with --tls-key and --tls-ca)"));
        command.Options.Add(Text("--tls-key", "its PEM private key"));
        command.Options.Add(Text("--tls-ca", "the cluster CA's PEM certificate"));
        command.Options.Add(Flag("--insecure", "plain TCP without TLS or authentication (closed networks only)"));
    }

    /// <summary>The options given explicitly on the command line, as configuration strings keyed by <see cref="OptionsBinder.KeyOf"/>.</summary>
    public static Dictionary<string, string?> CommandLineValues(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var r in parseResult.CommandResult.Children.OfType<OptionResult>())
        {
            if (r.Implicit)
            {
                continue;
            }

            var key = OptionsBinder.KeyOf(r.Option.Name);
            values[key] = r.Tokens.Count == 0 ? "true" : r.Tokens[^1].Value;
        }

        return values;
    }

    public static Option<string> Text(string name, string description, string? shownDefault = null) =>
        shownDefault is null
            ? new Option<string>(name) { Description = description }
            : new Option<string>(name) { Description = description, DefaultValueFactory = _ => shownDefault };

    public static Option<T> Value<T>(string name, string description, T shownDefault)
        where T : struct =>
        new(name) { Description = description, DefaultValueFactory = _ => shownDefault };

    public static Option<T?> Value<T>(string name, string description)
        where T : struct =>
        new(name) { Description = description };

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };
}
