// The settings of `train` (and, later, `coordinator`), with their defaults. Every property can
// come from, in increasing precedence: these defaults, appsettings.json (section "DistBackprop",
// next to the executable, then in the current directory), environment variables and the command line.
// Mapping (the .NET configuration convention, "__" = section separator, names case-insensitive):
//   property WeightDecay  ↔  --weight-decay  ↔  DISTBACKPROP__WEIGHTDECAY  ↔  { "DistBackprop": { "WeightDecay": 0.01 } }
// Leaves out: parsing and validation (OptionsBinder, TrainingOptionsValidator).
namespace DistBackprop.Host.Configuration;

/// <summary>Options of <c>distbackprop train</c>. Null means "derived" (see each setting).</summary>
public sealed class TrainingOptions
{
    /// <summary>--data: synthetic name, "mnist", an IDX folder or a .csv file; null = the embedded digits. Env: DISTBACKPROP__DATA.</summary>
    public string? Data { get; set; }

    /// <summary>--layers "784,128,10", input first; null = [features, 128, classes] from the data (or the --init shapes). Env: DISTBACKPROP__LAYERS.</summary>
    public string? Layers { get; set; }

    /// <summary>--activation relu|leaky-relu|sigmoid|tanh. Env: DISTBACKPROP__ACTIVATION.</summary>
    public string Activation { get; set; } = "relu";

    /// <summary>--loss softmax-ce|sigmoid-ce|mse. Env: DISTBACKPROP__LOSS.</summary>
    public string Loss { get; set; } = "softmax-ce";

    /// <summary>--optimizer sgd|momentum|nesterov|adam. Env: DISTBACKPROP__OPTIMIZER.</summary>
    public string Optimizer { get; set; } = "sgd";

    /// <summary>--lr learning rate α, ≥ 0, no upper bound. Env: DISTBACKPROP__LR.</summary>
    public double Lr { get; set; } = 0.1;

    /// <summary>--momentum μ for momentum/nesterov, in [0, 1). Env: DISTBACKPROP__MOMENTUM.</summary>
    public double Momentum { get; set; } = 0.9;

    /// <summary>--weight-decay λ (L2 on weights, not biases), ≥ 0. Env: DISTBACKPROP__WEIGHTDECAY.</summary>
    public double WeightDecay { get; set; }

    /// <summary>--batch global batch size B, 1 ≤ B ≤ training samples. Env: DISTBACKPROP__BATCH.</summary>
    public int Batch { get; set; } = 64;

    /// <summary>--epochs; null = 10, or unbounded when --max-steps is given alone. Env: DISTBACKPROP__EPOCHS.</summary>
    public int? Epochs { get; set; }

    /// <summary>--max-steps; with --epochs, whichever ends first. Env: DISTBACKPROP__MAXSTEPS.</summary>
    public long? MaxSteps { get; set; }

    /// <summary>--seed for initialisation, shuffling and synthetic data. Env: DISTBACKPROP__SEED.</summary>
    public long Seed { get; set; } = 1;

    /// <summary>--no-shuffle: batches are consecutive slices in file order. Env: DISTBACKPROP__NOSHUFFLE=true.</summary>
    public bool NoShuffle { get; set; }

    /// <summary>--test-split F in [0, 1): carve a test set off a dataset that has none. Env: DISTBACKPROP__TESTSPLIT.</summary>
    public double TestSplit { get; set; }

    /// <summary>--lr-schedule constant|step|cosine, stepped once per optimizer step (README "Training options"). Env: DISTBACKPROP__LRSCHEDULE.</summary>
    public string LrSchedule { get; set; } = "constant";

    /// <summary>--lr-step-size N: the step schedule multiplies the rate by --lr-gamma every N steps (after warmup). Env: DISTBACKPROP__LRSTEPSIZE.</summary>
    public int? LrStepSize { get; set; }

    /// <summary>--lr-gamma G, the step schedule's factor (torch StepLR's gamma). Env: DISTBACKPROP__LRGAMMA.</summary>
    public double LrGamma { get; set; } = 0.1;

    /// <summary>--lr-min, the cosine schedule's floor (torch CosineAnnealingLR's eta_min). Env: DISTBACKPROP__LRMIN.</summary>
    public double LrMin { get; set; }

