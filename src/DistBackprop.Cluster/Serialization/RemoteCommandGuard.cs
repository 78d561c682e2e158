// What untrusted-mode leaves open, closed at the serializer: Akka.NET's untrusted-mode drops a remote PoisonPill and
// system messages marked IPossiblyHarmful, but not Kill (an ActorKilledException in the target: the coordinator
// would be stopped), IntentionalRestart, or the system messages Suspend/Resume/Recreate/Create/Supervise/Failed (a
// remote Suspend freezes an actor). These two serializers take the place of Akka's own (same ids, same bytes) and
// turn those into a harmless RefusedRemoteCommand when they arrive; DeathWatch's Watch/Unwatch/DeathWatchNotification
// and every other message pass unchanged. Used on cluster nodes only (local mode has no network).
// Leaves out: PoisonPill (untrusted-mode drops it), who may send what (the coordinator's rules).
using Akka.Actor;
using Akka.Dispatch.SysMsg;
using Akka.Remote.Serialization;
using Akka.Serialization;

namespace DistBackprop.Cluster.Serialization;

/// <summary>What a refused remote lifecycle command becomes: an ordinary message nobody handles.</summary>
public sealed class RefusedRemoteCommand(string what) : INoSerializationVerificationNeeded
{
    public string What { get; } = what;

    /// <summary>Commands refused by this process so far.</summary>
    public static long Count => Interlocked.Read(ref _count);

    private static long _count;

    internal static RefusedRemoteCommand Make(string what)
    {
        Interlocked.Increment(ref _count);
        return new RefusedRemoteCommand(what);
    }

    public override string ToString() => $"<refused remote {What}>";
}

/// <summary>Akka's MiscMessageSerializer (id 16), except that Kill and IntentionalRestart from the network are refused.</summary>
public sealed class GuardedMiscSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    private readonly MiscMessageSerializer _inner = new(system);

    public override int Identifier => _inner.Identifier;

    public override byte[] ToBinary(object obj) => _inner.ToBinary(obj);

    public override string Manifest(object o) => _inner.Manifest(o);

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "K" => RefusedRemoteCommand.Make("Kill"),
        "IR" => RefusedRemoteCommand.Make("IntentionalRestart"),
        _ => _inner.FromBinary(bytes, manifest),
    };
}

/// <summary>Akka's SystemMessageSerializer (id 22), except that only DeathWatch's messages are accepted from the network.</summary>
public sealed class GuardedSystemMessageSerializer(ExtendedActorSystem system) : Serializer(system)
{
    private readonly Serializer _inner = new Akka.Remote.Serialization.SystemMessageSerializer(system);

    public override int Identifier => _inner.Identifier;

    public override bool IncludeManifest => _inner.IncludeManifest;

    public override byte[] ToBinary(object obj) => _inner.ToBinary(obj);

    public override object FromBinary(byte[] bytes, Type type) =>
        type == typeof(Watch) || type == typeof(Unwatch) || type == typeof(DeathWatchNotification)
            ? _inner.FromBinary(bytes, type)
            : RefusedRemoteCommand.Make(type?.Name ?? "system message");
}
