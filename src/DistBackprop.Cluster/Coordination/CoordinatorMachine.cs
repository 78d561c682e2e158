/*
 * The coordinator as a plain state machine: no actors, sockets or clocks of its own. The actor shell
 * (Actors/Coordinator.cs) and the simulation test call one event method per message or timer; the machine changes
 * its state and gives commands through ICoordinatorOutbox. It owns the weights and optimizer state (Core's
 * TrainingState) and calls Core for every number. Leaves out: Akka, transports, console output.
 *
 * Distributed math contract (SPEC §3): the initial parameters come from here, in ParameterLayout order; every global
 * batch is split into S contiguous shards (S fixed for the run); each shard's gradient sum is computed whole by one
 * worker and never pre-added with another (except, by an aggregator, the shards of a whole subtree); the S sums are
 * added along the fixed reduction tree over shard indices (Core: ReductionTree) and divided by the global batch size
 * (Core: TrainingState.CompleteStep); the optimizer runs here and the new weights go out with the next step's work.
 * Hence the weights depend only on seed, data, hyperparameters and S, never on which worker computed what.
 *
 * Round protocol, one step:
 *   1. Start gate: the first step begins when MinWorkers workers are live (WorkerRegistry: data ready, channel open,
 *      reachable). After that the run goes on with whoever is live.
 *   2. BeginStep: TrainingState gives the batch rows; a GradientRound is made with one empty slot per shard, and the
 *      state's current weights buffer is the step's snapshot (version = completed steps).
 *   3. Dealing (ShardDealer): every unassigned shard goes to the live worker holding the fewest unfilled shards, never
 *      back to the worker it was just taken from while another is live; one ComputeShards per worker, with the weights
 *      when that worker does not hold this version yet, and a deadline per shard. With --fan-in K and more than K live
 *      workers the step's slots are instead at most K pieces of the reduction tree, each dealt to a group of workers
 *      arranged as a tree (AggregationPlanner; CoordinatorMachine.Tree.cs); a piece taken back goes to one worker alone.
 *   4. Replies (GradientRound.Classify): a reply for another step is stale, one for a filled slot a duplicate, one from
 *      anyone but the shard's current assignee (or, with a tensor channel, not over that worker's channel) foreign: all
 *      three are dropped, counted, and their buffers returned. The assignee's reply must cover exactly its shard's rows
 *      and be finite, else it is refused, the worker marked failed and its shards taken back (step 5); a second
 *      non-finite result for the same shard is believed, so a real divergence still ends the run (exit 3).
 *   5. Losing a worker — terminated, removed, unreachable, its channel closed, it left, it declined, or a shard passed
 *      its deadline — takes its unfilled shards back (Release); step 3 deals them again. With no live worker the
 *      step pauses (TrainingPaused) and resumes when one becomes live (TrainingResumed).
 *   6. When every slot is full: TrainingState.CompleteStep(slots) → StepReport; the host's AfterStep hooks (an epoch's
 *      evaluation, early stopping); the checkpoint when one is due (CheckpointWriter); then step 2 again, or Finish
 *      when the run is over (or stopped early) or a stop was asked for. A non-finite loss, gradient or weight →
 *      TrainingFailed, exit code 3, no checkpoint.
 *   7. Stop: before the first step or while paused, at once; otherwise after the step in progress, or at the latest
 *      one shard deadline after the request. Finish writes the final checkpoint and publishes TrainingCompleted.
 * Every event method ends in Advance(), which applies rules 1, 3, 5 (pause/resume), 6 and 7 to the state as it is
 * now — so no event path can forget one (a worker that blinks unreachable before step 1 cannot hang the start).
 */
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Coordination;

/// <summary>The coordinator's state machine. Single-threaded: every call on one thread (the actor's, or the simulation's).</summary>
public sealed partial class CoordinatorMachine
{
    private readonly CoordinatorSettings _settings;
    private readonly TrainingState _state;
    private readonly ICoordinatorOutbox _out;
    private readonly TimeProvider _time;
    private readonly KernelPool _updatePool;
    private readonly bool _usesChannel;
    private readonly ModelDescriptor _model;
    private readonly int _maxShardRows;
    private readonly long _deadlineTicks;
    private readonly WorkerRegistry _workers = new();
    private readonly StepTimer _timer;
    private readonly CheckpointWriter _checkpoints;
    private readonly Dictionary<string, long> _shardsByWorker = new(StringComparer.Ordinal);
    private readonly List<WorkerEntry> _live = new();
    private readonly List<int> _shards = new();
    private List<int>[] _dealt = [];
    private int[] _pending = [];
    private int[] _avoid = [];
    private Phase _phase;
    private GradientRound? _round;
    private float[] _snapshot = [];
    private int[][] _shardIndices = []; // the step's rows per shard (aggregation rounds deal shards of pieces)
    private bool _stopRequested;
    private long _stopRequestedAt;
    private bool _paused;
    private long _pausedSince;
    private long _runStart;
    private long _stale;
    private long _duplicates;
    private long _foreign;
    private long _rejected;
    private long _reassigned;
    private long _timedOut;

