// The worker actor, part 2: the tensor channel, work and results (the Serving state), and the graceful leave.
// Leaves out: the states and registration (Worker.cs).
using Akka;
using Akka.Actor;
using Akka.Event;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

public sealed partial class Worker
{
    // ---- tensor channel (docs/tensor-channel.md) ----------------------------------------------------

    private void ConnectChannel(TensorChannelEndpoint endpoint)
    {
        if (_serializer is null)
        {
            Refused($"worker {_settings.WorkerId}: the coordinator asks for a tensor channel, but this node has no tensor pool");
            return;
        }

        var (pool, self, parameters) = (_serializer.Pool, Self, _mlp!.Spec.ParameterCount);
        TcpWorkerChannel.ConnectAsync(endpoint, parameters, pool, self, _settings.Tls).ContinueWith(
            t => new WorkerChannelConnected(endpoint, t.IsCompletedSuccessfully ? t.Result : null, t.Exception?.GetBaseException().Message),
            TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
    }

    private void HandleChannelConnected(WorkerChannelConnected m)
    {
        if (!ReferenceEquals(m.For, _accepted?.TensorChannel))
        {
            m.Channel?.Dispose(); // an answer to an older registration
            return;
        }

        if (m.Channel is null)
        {
            _log.Warning("worker {0}: cannot open the tensor channel to {1}:{2} ({3}); registering again", _settings.WorkerId, m.For.Host, m.For.Port, m.Error);
            _accepted = null;
            Become(Joining); // the retry timer registers again
            return;
        }

        _settings.ChannelConnected?.Invoke(m.Channel.Socket);
        _log.Info("worker {0}: tensor channel open to {1}:{2}", _settings.WorkerId, m.For.Host, m.For.Port);
        Ready(new ChannelWorkerTransport(m.Channel, _streamer!));
    }

    private void HandleWeightsArrived(WeightsArrived m)
    {
        if (_transport is not ChannelWorkerTransport t || !ReferenceEquals(m.Channel, t.Channel) || m.Version <= _weightsVersion)
        {
            _serializer?.Pool.Return(m.Weights);
            return;
        }

        _buffers.Retire(_weights);
        (_weights, _weightsVersion) = (m.Weights, m.Version);
        var parked = _parked.ToArray();
        _parked.Clear();
        foreach (var work in parked)
        {
            if (work.WeightsVersion >= m.Version)
            {
                Accept(work); // parks again what needs a newer version; work for older versions is stale
            }
        }

        _buffers.ReturnRetired(_jobs, _weights);
    }

    /// <summary>A broken channel: the coordinator counts this worker as failed, so drop the work and register again (new channel).</summary>
    private void HandleChannelLost(WorkerChannelLost m)
    {
        if (_transport is not ChannelWorkerTransport t || !ReferenceEquals(m.Channel, t.Channel))
        {
            return;
        }

        _log.Log(_finished ? LogLevel.InfoLevel : LogLevel.WarningLevel, $"worker {_settings.WorkerId}: tensor channel lost ({m.Reason}); registering again");
        Disconnect();
        Become(Joining);
        Retry();
    }

    // ---- work ----------------------------------------------------------------------------------------

    private void HandleCompute(ComputeShards m)
    {
        _buffers.ReleaseBefore(m.Step);
        if (!Sender.Equals(_coordinator))
        {
            _log.Warning("worker {0}: work for step {1} from {2}, not from its coordinator; dropped", _settings.WorkerId, m.Step, Sender.Path);
            return;
        }

        Accept(m);
    }

    private void Accept(ComputeShards m)
    {
        var aggregation = _aggregation is { } a && a.Step == m.Step ? a : null; // its role came first (same sender)
        if (m.Weights is not null)
        {
            if (!ReferenceEquals(_weights, m.Weights))
            {
                _buffers.Retire(_weights);
            }

            (_weights, _weightsVersion) = (m.Weights, m.WeightsVersion);
        }

        if ((_transport!.WeightsArriveSeparately || aggregation is { FromParent: true }) && m.WeightsVersion > _weightsVersion)
        {
            _parked.Add(m); // its weights are on the way: over the tensor channel, or relayed by its parent
            return;
        }

        if (aggregation is not null && !Array.TrueForAll(m.Shards, s => aggregation.Owns(s.Shard)))
        {
            _log.Warning("worker {0}: step {1}: work for shard(s) its role {2} does not own (a role was lost?); handed back", _settings.WorkerId, m.Step, aggregation.Node);
            _coordinator!.Tell(new WorkDeclined(_settings.WorkerId, m.Step, m.WeightsVersion, m.Shards.Select(s => s.Shard).ToArray()));
            return;
        }

        if (m.WeightsVersion != _weightsVersion || _weights is null)
        {
            _log.Warning("worker {0}: step {1} needs weights version {2}, this worker has {3}; handed back to the coordinator",
                _settings.WorkerId, m.Step, m.WeightsVersion, _weightsVersion);
            _coordinator!.Tell(new WorkDeclined(_settings.WorkerId, m.Step, m.WeightsVersion, m.Shards.Select(s => s.Shard).ToArray()));
            return;
        }

        if (aggregation is not null)
        {
            RelayWeights(aggregation); // the children start before this worker computes its own leaves
        }

        _jobs.Add(m, _weights, _weightsVersion, aggregation);
        _buffers.ReturnRetired(_jobs, _weights);
        StartNext();
    }

    private void StartNext()
    {
        if (_transport is not { } transport || !_jobs.TryStart(out var job))
        {
            return;
        }

        var (mlp, data) = (_mlp!, _data!);
        var sum = _buffers.Rent(mlp.Spec.ParameterCount);
        var before = _settings.BeforeShard;
        if (before is null && (_settings.Coordinator is not null || (long)job.Work.Indices.Length * mlp.Spec.ParameterCount <= InlineWork))
        {
            // in process the worker has a dedicated thread of its own (AkkaBuilderExtensions.LocalDispatcher), and a small
            // shard costs less than the two thread hand-offs of a task: compute on the actor's thread
            ShardDone done;
            try
            {
                done = new ShardDone(job, sum, transport, Compute(transport, job, mlp, data, sum), null);
            }
            catch (Exception e)
            {
                done = new ShardDone(job, sum, transport, 0, e.ToString());
            }

            HandleShardDone(done);
            return;
        }

        Task.Run(() =>
        {
            before?.Invoke(job.Step, job.Work.Shard);
            return Compute(transport, job, mlp, data, sum);
        }).ContinueWith(
            t => new ShardDone(job, sum, transport, t.IsCompletedSuccessfully ? t.Result : 0, t.IsCompletedSuccessfully ? null : t.Exception?.GetBaseException().ToString()),
            TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
    }

    private void HandleShardDone(ShardDone d)
    {
        _jobs.Finished();
        var job = d.Job;
        if (job.Aggregate)
        {
            OwnLeafDone(d.Job, d.Sum, d.ComputeMs, d.Error); // Worker.Aggregate.cs
            StartNext();
            return;
        }

        var current = ReferenceEquals(d.Transport, _transport) && job.Step >= _jobs.LatestStep;
        if (d.Error is not null)
        {
            _log.Error("worker {0}: step {1} shard {2} failed: {3}", _settings.WorkerId, job.Step, job.Work.Shard, d.Error);
        }

        if (d.Error is null && current ? d.Transport.Deliver(job, d.Sum, d.ComputeMs) : d.Transport is ChannelWorkerTransport)
        {
            _buffers.Lend(job.Step, d.Sum); // free again when work for a later step arrives (a streamed one: the sender may still read it)
        }
        else
        {
            _buffers.Free(d.Sum); // never sent: the coordinator has moved on, or is gone
        }

        _buffers.ReturnRetired(_jobs, _weights);
        StartNext();
    }

    // ---- leaving ---------------------------------------------------------------------------------------

    /// <summary>Graceful leave: before the node leaves the cluster, hand the shards back so the step does not wait for a deadline.</summary>
    private void HandBackOnShutdown()
    {
        // not when the node was downed (the coordinator is unreachable from here then)
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

    private void StartLeaving()
    {
        _leaveRequester = Sender;
        _leaving = true;
        if (_coordinator is null)
        {
            LeaveDone();
            return;
        }

        var shards = _jobs.Owed();
        _jobs.Clear();
        _log.Info("worker {0}: leaving; handing back shard(s) [{1}] of step {2}", _settings.WorkerId, string.Join(',', shards), _jobs.LatestStep);
        _coordinator.Tell(new WorkerLeaving(_settings.WorkerId, _jobs.LatestStep, shards));
        Timers.StartSingleTimer("leave", LeaveTimeout.Instance, _settings.LeaveTimeout);
        Become(Leaving);
    }

    private void LeaveDone()
    {
        Timers.Cancel("leave");
        _leaveRequester?.Tell(Done.Instance);
        _leaveRequester = null;
    }

    private sealed record ShardDone(Job Job, GradientSum Sum, IWorkerTransport Transport, double ComputeMs, string? Error) : INoSerializationVerificationNeeded;

    private sealed class LeaveRequest : INoSerializationVerificationNeeded
    {
        public static readonly LeaveRequest Instance = new();
    }

    private sealed class LeaveTimeout : INoSerializationVerificationNeeded
    {
        public static readonly LeaveTimeout Instance = new();
    }
}
