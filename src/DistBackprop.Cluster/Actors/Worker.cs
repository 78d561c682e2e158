// A worker actor: holds its dataset, an Mlp<float> workspace and a KernelPool, and computes the shards
// the coordinator sends, one GradientSum per shard (never pre-added), with the same Core call as the
// reference loop. Computation runs on a thread-pool task piped back to Self, one shard at a time (the
// workspace is single-threaded), so the mailbox keeps answering; a shard too small to be worth two thread
// hand-offs (InlineWork) runs on the actor's thread instead. In-process (local mode) every shard runs on the
// actor's thread, one of the dedicated threads the workers share with the coordinator, so the reply leaves
// without a hand-off. With the tcp tensor channel the compute task
// streams the shard's gradient itself, a layer at a time as backprop finishes it (GradientStreamer: last layer
// first, layer 0 with the stats as the last part), so the transfer overlaps the rest of backprop; with the Akka
// transport the actor sends one ShardComputed per shard when it is done. Gradient buffers are reused: a reply's
// buffer is free again once work for a later step arrives (the ownership rule on ShardComputed; a streamed buffer,
// even of a failed or stale shard, is lent the same way because the sender thread may still read it), so a worker
// holds at most the shards of two steps. When its node shuts down (coordinated shutdown) it hands its shards
// back (WorkerLeaving) before leaving the cluster. Leaves out: math (Core), joining the cluster (Hosting), and
// deciding anything about the run (the coordinator decides).
using System.Diagnostics;
using Akka;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

/// <summary>
/// Registration: RegisterWorker → RegistrationAccepted (load data, build workspace) → WorkerReady.
/// Work: ComputeShards → per shard, in order: ShardComputed. Work of an older step still queued is dropped
/// when newer work arrives. Coordinator gone: in-process the worker stops; in a cluster it looks for the next one.
/// </summary>
public sealed class Worker : ReceiveActor, IWithTimers
{
    public const string CoordinatorRole = "coordinator";

    /// <summary>
    /// Shards of at most this many rows × parameters (≈ 3 multiply-adds each, ~0.1 ms on one core) are computed on the
    /// actor's own thread: for them, handing the work to a task and the result back costs more than the work.
    /// </summary>
    public const long InlineWork = 1L << 21;

    private readonly WorkerSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<Job> _queue = new();
    private readonly HashSet<Address> _coordinatorNodes = new();
    private readonly TensorSerializer? _serializer;
    private readonly KernelPool _pool;
    private readonly Stack<GradientSum> _freeSums = new();
    private readonly List<(long Step, GradientSum Sum)> _lentSums = new();
    private readonly List<float[]> _retiredWeights = new();
    private readonly List<ComputeShards> _parked = new(); // tensor channel: work waiting for its weights version

    private IActorRef? _coordinator;
    private RegistrationAccepted? _accepted;
    private Dataset? _data;
    private Mlp<float>? _mlp;
    private float[]? _weights;
    private long _weightsVersion = -1;
    private long _latestStep;
    private bool _busy;
    private bool _refused;
    private long _searchSince = Stopwatch.GetTimestamp();
    private TimeSpan _serializerReported;
    private Job? _running;
    private bool _leaving;
    private IActorRef? _leaveRequester;
    private TcpWorkerChannel? _channel;
    private GradientStreamer? _streamer;
    private bool _finished;

    public Worker(WorkerSettings settings)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _pool = new KernelPool(Math.Max(1, settings.Threads));
        _serializer = TensorSerializer.For(Context.System);

