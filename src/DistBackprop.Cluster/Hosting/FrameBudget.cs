// The check a coordinator makes at start (SPEC §7): the largest message of the run — the weights with
// a worker's shard rows, or one shard's gradient — must fit Akka's maximum frame size, else the run is
// refused before anything starts (the host exits 2, naming --max-frame-size).
// Leaves out: setting the frame size (AkkaBuilderExtensions).
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Model;

namespace DistBackprop.Cluster.Hosting;

/// <summary>The model's messages do not fit the frame size. The message names --max-frame-size.</summary>
public sealed class FrameSizeException(string message) : Exception(message);

public static class FrameBudget
{
    /// <summary>Room for Akka's envelope around the payload (recipient and sender paths, manifest).</summary>
    public const int EnvelopeAllowance = 16 * 1024;

    /// <summary>The largest payload the run sends: a ComputeShards with the weights and every row of a batch, or a gradient.</summary>
    public static long LargestMessage(ModelSpec spec, int batchSize, int shards) =>
        Math.Max(TensorSerializer.ComputeShardsBytes(spec.ParameterCount, batchSize, shards), TensorSerializer.ShardComputedBytes(spec.ParameterCount));

    /// <summary>
    /// Akka's frame size for a coordinator whose tensors use the channel: room for its largest control message (a ComputeShards
    /// with every row of a batch and no weights) and the envelope, at least 1 MiB, in whole 64 KiB.
    /// </summary>
    public static long ControlFrameSize(int batchSize, int shards)
    {
        var need = TensorSerializer.ComputeShardsBytes(0, batchSize, shards) + EnvelopeAllowance;
        return Math.Max(1L << 20, (need + 0xFFFF) & ~0xFFFFL);
    }

    /// <summary>Throws <see cref="FrameSizeException"/> when the run's messages would not fit <paramref name="maxFrameSize"/>.</summary>
    public static void Check(ModelSpec spec, int batchSize, int shards, long maxFrameSize)
    {
        var need = LargestMessage(spec, batchSize, shards) + EnvelopeAllowance;
        if (need > maxFrameSize)
        {
            throw new FrameSizeException(
                $"--max-frame-size {Format(maxFrameSize)} is too small for model {spec} ({spec.ParameterCount:N0} parameters): " +
                $"its weight and gradient messages need {Format(need)}; pass --max-frame-size {Format(RoundUp(need))} or more (the same on every node)");
        }
    }

    private static long RoundUp(long bytes) => (bytes + (1 << 20) - 1) >> 20 << 20;

    private static string Format(long bytes) => bytes % (1 << 20) == 0 ? $"{bytes >> 20}MiB" : $"{bytes} bytes";
}