    /// <summary>--warmup-steps W: the first W steps ramp the rate linearly from f·lr (torch LinearLR). Env: DISTBACKPROP__WARMUPSTEPS.</summary>
    public int WarmupSteps { get; set; }

    /// <summary>--warmup-start-factor f in (0, 1] (torch LinearLR's start_factor). Env: DISTBACKPROP__WARMUPSTARTFACTOR.</summary>
    public double WarmupStartFactor { get; set; } = 1.0 / 3;

    /// <summary>--clip-grad-norm X: scale the mean gradient to norm X when larger (torch clip_grad_norm_); null = off. Env: DISTBACKPROP__CLIPGRADNORM.</summary>
    public double? ClipGradNorm { get; set; }

    /// <summary>--val-split F in [0, 1): hold out F of the training rows, evaluated after every epoch. Env: DISTBACKPROP__VALSPLIT.</summary>
    public double ValSplit { get; set; }

    /// <summary>--early-stop N: stop when the validation loss has not improved for N epochs (needs --val-split). Env: DISTBACKPROP__EARLYSTOP.</summary>
    public int? EarlyStop { get; set; }

    /// <summary>--best-out file.safetensors: the model of the epoch with the lowest validation loss (needs --val-split). Env: DISTBACKPROP__BESTOUT.</summary>
    public string? BestOut { get; set; }

    /// <summary>--dropout p in [0, 1): inverted dropout on the hidden layers while training. Env: DISTBACKPROP__DROPOUT.</summary>
    public double Dropout { get; set; }

    /// <summary>--label-smoothing ε in [0, 1) (softmax-ce): target (1 − ε)·one-hot + ε/K. Env: DISTBACKPROP__LABELSMOOTHING.</summary>
    public double LabelSmoothing { get; set; }

    /// <summary>--workers in-process worker actors; null = the number of cores. Env: DISTBACKPROP__WORKERS.</summary>
    public int? Workers { get; set; }

    /// <summary>--shards S per step (SPEC §3); null = the number of workers. Env: DISTBACKPROP__SHARDS.</summary>
    public int? Shards { get; set; }

    /// <summary>--threads kernel threads per worker; null = max(1, cores / workers). Env: DISTBACKPROP__THREADS.</summary>
    public int? Threads { get; set; }

    /// <summary>--init safetensors file with layers.{i}.weight/bias to start from. Env: DISTBACKPROP__INIT.</summary>
    public string? Init { get; set; }

    /// <summary>--out safetensors file for the final model. Env: DISTBACKPROP__OUT.</summary>
    public string? Out { get; set; }

    /// <summary>--checkpoint-dir for resume checkpoints ckpt-{step:D8}.safetensors. Env: DISTBACKPROP__CHECKPOINTDIR.</summary>
    public string? CheckpointDir { get; set; }

    /// <summary>--checkpoint-every N steps (needs --checkpoint-dir); null = at each epoch end. A checkpoint is also written at the end. Env: DISTBACKPROP__CHECKPOINTEVERY.</summary>
    public int? CheckpointEvery { get; set; }

    /// <summary>--resume DIR|FILE: continue from the newest valid checkpoint there. Env: DISTBACKPROP__RESUME.</summary>
    public string? Resume { get; set; }

    /// <summary>--metrics file.csv|file.jsonl, one row per step. Env: DISTBACKPROP__METRICS.</summary>
    public string? Metrics { get; set; }

    /// <summary>--plot file.svg|file.png: loss/accuracy curves drawn at the end (ScottPlot). Env: DISTBACKPROP__PLOT.</summary>
    public string? Plot { get; set; }

    /// <summary>--onnx file.onnx: the final model as ONNX (probabilities out), written at the end, atomically. Env: DISTBACKPROP__ONNX.</summary>
    public string? Onnx { get; set; }

    /// <summary>--tensorboard DIR: TensorBoard event files with the coordinator's scalars. Env: DISTBACKPROP__TENSORBOARD.</summary>
    public string? Tensorboard { get; set; }

    /// <summary>--plain: plain log lines instead of the live view. Env: DISTBACKPROP__PLAIN.</summary>
    public bool Plain { get; set; }

    /// <summary>--verbose: stack traces on runtime failures. Env: DISTBACKPROP__VERBOSE.</summary>
    public bool Verbose { get; set; }
}
