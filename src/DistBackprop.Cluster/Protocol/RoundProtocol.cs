// One training step between the coordinator and its workers (see the numbered protocol at the
// top of Actors/Coordinator.cs). Every message carries the step number and shard indices, so a
// late reply from step 41 can never enter step 42 and a duplicate for a filled slot is recognised.
// Leaves out: registration (RegistrationProtocol.cs) and progress events (ProgressProtocol.cs).
namespace DistBackprop.Cluster.Protocol;

/// <summary>One shard to compute: its index in [0, S) and the dataset rows it covers (global-batch order).</summary>
public sealed record ShardWork(int Shard, int[] Indices);

/// <summary>
/// Work for one worker in step <paramref name="Step"/>. The parameters to use are version
/// <paramref name="WeightsVersion"/> (= the number of completed steps); <paramref name="Weights"/> is non-null
/// when the coordinator believes the worker does not have that version yet. Arrays are handed over:
/// the coordinator never writes to them again (one read-only snapshot per step shared by all workers).
/// </summary>
public sealed record ComputeShards(long Step, long WeightsVersion, ShardWork[] Shards, float[]? Weights) : ITensorMessage;

/// <summary>
/// One shard's summed gradient (ParameterLayout order, not divided by anything) with its loss sum, sample
/// and correct counts. Never pre-added with another shard. <paramref name="ComputeMs"/> is the worker's
/// compute time for this shard; <paramref name="SerializeMs"/> the worker node's serializer time since its
/// previous reply (best effort). The worker hands <paramref name="Gradient"/> over.
/// </summary>
public sealed record ShardComputed(long Step, int Shard, float[] Gradient, double LossSum, int Samples, int Correct, double ComputeMs, double SerializeMs) : ITensorMessage;

/// <summary>The run is over (after <paramref name="Steps"/> steps): workers drop queued work and wait.</summary>
public sealed record TrainingFinished(long Steps) : IControlMessage;

/// <summary>Ask the coordinator to stop after the step in progress and report the weights so far.</summary>
public sealed record StopTraining : IControlMessage
{
    public static readonly StopTraining Instance = new();
}
