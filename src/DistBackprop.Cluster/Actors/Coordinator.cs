/*
 * The coordinator: owns the weights and optimizer state (TrainingState from Core), deals each step's
 * shards to the live workers, collects one sum per shard, and completes the step through Core.
 * Leaves out: all float arithmetic (Core), Akka configuration (Hosting), checkpoint files (AfterStep hook).
 *
 * Distributed math contract (SPEC §3):
 *   - The initial parameters come from the coordinator; their order is fixed by the architecture
 *     (ParameterLayout), so a flat float[] means the same thing on every node.
 *   - Every global batch is split into S contiguous shards, S fixed for the run (TrainingConfig.Shards).
 *   - Each shard's gradient sum is computed whole by one worker (Core: ReferenceTrainer.ComputeShard),
 *     returned on its own and never pre-added with another shard.
 *   - The coordinator adds the S sums in shard order and divides by the global batch size
 *     (Core: ShardReduction.Reduce via TrainingState.CompleteStep), applies the optimizer, and sends the
 *     new weights with the next step's work.
 *   Hence the weights depend only on seed, data, hyperparameters and S: not on how many workers there
 *   are, which worker computed which shard, or which of them died on the way. With one worker this is
 *   exactly ReferenceTrainer (tested).
 *
 * Round protocol, one step:
 *   1. BeginStep gives the batch rows; shard s gets rows ShardRange(B, S, s). A GradientRound is made
 *      with one empty slot per shard, and a read-only snapshot of the weights (version = steps done).
 *   2. Shards are dealt round-robin to the ready workers sorted by id (shard s → worker s mod n), one
 *      ComputeShards per worker with the step, weights version, each shard's rows, and the weights when
 *      that worker does not have this version yet. Each shard gets a deadline.
 *   3. A worker replies one ShardComputed per shard (over the tcp tensor channel it streams the shard as parts, a layer
 *      at a time as its backprop finishes them; the channel's reader assembles them into one ShardComputed).
 *      A reply for another step is stale, a second reply
 *      for a filled slot a duplicate: both are dropped and counted. Any worker's reply fills an empty slot.
 *   4. A worker that terminates (DeathWatch) or becomes unreachable (cluster events) loses its unfilled
 *      shards; a shard past its deadline is taken from its silent worker. Those shards go to the live
 *      worker with the fewest pending shards. With no worker left the step pauses (logged) and resumes
 *      when one is ready; a worker that joins mid-step gets the weights with its first work.
 *   5. When every slot is full: TrainingState.CompleteStep(slots in shard order) → StepReport published,
 *      a checkpoint every CheckpointEvery steps (CheckpointStore, atomic) → CheckpointWritten, the AfterStep
 *      hook, then step 1 again, or TrainingCompleted when the run is over.
 *      A non-finite loss, gradient or weight → TrainingFailed with exit code 3, and no checkpoint for that step.
 *
 * Faults (docs/cluster-faults.md): a worker that leaves gracefully sends WorkerLeaving from its node's coordinated
 * shutdown; its shards are taken back at once (step 4) and it gets no more work. A dead node is first unreachable
 * (failure detector), then downed by the split brain resolver and removed (DeathWatch Terminated): the shards are
 * taken back at the first of these, or at the deadline if the worker is alive but silent.
 *
 * Buffers: the weights sent with a step are the state's current buffer, one of the two TrainingState alternates
 * between (the optimizer step reads one and writes the other), so dispatching copies nothing, and the buffer a step
 * was sent with is not written before the step after it completes (see ComputeShards); gradients that came through
 * the serializer go back to its TensorPool once reduced or dropped.
 *
 * Cores: the update runs on a KernelPool of CoordinatorSettings.UpdateThreads threads. Workers wait for the next
 * weights while it runs, so local mode gives it every core the workers use (workers × kernel threads), and a
 * cluster coordinator process the cores of its machine.
 */
using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

/// <summary>The training coordinator actor (normally at /user/coordinator). See the protocol comment at the top of the file.</summary>
public sealed class Coordinator : ReceiveActor, IWithTimers
{
    /// <summary>The actor name under /user, where workers look for it.</summary>
    public const string ActorName = "coordinator";

