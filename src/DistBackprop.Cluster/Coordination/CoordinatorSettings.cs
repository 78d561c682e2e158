// What a coordinator needs to run: the training state it will own, the dataset it trains on (as a
// descriptor workers can load), and the knobs of the round protocol. Leaves out: Akka configuration.
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Coordination;

/// <summary>Settings of a coordinator (its <see cref="CoordinatorMachine"/>). The coordinator owns <see cref="State"/> from Props creation on.</summary>
public sealed record CoordinatorSettings
{
    /// <summary>Parameters, optimizer state and data position (fresh, or restored from a checkpoint by the caller).</summary>
    public required TrainingState State { get; init; }

    /// <summary>The training set workers must use (its fingerprint is checked).</summary>
    public required DatasetDescriptor Dataset { get; init; }

    public string CoordinatorId { get; init; } = "coordinator";

    /// <summary>The float32 kernel path (Gemm.KernelPath); workers on another path are warned about (SPEC §3).</summary>
    public string KernelPath { get; init; } = Gemm.KernelPath;

    /// <summary>Workers that must be ready before step 1 (`--min-workers`); later the run goes on with whoever is alive.</summary>
    public int MinWorkers { get; init; } = 1;

    /// <summary>Kernel threads for the optimizer update after each step (TrainingState.CompleteStep); any count gives the same
    /// bits. The workers wait while it runs, so it may use their cores: local mode sets workers × kernel threads.</summary>
    public int UpdateThreads { get; init; } = 1;

    /// <summary>
    /// `--fan-in K`: with more than K live workers at a step's start, the coordinator deals at most K pieces of the reduction
    /// tree to groups of workers that relay the weights and add partial sums among themselves (docs/aggregation.md), so it
    /// sends at most K weight copies and receives at most K sums per step. 0: off, every worker talks to the coordinator.
    /// </summary>
    public int FanIn { get; init; }

    /// <summary>A shard not back by then is taken from its worker and dealt to another (a late reply from the first no longer counts).</summary>
    public TimeSpan ShardDeadline { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Called on the coordinator's thread for every event; keep it short (e.g. post to a channel or Tell).</summary>
    public Action<ITrainingEvent>? Events { get; init; }

    /// <summary>
    /// `--checkpoint-dir`: where the coordinator writes resume checkpoints (CheckpointWriter, through Core's CheckpointStore:
    /// ckpt-{step:D8}.safetensors, atomic, with optimizer state and data position) — after every <see cref="CheckpointEvery"/>-th
    /// step, or at each epoch's end when that is 0, and once more when the run ends. Null: none. A diverged step is never
    /// checkpointed, so the newest file is always the last good state.
    /// </summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>`--checkpoint-every`: steps between checkpoints (checkpoint when the completed step count is a multiple); 0 = at epoch ends.</summary>
    public int CheckpointEvery { get; init; }

    /// <summary>Extra metadata for every checkpoint, asked at each write (e.g. the host's run description); must not contradict
    /// the store's own keys. The coordinator adds data_source, data_seed and data_fingerprint itself.</summary>
    public Func<TrainingState, IEnumerable<KeyValuePair<string, string>>>? CheckpointMetadata { get; init; }

    /// <summary>Called on the coordinator's thread after each step, before the next is dispatched (checkpoints, metrics).
    /// An exception fails the run (exit code 1).</summary>
    public Action<TrainingState, StepReport>? AfterStep { get; init; }

    /// <summary>Called right after <see cref="AfterStep"/>; a non-null event (e.g. <see cref="EpochEvaluated"/> with the
    /// host's test figures) is published like the coordinator's own: to <see cref="Events"/> and to subscribers (monitors).</summary>
    public Func<TrainingState, StepReport, ITrainingEvent?>? AfterStepEvent { get; init; }

    /// <summary>Cluster mode with the TCP tensor transport: where to listen for workers' tensor channels (docs/tensor-channel.md).
    /// Null: weights and gradients travel inside the Akka messages (local mode, `--tensor-transport akka`).</summary>
    public Channel.TensorChannelOptions? TensorChannel { get; init; }

    /// <summary>Checks what can be checked before starting; a message naming the option, or null.</summary>
    public string? Validate() =>
        CheckpointEvery < 0 ? $"--checkpoint-every must be 0 or more (got {CheckpointEvery})"
        : CheckpointEvery > 0 && string.IsNullOrWhiteSpace(CheckpointDirectory) ? "--checkpoint-every needs --checkpoint-dir"
        : UpdateThreads < 1 ? $"the coordinator needs at least 1 update thread (got {UpdateThreads})"
        : MinWorkers < 1 ? $"--min-workers must be at least 1 (got {MinWorkers})"
        : ShardDeadline <= TimeSpan.Zero ? $"the shard deadline must be positive (got {ShardDeadline})"
        : FanIn < 0 ? $"--fan-in must be 0 (off) or at least 1 (got {FanIn})"
        : null;
}
