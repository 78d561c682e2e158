// How a worker's results reach the coordinator, beside the coordinator's ICoordinatorTransport (Channel/TensorTransport.cs):
// inside Akka messages (AkkaWorkerTransport: compute, then one ShardComputed per shard from the actor), or over the
// tcp tensor channel (ChannelWorkerTransport: the compute thread streams each finished layer's gradient as backprop
// goes on, GradientStreamer; weights arrive separately as WeightsArrived). The worker actor talks to one
// IWorkerTransport, so its states do not depend on the transport. Leaves out: sockets (TcpWorkerChannel) and the math (Core).
using System.Diagnostics;
using Akka.Actor;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Actors;

/// <summary>The worker's side of the tensor transport.</summary>
internal interface IWorkerTransport : IDisposable
{
    /// <summary>Weights arrive on their own (WeightsArrived) rather than inside ComputeShards: work waits for its version.</summary>
    bool WeightsArriveSeparately { get; }

    /// <summary>Compute thread: fills <paramref name="sum"/> with the shard's gradient sum (a streaming transport sends it as it
    /// goes). Returns the compute time in milliseconds.</summary>
    double Compute(Job job, Mlp<float> mlp, Dataset data, GradientSum sum);

    /// <summary>Actor thread, after <see cref="Compute"/>: sends what is not sent yet. True: the sum's buffer is now lent (in flight).</summary>
    bool Deliver(Job job, GradientSum sum, double computeMs);

    /// <summary>Actor thread: an aggregation head's sum goes to the coordinator as the reply with Shard = <paramref name="replyShard"/>
    /// (~piece; its buffer is lent from now on).</summary>
    void DeliverPiece(long step, long version, int replyShard, GradientSum sum, double computeMs);
}

/// <summary>Results inside Akka messages: one ShardComputed per shard, from the worker actor to the coordinator.</summary>
internal sealed class AkkaWorkerTransport(IActorRef coordinator, IActorRef self, TensorSerializer? serializer) : IWorkerTransport
{
    private TimeSpan _serializerReported = serializer?.Elapsed ?? TimeSpan.Zero;

    public bool WeightsArriveSeparately => false;

    public double Compute(Job job, Mlp<float> mlp, Dataset data, GradientSum sum)
    {
        var start = Stopwatch.GetTimestamp();
        ReferenceTrainer.ComputeShard(mlp, job.Weights, data, job.Work.Indices, sum, job.Step);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    public bool Deliver(Job job, GradientSum sum, double computeMs)
    {
        var serialized = serializer?.Elapsed ?? TimeSpan.Zero;
        var serializeMs = (serialized - _serializerReported).TotalMilliseconds;
        _serializerReported = serialized;
        coordinator.Tell(new ShardComputed(job.Step, job.Work.Shard, sum.Gradient, sum.LossSum, sum.Samples, sum.Correct, computeMs, serializeMs), self);
        return true;
    }

    public void DeliverPiece(long step, long version, int replyShard, GradientSum sum, double computeMs) =>
        coordinator.Tell(new ShardComputed(step, replyShard, sum.Gradient, sum.LossSum, sum.Samples, sum.Correct, computeMs, 0), self);

    public void Dispose()
    {
    }
}

/// <summary>Results over the tcp tensor channel (docs/tensor-channel.md), a layer at a time as backprop finishes them.</summary>
internal sealed class ChannelWorkerTransport(TcpWorkerChannel channel, GradientStreamer streamer) : IWorkerTransport
{
    public TcpWorkerChannel Channel { get; } = channel;

    public bool WeightsArriveSeparately => true;

    public double Compute(Job job, Mlp<float> mlp, Dataset data, GradientSum sum)
    {
        var start = Stopwatch.GetTimestamp();
        streamer.Begin(Channel, job.Step, job.Version, job.Work.Shard, sum.Gradient);
        try
        {
            ReferenceTrainer.ComputeShard(mlp, job.Weights, data, job.Work.Indices, sum, job.Step, streamer);
        }
        catch
        {
            streamer.Cancel();
            throw;
        }

        var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        streamer.Finish(sum.LossSum, sum.Samples, sum.Correct, ms);
        return ms;
    }

    /// <summary>Already on the channel; even a stale one is lent, since the sender thread may still read it.</summary>
    public bool Deliver(Job job, GradientSum sum, double computeMs) => true;

    /// <summary>The whole sum as one frame (shard field ~piece), written by the channel's sender thread.</summary>
    public void DeliverPiece(long step, long version, int replyShard, GradientSum sum, double computeMs)
    {
        streamer.Begin(Channel, step, version, replyShard, sum.Gradient);
        streamer.Finish(sum.LossSum, sum.Samples, sum.Correct, computeMs);
    }

    public void Dispose() => Channel.Dispose();
}