    private readonly CoordinatorSettings _settings;
    private readonly TrainingState _state;
    private readonly ModelDescriptor _model;
    private readonly int _maxShardRows;
    private readonly long _deadlineTicks;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, WorkerInfo> _workers = new();
    private readonly HashSet<IActorRef> _subscribers = new();
    private readonly Dictionary<IActorRef, (double ComputeMs, long Arrival, double SerializeMs)> _timing = new();
    private readonly TensorSerializer? _serializer;

    private readonly Core.Tensors.KernelPool _updatePool;
    private readonly Dictionary<string, long> _shardsByWorker = new(StringComparer.Ordinal);
    private readonly List<WorkerStatus> _departed = new();
    private ICoordinatorTransport _transport = AkkaCoordinatorTransport.Instance;
    private GradientRound? _round;
    private float[] _snapshot = [];
    private long _pausedSince;
    private bool _started;
    private bool _finished;
    private bool _stopRequested;
    private bool _pauseLogged;
    private long _runStart;
    private long _firstArrival;
    private TimeSpan _serializerAtDispatch;
    private long _stale;
    private long _duplicates;
    private long _reassigned;
    private long _timedOut;
    private StepReport? _last;

    public Coordinator(CoordinatorSettings settings)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _state = settings.State;
        _model = ModelDescriptor.From(_state.Config.Spec);
        _maxShardRows = Math.Max(1, (_state.Config.BatchSize + _state.Config.Shards - 1) / _state.Config.Shards);
        _deadlineTicks = (long)(settings.ShardDeadline.TotalSeconds * Stopwatch.Frequency);
        _serializer = TensorSerializer.For(Context.System);
        _updatePool = settings.UpdateThreads > 1 ? new Core.Tensors.KernelPool(settings.UpdateThreads) : Core.Tensors.KernelPool.Single;

        Receive<RegisterWorker>(HandleRegister);
        Receive<WorkerReady>(HandleReady);
        Receive<ShardComputed>(HandleShardComputed);
        Receive<ChannelGradient>(m => HandleShardComputed(m.Reply)); // tensor channel: sender = the worker
        Receive<ChannelOpened>(HandleChannelOpened);
        Receive<ChannelClosed>(HandleChannelClosed);
        Receive<Terminated>(HandleTerminated);
        Receive<DeadlineTick>(_ => HandleDeadlineTick());
        Receive<StatusTick>(_ => Publish(Status()));
        Receive<StopTraining>(m => m.IsLocal, _ => HandleStop()); // only this process's own StopTraining.Instance
        Receive<WorkerLeaving>(HandleLeaving);
        Receive<WorkDeclined>(HandleDeclined);
        Receive<SubscribeProgress>(_ => HandleSubscribe());
        Receive<ClusterEvent.UnreachableMember>(m => HandleReachability(m.Member.Address, reachable: false));
        Receive<ClusterEvent.ReachableMember>(m => HandleReachability(m.Member.Address, reachable: true));
        Receive<ClusterEvent.IMemberEvent>(HandleMemberEvent);
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private static bool IsClustered => ((ExtendedActorSystem)Context.System).Provider is ClusterActorRefProvider;

    /// <summary>Props for a coordinator with these settings.</summary>
    public static Props Props(CoordinatorSettings settings) => Akka.Actor.Props.Create(() => new Coordinator(settings));

