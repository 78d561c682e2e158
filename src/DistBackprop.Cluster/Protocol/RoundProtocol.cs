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
/// when the coordinator believes the worker does not have that version yet.
/// Ownership of <paramref name="Weights"/> (in process the array itself travels): read-only for everyone; the
/// coordinator's weights live in two buffers (TrainingState.Parameters) and this one is overwritten when step
/// Step + 1 completes (the update writing the weights for step Step + 2), i.e. only after step Step + 1 completed. A worker still computing step Step then can read torn values, but its reply is
/// for a completed step and is dropped as stale, so torn values never enter a sum.
/// </summary>
public sealed record ComputeShards(long Step, long WeightsVersion, ShardWork[] Shards, float[]? Weights) : ITensorMessage;

/// <summary>
/// One shard's summed gradient (ParameterLayout order, not divided by anything) with its loss sum, sample
/// and correct counts. Never pre-added with another shard. <paramref name="ComputeMs"/> is the worker's
/// compute time for this shard; <paramref name="SerializeMs"/> the worker node's serializer time since its
/// previous reply (best effort).
/// Ownership of <paramref name="Gradient"/> (in process the array itself travels): the receiver may read it until
/// the worker receives work for a later step than <paramref name="Step"/>; the worker then reuses it. The
/// coordinator only sends later work after it has reduced step <paramref name="Step"/>, and a reply it has not read
/// by then is stale and dropped unread. A deserialized copy belongs to the receiving node's <see cref="Serialization.TensorPool"/>.
/// </summary>
public sealed record ShardComputed(long Step, int Shard, float[] Gradient, double LossSum, int Samples, int Correct, double ComputeMs, double SerializeMs) : ITensorMessage;

/// <summary>The run is over (after <paramref name="Steps"/> steps): workers drop queued work and wait.</summary>
public sealed record TrainingFinished(long Steps) : IControlMessage;

/// <summary>
/// A worker whose node is shutting down (Ctrl+C, SIGTERM, Cluster.Leave) hands back its shards: the coordinator takes
/// every unfilled shard of this worker away, gives it to another, never sends it work again, and answers
/// <see cref="LeaveAcknowledged"/>. <paramref name="Shards"/> (queued or in progress, of step <paramref name="Step"/>)
/// is for the log; a result that still arrives first counts like any other.
/// </summary>
public sealed record WorkerLeaving(string WorkerId, long Step, int[] Shards) : IControlMessage;

/// <summary>
/// A worker cannot compute the shards of <paramref name="Step"/> because it lacks weights version
/// <paramref name="WeightsVersion"/> (its tensor channel was replaced under it): the coordinator takes these shards back at
/// once, marks the worker as holding no weights, and deals them again, so the step does not wait for the shard deadline.
/// </summary>
public sealed record WorkDeclined(string WorkerId, long Step, long WeightsVersion, int[] Shards) : IControlMessage;

/// <summary>The coordinator took the leaving worker's shards back; the worker may leave the cluster.</summary>
public sealed record LeaveAcknowledged(long Step) : IControlMessage;