        Receive<RegistrationAccepted>(HandleAccepted);
        Receive<RegistrationRefused>(HandleRefused);
        Receive<DataLoaded>(HandleDataLoaded);
        Receive<ComputeShards>(HandleCompute);
        Receive<ShardDone>(HandleShardDone);
        Receive<WorkerChannelConnected>(HandleChannelConnected);
        Receive<WeightsArrived>(HandleWeightsArrived);
        Receive<WorkerChannelLost>(HandleChannelLost);
        Receive<TrainingFinished>(m =>
        {
            _finished = true;
            _queue.Clear();
            _log.Info("worker {0}: training finished after {1} steps", _settings.WorkerId, m.Steps);
        });
        Receive<Terminated>(HandleTerminated);
        Receive<LeaveRequest>(_ => HandleLeaveRequest());
        Receive<LeaveAcknowledged>(_ => LeaveDone());
        Receive<LeaveTimeout>(_ => LeaveDone());
        Receive<RetryTick>(_ => Retry());
        Receive<ClusterEvent.MemberUp>(m => MemberSeen(m.Member));
        Receive<ClusterEvent.MemberRemoved>(m => _coordinatorNodes.Remove(m.Member.Address));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.CurrentClusterState>(s =>
        {
            foreach (var m in s.Members.Where(m => m.Status == MemberStatus.Up))
            {
                MemberSeen(m);
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(WorkerSettings settings) => Akka.Actor.Props.Create(() => new Worker(settings));

    protected override void PreStart()
    {
        _log.Info("worker {0}: {1} thread(s), kernels {2}, model {3}, data {4}", _settings.WorkerId, _pool.Threads, _settings.KernelPath,
            _settings.Model?.ToString() ?? "from the coordinator", _settings.Dataset?.Name ?? "from the coordinator");
        if (_settings.Coordinator is null)
        {
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        }

        Timers.StartPeriodicTimer("register", RetryTick.Instance, _settings.RegisterRetry);
        Retry();
        if (_settings.Coordinator is null)
        {
            // Graceful leave: before the node leaves the cluster, hand the shards back so the step does not wait for a deadline.
            // Not when the node was downed (the coordinator is unreachable from here then).
            var self = Self;
            var wait = _settings.LeaveTimeout + TimeSpan.FromSeconds(1);
            var system = Context.System;
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeClusterShutdown, "distbackprop-hand-back-shards", async () =>
            {
                if (CoordinatedShutdown.Get(system).ShutdownReason is CoordinatedShutdown.ClusterDowningReason)
                {
                    return Done.Instance;
                }

                try
                {
                    await self.Ask<Done>(LeaveRequest.Instance, wait).ConfigureAwait(false);
                }
                catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or ActorNotFoundException)
                {
                }

                return Done.Instance;
            });
        }
    }

    protected override void PostStop()
    {
        if (_settings.Coordinator is null)
        {
            Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        }

        _channel?.Dispose();
        _pool.Dispose();
    }

    private RegisterWorker Registration() =>
        new(_settings.WorkerId, _settings.KernelPath, _settings.Model, _settings.Dataset?.Fingerprint, _pool.Threads);

    private void MemberSeen(Member m)
    {
        if (m.HasRole(CoordinatorRole) && _coordinatorNodes.Add(m.Address))
        {
            _log.Info("worker {0}: coordinator node up at {1}", _settings.WorkerId, m.Address);
            Retry();
        }
    }

    /// <summary>Until accepted: (re)send the registration to every known coordinator; warn now and then.</summary>
    private void Retry()
    {
        if (_accepted is not null || _refused)
        {
            return;
        }

        if (_settings.Coordinator is { } local)
        {
            local.Tell(Registration());
            return;
        }

        foreach (var address in _coordinatorNodes)
        {
            Context.ActorSelection(new RootActorPath(address) / "user" / Coordinator.ActorName).Tell(Registration());
        }

        if (Stopwatch.GetElapsedTime(_searchSince) > _settings.SearchWarning)
        {
            _searchSince = Stopwatch.GetTimestamp();
            _log.Warning("worker {0}: no coordinator yet ({1}); still trying", _settings.WorkerId,
                _coordinatorNodes.Count == 0 ? "no member with role coordinator is up" : $"no answer from {string.Join(", ", _coordinatorNodes)}");
        }
    }

    private void HandleAccepted(RegistrationAccepted m)
    {
        if (_accepted is not null || _refused)
        {
            return; // an answer to a retry
        }

        _accepted = m;
        _finished = false;
        _coordinator = Sender;
        Context.Watch(Sender);
        if (!string.Equals(m.KernelPath, _settings.KernelPath, StringComparison.Ordinal))
        {
            _log.Warning("worker {0}: kernel path {1} differs from the coordinator's {2}", _settings.WorkerId, _settings.KernelPath, m.KernelPath);
        }

        ModelSpec spec;
        try
        {
            spec = m.Model.ToSpec();
        }
        catch (Exception e)
        {
            Refused($"worker {_settings.WorkerId}: the coordinator's model {m.Model} is not usable: {e.Message}");
            return;
        }

        if (_mlp is null || !_mlp.Spec.Equals(spec) || _mlp.MaxRows < m.MaxShardRows)
        {
            _mlp = new Mlp<float>(spec, m.MaxShardRows, _pool);
            _streamer = new GradientStreamer(spec.Layout);
        }

        _log.Info("worker {0}: accepted by {1}: model {2}, data {3} (fingerprint {4})", _settings.WorkerId, m.CoordinatorId, m.Model, m.Dataset.Source ?? "default", m.Dataset.Fingerprint);
        if (_settings.Dataset is { } own)
        {
            Self.Tell(new DataLoaded(m.Dataset, own, null));
        }
        else if (_data is not null && _data.Fingerprint == m.Dataset.Fingerprint)
        {
            Self.Tell(new DataLoaded(m.Dataset, _data, null));
        }
        else if (_settings.LoadDataset is { } load)
        {
            var descriptor = m.Dataset;
            Task.Run(() => load(descriptor)).ContinueWith(
                t => new DataLoaded(descriptor, t.IsCompletedSuccessfully ? t.Result : null, t.Exception?.GetBaseException().Message),
                TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
        }
        else
        {
            Refused($"worker {_settings.WorkerId} has no dataset and no way to load the coordinator's ({m.Dataset.Source ?? "default"})");
        }
    }

    private void HandleDataLoaded(DataLoaded m)
    {
        if (_accepted is null || _coordinator is null || !ReferenceEquals(m.For, _accepted.Dataset))
        {
            return;
        }

        if (m.Data is null)
        {
            Refused($"worker {_settings.WorkerId} could not load the dataset {m.For.Source ?? "default"}: {m.Error}");
            return;
        }

        if (m.Data.FeatureCount != _mlp!.Spec.Inputs || m.Data.Classes > _mlp.Spec.Outputs)
        {
            Refused($"worker {_settings.WorkerId}: dataset {m.Data.Name} ({m.Data.FeatureCount} features, {m.Data.Classes} classes) does not fit model {_accepted.Model}");
            return;
        }

        _data = m.Data;
        if (_accepted.TensorChannel is { } endpoint)
        {
            ConnectChannel(endpoint); // WorkerReady once it is up
            return;
        }

        _coordinator.Tell(new WorkerReady(_settings.WorkerId, _data.Fingerprint));
    }

    // ---- tensor channel (docs/tensor-channel.md) ------------------------------------------------

    private void ConnectChannel(TensorChannelEndpoint endpoint)
    {
        if (_serializer is null)
        {
            Refused($"worker {_settings.WorkerId}: the coordinator asks for a tensor channel, but this node has no tensor pool");
            return;
        }

        _channel?.Dispose();
        _channel = null;
        var (pool, self, parameters) = (_serializer.Pool, Self, _mlp!.Spec.ParameterCount);
        TcpWorkerChannel.ConnectAsync(endpoint, parameters, pool, self, _settings.Tls).ContinueWith(
            t => new WorkerChannelConnected(endpoint, t.IsCompletedSuccessfully ? t.Result : null, t.Exception?.GetBaseException().Message),
            TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
    }

    private void HandleChannelConnected(WorkerChannelConnected m)
    {
        if (_accepted is null || _coordinator is null || _data is null || !ReferenceEquals(m.For, _accepted.TensorChannel))
        {
            m.Channel?.Dispose(); // an answer to an older registration
            return;
        }

        if (m.Channel is null)
        {
            _log.Warning("worker {0}: cannot open the tensor channel to {1}:{2} ({3}); registering again", _settings.WorkerId, m.For.Host, m.For.Port, m.Error);
            _accepted = null; // the register timer tries again
            return;
        }

        _channel = m.Channel;
        _settings.ChannelConnected?.Invoke(m.Channel.Socket);
        _log.Info("worker {0}: tensor channel open to {1}:{2}", _settings.WorkerId, m.For.Host, m.For.Port);
        _coordinator.Tell(new WorkerReady(_settings.WorkerId, _data.Fingerprint));
    }

    private void HandleWeightsArrived(WeightsArrived m)
    {
        if (!ReferenceEquals(m.Channel, _channel) || m.Version <= _weightsVersion)
        {
            _serializer?.Pool.Return(m.Weights);
            return;
        }

        if (_weights is not null)
        {
            _retiredWeights.Add(_weights);
        }

        (_weights, _weightsVersion) = (m.Weights, m.Version);
        var parked = _parked.ToList();
        _parked.Clear();
        foreach (var work in parked.Where(p => p.WeightsVersion >= m.Version))
        {
            Accept(work); // parks again what needs a newer version; work for older versions is stale
        }

        ReturnRetiredWeights();
    }

    /// <summary>A broken channel: the coordinator counts this worker as failed, so drop the work and register again (new channel).</summary>
    private void HandleChannelLost(WorkerChannelLost m)
    {
        if (!ReferenceEquals(m.Channel, _channel))
        {
            return;
        }

        _log.Log(_finished ? LogLevel.InfoLevel : LogLevel.WarningLevel, $"worker {_settings.WorkerId}: tensor channel lost ({m.Reason}); registering again");
        _channel = null;
        _parked.Clear();
        _queue.Clear();
        if (_weights is not null)
        {
            _retiredWeights.Add(_weights);
        }

        (_weights, _weightsVersion) = (null, -1);
        ReturnRetiredWeights();
        _accepted = null;
        Retry();
    }

    private void HandleRefused(RegistrationRefused m)
    {
        if (_accepted is not null && !Sender.Equals(_coordinator))
        {
            return;
        }

        Refused(m.Reason);
    }

    private void Refused(string reason)
    {
        if (_refused)
        {
            return;
        }

        _refused = true;
        _accepted = null;
        _queue.Clear();
        _channel?.Dispose();
        _channel = null;
        Timers.CancelAll();
        _log.Error("{0}", reason);
        _settings.OnRefused?.Invoke(reason);
    }

    private void HandleCompute(ComputeShards m)
    {
        if (_leaving)
        {
            Sender.Tell(new WorkerLeaving(_settings.WorkerId, m.Step, m.Shards.Select(s => s.Shard).ToArray()));
            return;
        }

        ReleaseBuffersBefore(m.Step);
        if (_data is null || _mlp is null || !Sender.Equals(_coordinator))
        {
            _log.Warning("worker {0}: work for step {1} before being ready; dropped", _settings.WorkerId, m.Step);
            return;
        }

        Accept(m);
    }

    private void Accept(ComputeShards m)
    {
        if (m.Weights is not null)
        {
            if (_weights is not null && !ReferenceEquals(_weights, m.Weights))
            {
                _retiredWeights.Add(_weights);
            }

            _weights = m.Weights;
            _weightsVersion = m.WeightsVersion;
        }

        if (_channel is not null && m.WeightsVersion > _weightsVersion)
        {
            _parked.Add(m); // its weights are on the way over the tensor channel
            return;
        }

        if (m.WeightsVersion != _weightsVersion || _weights is null)
        {
            _log.Warning("worker {0}: step {1} needs weights version {2}, this worker has {3}; handed back to the coordinator",
                _settings.WorkerId, m.Step, m.WeightsVersion, _weightsVersion);
            _coordinator?.Tell(new WorkDeclined(_settings.WorkerId, m.Step, m.WeightsVersion, m.Shards.Select(s => s.Shard).ToArray()));
            return;
        }

        if (m.Step > _latestStep)
        {
            _latestStep = m.Step;
            while (_queue.Count > 0 && _queue.Peek().Step < m.Step)
            {
                _queue.Dequeue(); // work of a step the coordinator has already completed
            }
        }

        foreach (var shard in m.Shards)
        {
            _queue.Enqueue(new Job(m.Step, shard, _weights, _weightsVersion));
        }

        ReturnRetiredWeights();
        StartNext();
    }

    /// <summary>Replies of steps before <paramref name="step"/> have been reduced or dropped by the coordinator: their buffers are free.</summary>
    private void ReleaseBuffersBefore(long step)
    {
        for (var i = _lentSums.Count - 1; i >= 0; i--)
        {
            if (_lentSums[i].Step < step)
            {
                _freeSums.Push(_lentSums[i].Sum);
                _lentSums.RemoveAt(i);
            }
        }
    }

    /// <summary>Weights arrays no job uses any more go back to the serializer's pool (ignored unless they were deserialized here).</summary>
    private void ReturnRetiredWeights()
    {
        for (var i = _retiredWeights.Count - 1; i >= 0; i--)
        {
            var w = _retiredWeights[i];
            if (ReferenceEquals(_running?.Weights, w) || _queue.Any(j => ReferenceEquals(j.Weights, w)) || ReferenceEquals(_weights, w))
            {
                continue;
            }

            _serializer?.Pool.Return(w);
            _retiredWeights.RemoveAt(i);
        }
    }

    private void StartNext()
    {
        if (_busy || _queue.Count == 0)
        {
            return;
        }

        var job = _queue.Dequeue();
        var (mlp, data) = (_mlp!, _data!);
        var sum = _freeSums.Count > 0 && _freeSums.Peek().Gradient.Length == mlp.Spec.ParameterCount ? _freeSums.Pop() : new GradientSum(mlp.Spec.ParameterCount);
        var before = _settings.BeforeShard;
        // tcp transport: the compute task streams the gradient a layer at a time (docs/tensor-channel.md)
        var (channel, streamer) = _accepted?.TensorChannel is not null && _channel is not null ? (_channel, _streamer!) : (null, null);
        _busy = true;
        _running = job;
        if (before is null && (_settings.Coordinator is not null || (long)job.Work.Indices.Length * mlp.Spec.ParameterCount <= InlineWork))
        {
            // in-process, the worker has a dedicated thread of its own (AkkaBuilderExtensions.LocalDispatcher), and a small
            // shard costs less than the two thread hand-offs of a task: compute on the actor's thread
            ShardDone done;
            try
            {
                done = Compute();
            }
            catch (Exception e)
            {
                done = new ShardDone(job.Step, job.Work.Shard, null, 0, e.ToString(), sum, job.Version, Streamed: channel is not null);
            }

            HandleShardDone(done);
            return;
        }

        Task.Run(() =>
        {
            before?.Invoke(job.Step, job.Work.Shard);
            return Compute();
        }).ContinueWith(
            t => t.IsCompletedSuccessfully ? t.Result
                : new ShardDone(job.Step, job.Work.Shard, null, 0, t.Exception?.GetBaseException().ToString(), sum, job.Version, Streamed: channel is not null),
            TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);

        ShardDone Compute()
        {
            var start = Stopwatch.GetTimestamp();
            if (channel is null)
            {
                ReferenceTrainer.ComputeShard(mlp, job.Weights, data, job.Work.Indices, sum);
                return new ShardDone(job.Step, job.Work.Shard, sum, Stopwatch.GetElapsedTime(start).TotalMilliseconds, null, null, job.Version);
            }

            streamer!.Begin(channel, job.Step, job.Version, job.Work.Shard, sum.Gradient);
            try
            {
                ReferenceTrainer.ComputeShard(mlp, job.Weights, data, job.Work.Indices, sum, streamer);
            }
            catch
            {
                streamer.Cancel();
                throw;
            }

            var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            streamer.Finish(sum.LossSum, sum.Samples, sum.Correct, ms);
            return new ShardDone(job.Step, job.Work.Shard, sum, ms, null, null, job.Version, Streamed: true);
        }
    }

    private void HandleShardDone(ShardDone d)
    {
        _busy = false;
        _running = null;
        if (d.Sum is null)
        {
            _log.Error("worker {0}: step {1} shard {2} failed: {3}", _settings.WorkerId, d.Step, d.Shard, d.Error);
            if (d.Unused is not null && d.Streamed)
            {
                _lentSums.Add((d.Step, d.Unused)); // parts of it may still be on the sender's queue
            }
            else if (d.Unused is not null)
            {
                _freeSums.Push(d.Unused);
            }
        }
        else if (d.Streamed)
        {
            // already on the tensor channel, layer by layer (a stale one is dropped by the coordinator)
            _lentSums.Add((d.Step, d.Sum)); // free again when work for a later step arrives
        }
        else if (_accepted is { TensorChannel: null } && _coordinator is not null && d.Step >= _latestStep)
        {
            var serialized = _serializer?.Elapsed ?? TimeSpan.Zero;
            var serializeMs = (serialized - _serializerReported).TotalMilliseconds;
            _serializerReported = serialized;
            _coordinator.Tell(new ShardComputed(d.Step, d.Shard, d.Sum.Gradient, d.Sum.LossSum, d.Sum.Samples, d.Sum.Correct, d.ComputeMs, serializeMs));
            _lentSums.Add((d.Step, d.Sum)); // free again when work for a later step arrives
        }
        else
        {
            _freeSums.Push(d.Sum); // the coordinator has moved on (or is gone): the reply would be stale
        }

        ReturnRetiredWeights();
        StartNext();
    }

    private void HandleLeaveRequest()
    {
        _leaveRequester = Sender;
        if (_leaving)
        {
            return;
        }

        _leaving = true;
        if (_coordinator is null)
        {
            LeaveDone();
            return;
        }

        var shards = _queue.Select(j => j.Work.Shard).ToList();
        if (_running is { } r && r.Step == _latestStep)
        {
            shards.Insert(0, r.Work.Shard);
        }

        _queue.Clear();
        _log.Info("worker {0}: leaving; handing back shard(s) [{1}] of step {2}", _settings.WorkerId, string.Join(',', shards), _latestStep);
        _coordinator.Tell(new WorkerLeaving(_settings.WorkerId, _latestStep, shards.ToArray()));
        Timers.StartSingleTimer("leave", LeaveTimeout.Instance, _settings.LeaveTimeout);
    }

    private void LeaveDone()
    {
        Timers.Cancel("leave");
        _leaveRequester?.Tell(Done.Instance);
        _leaveRequester = null;
    }

    private void HandleTerminated(Terminated t)
    {
        if (!t.ActorRef.Equals(_coordinator))
        {
            return;
        }

        _coordinator = null;
        _accepted = null;
        _queue.Clear();
        _parked.Clear();
        _channel?.Dispose();
        _channel = null;
        ReleaseBuffersBefore(long.MaxValue); // nobody reads our replies any more
        _weights = null;
        _weightsVersion = -1;
        _latestStep = 0;
        if (_settings.Coordinator is not null)
        {
            _log.Info("worker {0}: coordinator stopped; stopping", _settings.WorkerId);
            Context.Stop(Self);
            return;
        }

        _coordinatorNodes.Remove(t.ActorRef.Path.Address);
        _searchSince = Stopwatch.GetTimestamp();
        _log.Warning("worker {0}: the coordinator is gone; waiting for the next one", _settings.WorkerId);
        _settings.OnCoordinatorLost?.Invoke();
    }

    private sealed record Job(long Step, ShardWork Work, float[] Weights, long Version);

    private sealed record ShardDone(long Step, int Shard, GradientSum? Sum, double ComputeMs, string? Error, GradientSum? Unused = null, long Version = 0,
        bool Streamed = false) : INoSerializationVerificationNeeded;

    private sealed class LeaveRequest : INoSerializationVerificationNeeded
    {
        public static readonly LeaveRequest Instance = new();
    }

    private sealed class LeaveTimeout : INoSerializationVerificationNeeded
    {
        public static readonly LeaveTimeout Instance = new();
    }

    private sealed record DataLoaded(DatasetDescriptor For, Dataset? Data, string? Error) : INoSerializationVerificationNeeded;

    private sealed class RetryTick : INoSerializationVerificationNeeded
    {
        public static readonly RetryTick Instance = new();
    }
}