    protected override void PreStart()
    {
        var tick = TimeSpan.FromTicks(Math.Clamp(_settings.ShardDeadline.Ticks / 4, TimeSpan.FromMilliseconds(20).Ticks, TimeSpan.FromSeconds(1).Ticks));
        Timers.StartPeriodicTimer("deadline", DeadlineTick.Instance, tick);
        Timers.StartPeriodicTimer("status", StatusTick.Instance, TimeSpan.FromSeconds(1));
        if (IsClustered)
        {
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.IMemberEvent));
        }

        StartTensorChannel();
        var c = _state.Config;
        var d = _settings.Dataset;
        _log.Info($"coordinator {_settings.CoordinatorId}: model {_model} ({c.Spec.ParameterCount} parameters), data {d.Source ?? "default"} ({d.Count} rows, fingerprint {d.Fingerprint}), " +
            $"batch {c.BatchSize}, shards {c.Shards}, kernels {_settings.KernelPath}; waiting for {_settings.MinWorkers} worker(s)");
    }

    protected override void PostStop()
    {
        _transport.Dispose();
        if (_updatePool != Core.Tensors.KernelPool.Single)
        {
            _updatePool.Dispose();
        }

        if (IsClustered)
        {
            Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        }
    }

    // ---- registration ----------------------------------------------------------------------

    private void HandleRegister(RegisterWorker m)
    {
        if (_workers.TryGetValue(Sender, out var known))
        {
            Sender.Tell(Accepted(Sender)); // e.g. registering again after its tensor channel broke
            return;
        }

        if (m.Model is not null && !m.Model.Equals(_model))
        {
            Refuse(Sender, $"worker {m.WorkerId} refused: its architecture {m.Model} differs from the coordinator's {_model}");
            return;
        }

        if (m.DatasetFingerprint is not null && m.DatasetFingerprint != _settings.Dataset.Fingerprint)
        {
            Refuse(Sender, $"worker {m.WorkerId} refused: its dataset fingerprint {m.DatasetFingerprint} differs from the coordinator's {_settings.Dataset.Fingerprint} ({_settings.Dataset.Source ?? "default data"}, seed {_settings.Dataset.DataSeed})");
            return;
        }

        if (!string.Equals(m.KernelPath, _settings.KernelPath, StringComparison.Ordinal))
        {
            _log.Warning("worker {0} runs kernel path {1}, the coordinator {2}: shard sums may differ in the last bits", m.WorkerId, m.KernelPath, _settings.KernelPath);
        }

        _workers[Sender] = new WorkerInfo(Sender, m.WorkerId);
        Context.Watch(Sender);
        _log.Info("worker {0} registered ({1} threads, kernels {2}) from {3}", m.WorkerId, m.Threads, m.KernelPath, Sender.Path.Address);
        Sender.Tell(Accepted(Sender));
    }

    private RegistrationAccepted Accepted(IActorRef worker) =>
        new(_settings.CoordinatorId, _model, _settings.Dataset, _maxShardRows, _settings.KernelPath, _transport.Admit(worker, _workers.TryGetValue(worker, out var wi) ? wi.Id : ""));

    private void HandleReady(WorkerReady m)
    {
        if (!_workers.TryGetValue(Sender, out var w))
        {
            _log.Warning("WorkerReady from unregistered {0} ignored", Sender.Path);
            return;
        }

        if (m.DatasetFingerprint != _settings.Dataset.Fingerprint)
        {
            _workers.Remove(Sender);
            Context.Unwatch(Sender);
            Refuse(Sender, $"worker {w.Id} refused: the dataset it loaded has fingerprint {m.DatasetFingerprint}, the coordinator's is {_settings.Dataset.Fingerprint} ({_settings.Dataset.Source ?? "default data"}, seed {_settings.Dataset.DataSeed})");
            return;
        }

        w.DataReady = true;
        if (!_transport.IsOpen(Sender))
        {
            _log.Info("worker {0} has its data; waiting for its tensor channel", w.Id);
            return; // HandleChannelOpened goes on
        }

        BecomeLive(w);
    }

    private void BecomeLive(WorkerInfo w)
    {
        if (w.Ready)
        {
            return; // WorkerReady and ChannelOpened both lead here; the second changes nothing
        }

        w.Ready = true;
        Notice("info", $"worker {w.Id} ready; {LiveCount()} worker(s) live");
        if (_finished)
        {
            w.Ref.Tell(new TrainingFinished(_state.Step));
            return;
        }

        if (!_started)
        {
            if (LiveCount() >= _settings.MinWorkers)
            {
                _started = true;
                _runStart = Stopwatch.GetTimestamp();
                DispatchStep();
            }

            return;
        }

        AssignUnassigned();
    }

    private void Refuse(IActorRef worker, string reason)
    {
        _log.Warning(reason);
        worker.Tell(new RegistrationRefused(reason));
        Notice("warning", reason);
    }

    // ---- the round ---------------------------------------------------------------------------

    private void DispatchStep()
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

        // the state's current weights buffer: read-only until step Step + 1 completes (TrainingState.Parameters), shared
        // by every ComputeShards of this step (see ComputeShards)
        _snapshot = _state.Parameters;

        _timing.Clear();
        _firstArrival = 0;
        _serializerAtDispatch = _serializer?.Elapsed ?? TimeSpan.Zero;
        _round = new GradientRound(plan.Step, indices, Stopwatch.GetTimestamp());

        var live = LiveWorkers();
        if (live.Count == 0)
        {
            LogPause();
            return;
        }

        // shard s → live[s mod n]
        var dealt = new List<int>[live.Count];
        for (var s = 0; s < indices.Length; s++)
        {
            (dealt[s % live.Count] ??= []).Add(s);
        }

        for (var k = 0; k < live.Count; k++)
        {
            if (dealt[k] is { } shards)
            {
                Send(live[k], shards);
            }
        }
    }

    private void Send(WorkerInfo w, List<int> shards)
    {
        var round = _round!;
        var version = _state.Step;
        var deadline = Stopwatch.GetTimestamp() + _deadlineTicks;
        var work = new ShardWork[shards.Count];
        for (var i = 0; i < work.Length; i++)
        {
            round.Assign(shards[i], w.Ref, w.Id, deadline);
            work[i] = round.Work(shards[i]);
        }

        var weights = w.WeightsVersion == version ? null : _transport.SendWeights(w.Ref, version, _snapshot); // null when it went over the tensor channel
        w.WeightsVersion = version;
        w.Ref.Tell(new ComputeShards(round.Step, version, work, weights), Self);
    }

    /// <summary>Gives <paramref name="shards"/> (already released) to the live workers with the fewest pending shards.</summary>
    private void Reassign(List<int> shards, IActorRef? avoid)
    {
        if (_round is null || shards.Count == 0)
        {
            return;
        }

        var live = LiveWorkers();
        if (live.Count > 1 && avoid is not null)
        {
            live.RemoveAll(w => w.Ref.Equals(avoid));
        }

        if (live.Count == 0)
        {
            LogPause();
            return;
        }

        var pending = live.Select(w => _round.PendingCount(w.Ref)).ToArray();
        var dealt = new List<int>[live.Count];
        foreach (var s in shards)
        {
            var best = 0;
            for (var k = 1; k < live.Count; k++)
            {
                if (pending[k] < pending[best])
                {
                    best = k;
                }
            }

            pending[best]++;
            (dealt[best] ??= []).Add(s);
        }

        for (var k = 0; k < live.Count; k++)
        {
            if (dealt[k] is { } list)
            {
                _log.Info("step {0}: shard(s) {1} → worker {2}", _round.Step, string.Join(',', list), live[k].Id);
                Send(live[k], list);
            }
        }
    }

    private void AssignUnassigned()
    {
        if (_round is null)
        {
            return;
        }

        var open = _round.Unassigned().ToList();
        if (open.Count > 0 && LiveCount() > 0)
        {
            if (_pauseLogged)
            {
                _pauseLogged = false;
                var paused = _pausedSince == 0 ? 0 : Stopwatch.GetElapsedTime(_pausedSince).TotalSeconds;
                Notice("info", $"step {_round.Step}: resuming with {LiveCount()} worker(s) after {paused:0.0} s without any");
                Publish(new TrainingResumed(_round.Step, LiveCount(), paused));
            }

            Reassign(open, null);
        }
    }

    private void HandleShardComputed(ShardComputed m)
    {
        if (_workers.TryGetValue(Sender, out var replying))
        {
            replying.LastReply = Stopwatch.GetTimestamp();
        }

        if (_round is null || m.Step != _round.Step)
        {
            _stale++;
            _log.Debug("stale reply for step {0} shard {1} from {2} dropped ({3} so far)", m.Step, m.Shard, Sender.Path, _stale);
            _serializer?.Pool.Return(m.Gradient); // unread: in process it may be the worker's buffer, already reused
            return;
        }

        if (m.Gradient.Length != _state.Config.Spec.ParameterCount)
        {
            _log.Error("step {0} shard {1} from {2}: {3} gradient values, the model has {4}; dropped", m.Step, m.Shard, Sender.Path, m.Gradient.Length, _state.Config.Spec.ParameterCount);
            _serializer?.Pool.Return(m.Gradient);
            return;
        }

        var id = _workers.TryGetValue(Sender, out var w) ? w.Id : Sender.Path.ToString();
        switch (_round.Accept(m.Step, m.Shard, id, new GradientSum(m.Gradient, m.LossSum, m.Samples, m.Correct)))
        {
            case AcceptResult.Stale:
                _stale++;
                _serializer?.Pool.Return(m.Gradient);
                return;
            case AcceptResult.Duplicate:
                _duplicates++;
                _log.Debug("duplicate reply for step {0} shard {1} from {2} dropped ({3} so far)", m.Step, m.Shard, id, _duplicates);
                _serializer?.Pool.Return(m.Gradient);
                return;
        }

        _shardsByWorker[id] = _shardsByWorker.GetValueOrDefault(id) + 1;
        if (w is not null)
        {
            w.Shards++;
            w.ComputeMs += m.ComputeMs;
        }

        var now = Stopwatch.GetTimestamp();
        _firstArrival = _firstArrival == 0 ? now : _firstArrival;
        _timing.TryGetValue(Sender, out var t);
        _timing[Sender] = (t.ComputeMs + m.ComputeMs, now, Math.Max(t.SerializeMs, m.SerializeMs));
        if (_round.IsComplete)
        {
            CompleteStep(now);
        }
    }

    private void CompleteStep(long now)
    {
        var round = _round!;
        StepOutcome outcome;
        try
        {
            // the new weights go into the state's other buffer, the one of step Step − 1, which they replace now anyway
            outcome = _state.CompleteStep(round.SlotsInShardOrder(), _updatePool);
        }
        catch (TrainingDivergedException e)
        {
            Fail(e.Message, 3, e.Step);
            return;
        }
        catch (Exception e)
        {
            Fail($"step {round.Step} failed: {e.Message}", 1, round.Step);
            return;
        }

        if (_serializer is { } serializer)
        {
            foreach (var slot in round.SlotsInShardOrder())
            {
                serializer.Pool.Return(slot.Gradient); // reduced: ours no more (arrays of in-process workers are ignored)
            }
        }

        _timedOut += round.TimedOutCount;
        _reassigned += round.ReassignedCount;
        var report = Report(outcome, round, now);
        _last = report;
        Publish(report);
        if (!Checkpoint())
        {
            return;
        }

        try
        {
            _settings.AfterStep?.Invoke(_state, report);
            if (_settings.AfterStepEvent?.Invoke(_state, report) is { } extra)
            {
                Publish(extra);
            }
        }
        catch (Exception e)
        {
            Fail($"after step {round.Step}: {e.Message}", 1, round.Step);
            return;
        }

        DispatchStep();
    }

    private StepReport Report(StepOutcome o, GradientRound round, long now)
    {
        static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        var wall = Ms(now - round.DispatchTimestamp);
        double compute = 0, workerSerialize = 0, criticalCompute = 0;
        long lastArrival = 0;
        foreach (var (_, t) in _timing)
        {
            compute = Math.Max(compute, t.ComputeMs);
            workerSerialize = Math.Max(workerSerialize, t.SerializeMs);
            if (t.Arrival >= lastArrival)
            {
                lastArrival = t.Arrival;
                criticalCompute = t.ComputeMs;
            }
        }

        var serialize = ((_serializer?.Elapsed ?? TimeSpan.Zero) - _serializerAtDispatch).TotalMilliseconds + workerSerialize;
        var transport = Math.Max(0, Ms(lastArrival - round.DispatchTimestamp) - criticalCompute - serialize);
        var wait = Math.Max(0, wall - compute - serialize - transport);
        return new StepReport(o.Step, o.Epoch, o.Loss, o.Accuracy, wall > 0 ? o.Samples * 1000.0 / wall : 0, LiveCount(),
            compute, serialize, transport, wait, o.Samples, round.ReassignedCount, _stale, _duplicates, round.TimedOutCount, _reassigned);
    }

    /// <summary>Writes a resume checkpoint when this step is due one; false (run failed, exit 1) when it cannot be written.</summary>
    private bool Checkpoint()
    {
        var every = _settings.CheckpointEvery;
        if (every <= 0 || _settings.CheckpointDirectory is not { } directory || _state.Step % every != 0)
        {
            return true;
        }

        var start = Stopwatch.GetTimestamp();
        try
        {
            var d = _settings.Dataset;
            var metadata = new List<KeyValuePair<string, string>>
            {
                new("data_source", d.Source ?? ""),
                new("data_seed", d.DataSeed.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("data_fingerprint", d.Fingerprint),
            };
            metadata.AddRange(_settings.CheckpointMetadata ?? []);
            var path = CheckpointStore.Save(directory, _state, metadata);
            var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            _log.Info("step {0}: checkpoint {1} ({2:0.0} ms)", _state.Step, path, ms);
            Publish(new CheckpointWritten(_state.Step, path, ms));
            return true;
        }
        catch (Exception e) when (e is CheckpointException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            Fail($"could not write the checkpoint after step {_state.Step} into {directory}: {e.Message}", 1, _state.Step);
            return false;
        }
    }

    // ---- tensor channel (docs/tensor-channel.md) -------------------------------------------------

    private void StartTensorChannel()
    {
        if (_settings.TensorChannel is not { } options || _serializer is null)
        {
            return;
        }

        try
        {
            var publicHost = options.PublicHost ?? (IsClustered ? Akka.Cluster.Cluster.Get(Context.System).SelfAddress.Host : null) ?? options.BindHost;
            var channel = new TcpCoordinatorChannel(options with { PublicHost = publicHost }, _state.Config.Spec.ParameterCount, _serializer.Pool, Self, _log);
            _transport = channel;
            _log.Info("coordinator {0}: tensor channel listening on {1}:{2} (advertised as {3})", _settings.CoordinatorId, options.BindHost, channel.Port, publicHost);
        }
        catch (IOException e)
        {
            Fail(e.Message, 2, 0);
        }
    }

    private void HandleChannelOpened(ChannelOpened m)
    {
        var known = _workers.TryGetValue(m.Worker, out var w);
        if (!_transport.Opened(m, wanted: known) || w is null)
        {
            return;
        }

        w.WeightsVersion = -1; // a new connection has no weights yet
        if (w.DataReady)
        {
            BecomeLive(w);
        }
    }

    /// <summary>A broken tensor channel is a failed worker: its shards go to others; it is live again once it registered and reconnected.</summary>
    private void HandleChannelClosed(ChannelClosed m)
    {
        if (!_transport.Closed(m) || !_workers.TryGetValue(m.Worker, out var w))
        {
            return;
        }

        w.Ready = false;
        w.DataReady = false; // live again only after it registered, reconnected and said WorkerReady over the new channel
        w.WeightsVersion = -1;
        Notice("warning", $"worker {w.Id}: tensor channel closed ({m.Reason}); {LiveCount()} worker(s) live");
        TakeBack(m.Worker, "tensor channel closed");
    }

    // ---- failures ------------------------------------------------------------------------------

    private void HandleTerminated(Terminated t)
    {
        if (_subscribers.Remove(t.ActorRef))
        {
            return;
        }

        if (!_workers.Remove(t.ActorRef, out var w))
        {
            return;
        }

        w.Failures += TakeBack(t.ActorRef, "worker terminated");
        Depart(w);
        Notice("warning", $"worker {w.Id} left; {LiveCount()} worker(s) live");
    }

    private void HandleLeaving(WorkerLeaving m)
    {
        Sender.Tell(new LeaveAcknowledged(_round?.Step ?? _state.Step));
        if (!_workers.Remove(Sender, out var w))
        {
            return;
        }

        Context.Unwatch(Sender);
        Notice("info", $"worker {w.Id} is leaving (hands back shard(s) [{string.Join(',', m.Shards)}] of step {m.Step}); {LiveCount()} worker(s) live");
        TakeBack(Sender, "worker leaving"); // a graceful leave: not counted as a failure
        Depart(w);
    }

    private void HandleDeclined(WorkDeclined m)
    {
        if (!_workers.TryGetValue(Sender, out var w) || _round is null || _round.Step != m.Step)
        {
            return; // a step already completed (or a worker already gone): nothing to take back
        }

        w.WeightsVersion = -1; // send the weights again with its next work
        var declined = _round.PendingOf(Sender).Where(m.Shards.Contains).ToList();
        foreach (var s in declined)
        {
            _round.Release(s, "declined", timedOut: false);
        }

        if (declined.Count > 0)
        {
            _log.Warning("step {0}: worker {1} lacks weights version {2}; reassigning shard(s) {3}", m.Step, w.Id, m.WeightsVersion, string.Join(',', declined));
            Reassign(declined, Sender);
        }
    }

    private void HandleReachability(Address address, bool reachable)
    {
        foreach (var w in _workers.Values.Where(w => w.Ref.Path.Address.Equals(address)).ToList())
        {
            if (w.Reachable == reachable)
            {
                continue;
            }

            w.Reachable = reachable;
            w.Failures += reachable ? 0 : 1;
            Notice(reachable ? "info" : "warning", $"worker {w.Id} is {(reachable ? "reachable again" : "unreachable")}; {LiveCount()} worker(s) live");
            if (reachable)
            {
                w.WeightsVersion = -1;
                AssignUnassigned();
            }
            else
            {
                w.Failures += TakeBack(w.Ref, "worker unreachable");
            }
        }
    }

    private void HandleMemberEvent(ClusterEvent.IMemberEvent e)
    {
        if (e is ClusterEvent.MemberUp up)
        {
            _log.Info("member up: {0} roles [{1}]", up.Member.Address, string.Join(',', up.Member.Roles));
        }
        else if (e is ClusterEvent.MemberRemoved removed)
        {
            _log.Info("member removed: {0} (was {1})", removed.Member.Address, removed.PreviousStatus);
            foreach (var w in _workers.Values.Where(w => w.Ref.Path.Address.Equals(removed.Member.Address)).ToList())
            {
                // normally DeathWatch says so too; whichever comes first takes the shards back
                _workers.Remove(w.Ref);
                w.Failures += TakeBack(w.Ref, "worker removed from the cluster");
                Depart(w);
                Notice("warning", $"worker {w.Id} removed from the cluster; {LiveCount()} worker(s) live");
            }
        }
    }

    /// <summary>Takes back the worker's unfilled shards of this step and deals them again; returns how many.</summary>
    private int TakeBack(IActorRef worker, string reason)
    {
        if (_round is null)
        {
            return 0;
        }

        var pending = _round.PendingOf(worker).ToList();
        foreach (var s in pending)
        {
            _round.Release(s, reason, timedOut: false);
        }

        if (pending.Count > 0)
        {
            _log.Warning("step {0}: {1}; reassigning shard(s) {2}", _round.Step, reason, string.Join(',', pending));
            Reassign(pending, worker);
        }

        return pending.Count;
    }

    private void HandleDeadlineTick()
    {
        if (_round is null)
        {
            return;
        }

        var expired = _round.Expired(Stopwatch.GetTimestamp()).ToList();
        foreach (var group in expired.GroupBy(s => _round.AssigneeOf(s)!))
        {
            var id = _workers.TryGetValue(group.Key, out var w) ? w.Id : group.Key.Path.ToString();
            var list = group.ToList();
            foreach (var s in list)
            {
                _round.Release(s, "deadline", timedOut: true);
            }

            if (w is not null)
            {
                w.WeightsVersion = -1; // it may have missed the weights: resend them with its next work
                w.Failures += list.Count;
            }

            _log.Warning("step {0}: worker {1} silent for {2:0.#} s on shard(s) {3}; reassigning", _round.Step, id, _settings.ShardDeadline.TotalSeconds, string.Join(',', list));
            Reassign(list, group.Key);
        }
    }

    private void LogPause()
    {
        if (!_pauseLogged)
        {
            _pauseLogged = true;
            _pausedSince = Stopwatch.GetTimestamp();
            var reason = $"no live worker: step {_round?.Step} paused until a worker registers";
            Notice("warning", reason);
            Publish(new TrainingPaused(_round?.Step ?? _state.Step + 1, reason));
        }
    }

    // ---- the end -------------------------------------------------------------------------------

    private void HandleStop()
    {
        _stopRequested = true;
        if (!_started || _round is null)
        {
            Finish();
        }
    }

    private void HandleSubscribe()
    {
        _subscribers.Add(Sender);
        Context.Watch(Sender);
        Sender.Tell(Status());
        if (_last is not null)
        {
            Sender.Tell(_last);
        }
    }

    private void Finish()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        _round = null;
        var elapsed = _runStart == 0 ? 0 : Stopwatch.GetElapsedTime(_runStart).TotalSeconds;
        var summary = new TrainingSummary(_state.Step, _state.Epoch, _last?.Loss ?? double.NaN, _last?.Accuracy ?? double.NaN, elapsed,
            _reassigned, _timedOut, _stale, _duplicates, _stopRequested && !_state.IsFinished,
            _shardsByWorker.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new WorkerShardCount(p.Key, p.Value)).ToArray());
        _log.Info($"training {(summary.Stopped ? "stopped" : "completed")} after {summary.Steps} steps in {elapsed:0.0} s (reassigned {_reassigned}, timed out {_timedOut}, stale {_stale}, duplicates {_duplicates})");
        Publish(Status()); // the members table's final figures
        Publish(new TrainingCompleted(_state.Parameters.ToArray(), summary));
        TellWorkers(new TrainingFinished(_state.Step));
    }

    private void Fail(string reason, int exitCode, long step)
    {
        _finished = true;
        _round = null;
        _log.Error(reason);
        Publish(new TrainingFailed(reason, exitCode, step));
        TellWorkers(new TrainingFinished(_state.Step));
    }

    private void TellWorkers(object message)
    {
        foreach (var w in _workers.Keys)
        {
            w.Tell(message);
        }
    }

    private void Notice(string level, string message)
    {
        if (level == "warning")
        {
            _log.Warning(message);
        }
        else
        {
            _log.Info(message);
        }

        Publish(new TrainingNotice(level, message, LiveCount()));
        Publish(Status());
    }

    /// <summary>The run's length and every worker's figures (ClusterStatus), live workers by id, then the last few that left.</summary>
    private ClusterStatus Status()
    {
        var now = Stopwatch.GetTimestamp();
        var members = _workers.Values.OrderBy(w => w.Id, StringComparer.Ordinal).Select(w => w.Status(now)).Concat(_departed).ToArray();
        var c = _state.Config;
        var total = _state.TotalSteps == long.MaxValue ? 0 : _state.TotalSteps;
        return new ClusterStatus(_state.Step, _state.Epoch, total, _state.StepsPerEpoch, c.Epochs ?? 0, c.BatchSize, _model.ToString(), members);
    }

    private void Depart(WorkerInfo w)
    {
        _departed.Insert(0, w.Status(Stopwatch.GetTimestamp()) with { State = "left" });
        if (_departed.Count > 4)
        {
            _departed.RemoveAt(_departed.Count - 1);
        }
    }

    private void Publish(ITrainingEvent e)
    {
        try
        {
            _settings.Events?.Invoke(e);
        }
        catch (Exception ex)
        {
            _log.Error(ex, "event callback failed on {0}", e.GetType().Name);
        }

        foreach (var s in _subscribers)
        {
            s.Tell(TrainingEvents.ForSubscriber(e, s)); // the final weights stay on this node
        }
    }

    private int LiveCount() => _workers.Values.Count(w => w.Ready && w.Reachable);

    /// <summary>Ready, reachable workers in a fixed order (by id, then path): the dealing order.</summary>
    private List<WorkerInfo> LiveWorkers() => _workers.Values.Where(w => w.Ready && w.Reachable)
        .OrderBy(w => w.Id, StringComparer.Ordinal).ThenBy(w => w.Ref.Path.ToString(), StringComparer.Ordinal).ToList();

    private sealed class WorkerInfo(IActorRef actor, string id)
    {
        public IActorRef Ref { get; } = actor;

        public string Id { get; } = id;

        /// <summary>Live: has its data, and its tensor channel is open (Akka transport: always).</summary>
        public bool Ready { get; set; }

        /// <summary>Sent WorkerReady (has its data and workspace).</summary>
        public bool DataReady { get; set; }

        public bool Reachable { get; set; } = true;

        /// <summary>The weights version we last sent it (−1: it has none we know of).</summary>
        public long WeightsVersion { get; set; } = -1;

        // for the members table (ClusterStatus)
        public long Shards { get; set; }

        public double ComputeMs { get; set; }

        public long LastReply { get; set; } = Stopwatch.GetTimestamp();

        public int Failures { get; set; }

        public WorkerStatus Status(long now) => new(Id, Ref.Path.Address.HasLocalScope ? "in process" : Ref.Path.Address.ToString(), !Ready ? "joining" : Reachable ? "ready" : "unreachable",
            Shards, Shards > 0 ? ComputeMs / Shards : 0, Stopwatch.GetElapsedTime(LastReply, now).TotalSeconds, Failures);
    }

    private sealed class StatusTick : INoSerializationVerificationNeeded
    {
        public static readonly StatusTick Instance = new();
    }

    private sealed class DeadlineTick : INoSerializationVerificationNeeded
    {
        public static readonly DeadlineTick Instance = new();
    }
}
