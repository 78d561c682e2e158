// Commands only this process may give its coordinator. StopTraining is deliberately not a protocol message: it
// lives outside DistBackprop.Cluster.Protocol (so the Hyperion filter refuses it), has no serializer binding (the
// guard refuses it), is never copied by serialize-messages, and the coordinator acts only on the one instance this
// process holds — so no node on the network can stop a run, even one that forges the sender's path.
// Leaves out: the network protocol (Protocol/*).
using Akka.Actor;

namespace DistBackprop.Cluster.Actors;

/// <summary>Ask the coordinator to stop after the step in progress and report the weights so far (the host's Ctrl+C / SIGTERM).</summary>
public sealed class StopTraining : INoSerializationVerificationNeeded
{
    public static readonly StopTraining Instance = new();

    private StopTraining()
    {
    }

    /// <summary>True only for <see cref="Instance"/>: a copy made by any deserializer is ignored.</summary>
    public bool IsLocal => ReferenceEquals(this, Instance);
}