    /// <param name="settings">The run; the machine owns settings.State from now on.</param>
    /// <param name="outbox">Where commands go.</param>
    /// <param name="time">The clock (deadlines, timings); a simulated one in tests.</param>
    /// <param name="updatePool">Kernel threads for the optimizer update (any count gives the same bits).</param>
    /// <param name="usesChannel">Tensors travel over a tensor channel: a worker is live only once its channel is open.</param>
    /// <param name="serializerElapsed">Time this node's tensor serializer has spent so far (for the time split), or null.</param>
    public CoordinatorMachine(CoordinatorSettings settings, ICoordinatorOutbox outbox, TimeProvider time, KernelPool updatePool, bool usesChannel,
        Func<TimeSpan>? serializerElapsed = null)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _out = outbox ?? throw new ArgumentNullException(nameof(outbox));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _updatePool = updatePool ?? throw new ArgumentNullException(nameof(updatePool));
        _state = settings.State;
        _usesChannel = usesChannel;
        _model = ModelDescriptor.From(_state.Config.Spec);
        _maxShardRows = Math.Max(1, (_state.Config.BatchSize + _state.Config.Shards - 1) / _state.Config.Shards);
        _deadlineTicks = (long)(settings.ShardDeadline.TotalSeconds * time.TimestampFrequency);
        _timer = new StepTimer(time.TimestampFrequency, serializerElapsed);
        _checkpoints = new CheckpointWriter(settings.CheckpointDirectory, settings.CheckpointEvery, settings.Dataset, settings.CheckpointMetadata, _state.Step);
    }

    private enum Phase
    {
        /// <summary>Before step 1: waiting for MinWorkers live workers.</summary>
        Waiting,

        /// <summary>A step is in progress (possibly paused with no live worker).</summary>
        Running,

        /// <summary>Completed, stopped or failed: nothing more happens.</summary>
        Over,
    }

    /// <summary>The step in progress, or the last completed one (what LeaveAcknowledged reports).</summary>
    public long CurrentStep => _round?.Step ?? _state.Step;

    public bool IsOver => _phase == Phase.Over;

    /// <summary>The step in progress (null between runs, before the start and after the end). For tests and diagnostics.</summary>
    public GradientRound? Round => _round;

    public int LiveCount => _workers.LiveCount();

    /// <summary>The last step's report (a new subscriber gets it).</summary>
    public StepReport? LastReport { get; private set; }

    /// <summary>Replies dropped so far: for another step, for a filled slot, from a worker that did not hold the shard, and
    /// refused (malformed or not finite) from the one that did.</summary>
    public (long Stale, long Duplicates, long Foreign, long Refused) DroppedReplies => (_stale, _duplicates, _foreign, _rejected);

    private long Now => _time.GetTimestamp();

    /// <summary>The machine is in place: say what it trains, and start if no worker is needed yet.</summary>
    public void Start()
    {
        var c = _state.Config;
        var d = _settings.Dataset;
        _out.Log(LogSeverity.Info, $"coordinator {_settings.CoordinatorId}: model {_model} ({c.Spec.ParameterCount} parameters), data {d.Source ?? "default"} ({d.Count} rows, fingerprint {d.Fingerprint}), " +
            $"batch {c.BatchSize}, shards {c.Shards}, kernels {_settings.KernelPath}; waiting for {_settings.MinWorkers} worker(s)");
        Advance();
    }

    /// <summary>Stop after the step in progress (at once before the first step or while paused). Only the local host may ask.</summary>
    public void Stop()
    {
        if (!_stopRequested)
        {
            _stopRequested = true;
            _stopRequestedAt = Now;
        }

        Advance();
    }

    /// <summary>The periodic timer: deadlines, and the stop grace.</summary>
    public void Tick()
    {
        TakeBackExpired();
        if (_stopRequested && _phase == Phase.Running && _time.GetElapsedTime(_stopRequestedAt) > _settings.ShardDeadline)
        {
            _out.Log(LogSeverity.Warning, $"step {_round?.Step}: still incomplete {_settings.ShardDeadline.TotalSeconds:0.#} s after the stop request; stopping after step {_state.Step}");
            Finish();
        }

        Advance();
    }

    /// <summary>The rules that hold after every event (see the protocol above): start, deal, pause/resume, complete, stop.</summary>
    private void Advance()
    {
        switch (_phase)
        {
            case Phase.Waiting when _stopRequested:
                Finish();
                break;
            case Phase.Waiting when _workers.LiveCount() >= _settings.MinWorkers:
                _phase = Phase.Running;
                _runStart = Now;
                BeginStep();
                break;
            case Phase.Running when _round is { IsComplete: true }:
                CompleteStep();
                break;
            case Phase.Running:
                Deal();
                if (_paused && _stopRequested)
                {
                    Finish();
                }

                break;
        }
    }

    private void BeginStep()
    {
        if (_stopRequested || _state.IsFinished)
        {
            Finish();
            return;
        }

        var plan = _state.BeginStep();
        var indices = new int[plan.Shards][];
        for (var s = 0; s < indices.Length; s++)
        {
            indices[s] = plan.ShardIndices(s).ToArray();
        }

        // the state's current weights buffer: read-only until step Step + 1 completes (TrainingState.Parameters)
        _snapshot = _state.Parameters;
        _timer.Begin();
        _workers.Live(_live);
        if (_settings.FanIn > 0 && _live.Count > _settings.FanIn)
        {
            BeginTreeRound(plan.Step, indices); // CoordinatorMachine.Tree.cs
            return;
        }

        _round = new GradientRound(plan.Step, indices, Now);
        Deal();
    }

    /// <summary>Rule 3 and 5: deal every unassigned shard to the live workers, or pause when there are none.</summary>
    private void Deal()
    {
        var round = _round!;
        _shards.Clear();
        round.Unassigned(_shards);
        if (_shards.Count == 0)
        {
            return;
        }

        _workers.Live(_live);
        if (_live.Count == 0)
        {
            Pause();
            return;
        }

        if (_paused)
        {
            _paused = false;
            var seconds = _time.GetElapsedTime(_pausedSince).TotalSeconds;
            Notice(LogSeverity.Info, $"step {round.Step}: resuming with {_live.Count} worker(s) after {seconds:0.0} s without any");
            _out.Publish(new TrainingResumed(round.Step, _live.Count, seconds));
        }

        EnsureScratch(_live.Count);
        for (var k = 0; k < _live.Count; k++)
        {
            _pending[k] = round.PendingCount(_live[k].Handle);
        }

        var redeal = false; // shards taken back from someone (not the step's first deal): worth a log line
        for (var i = 0; i < _shards.Count; i++)
        {
            var from = round.LostFrom(_shards[i]);
            redeal |= !from.IsNone;
            _avoid[i] = -1;
            for (var k = 0; k < _live.Count; k++)
            {
                _avoid[i] = _live[k].Handle == from ? k : _avoid[i];
            }
        }

        ShardDealer.Deal(_shards, _avoid, _pending, _live.Count, _dealt);
        for (var k = 0; k < _live.Count; k++)
        {
            if (_dealt[k].Count > 0)
            {
                if (redeal)
                {
                    _out.Log(LogSeverity.Info, $"step {round.Step}: shard(s) {string.Join(',', _dealt[k])} → worker {_live[k].Id}");
                }

                Send(_live[k], _dealt[k]);
            }
        }
    }

    private void Send(WorkerEntry w, List<int> shards)
    {
        var round = _round!;
        if (!round.IsStar)
        {
            foreach (var piece in shards)
            {
                SendSolo(w, piece); // a piece taken back from its group: one worker computes all of it
            }

            return;
        }

        var version = _state.Step;
        var deadline = Now + _deadlineTicks;
        var work = new ShardWork[shards.Count];
        for (var i = 0; i < work.Length; i++)
        {
            round.Assign(shards[i], w.Handle, w.Id, deadline);
            work[i] = round.Work(shards[i]);
        }

        var weights = w.WeightsVersion == version ? null : _snapshot;
        w.WeightsVersion = version;
        _out.SendWork(w.Handle, new ComputeShards(round.Step, version, work, null), weights);
    }

    private void Pause()
    {
        if (!_paused)
        {
            _paused = true;
            _pausedSince = Now;
            var reason = $"no live worker: step {_round!.Step} paused until a worker registers";
            Notice(LogSeverity.Warning, reason);
            _out.Publish(new TrainingPaused(_round.Step, reason));
        }
    }

    private void EnsureScratch(int workers)
    {
        if (_dealt.Length < workers)
        {
            _dealt = [.. _dealt, .. Enumerable.Range(0, workers - _dealt.Length).Select(_ => new List<int>())];
            _pending = new int[workers];
        }

        if (_avoid.Length < _state.Config.Shards)
        {
            _avoid = new int[_state.Config.Shards];
        }
    }
}
