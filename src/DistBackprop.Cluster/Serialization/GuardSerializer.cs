// The catch-all binding (System.Object): without it a type with no binding silently falls back to
// JSON. Akka's own types still go to Akka's JSON serializer; anything else is refused with a clear
// error (the remoting layer logs it and drops the message, the node keeps running).
// Leaves out: project messages (bound more specifically to Hyperion and TensorSerializer).
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace DistBackprop.Cluster.Serialization;

/// <summary>Refuses to serialize any type that is neither Akka's nor bound to a DistBackprop serializer.</summary>
public sealed class GuardSerializer : Serializer
{
    public const int Id = 7303;
    private readonly NewtonSoftJsonSerializer _json;

    public GuardSerializer(ExtendedActorSystem system)
        : base(system) => _json = new NewtonSoftJsonSerializer(system);

    /// <summary>The constructor Akka calls for a serializer named in HOCON (this one replaces the "json" entry).</summary>
    public GuardSerializer(ExtendedActorSystem system, Akka.Configuration.Config config)
        : base(system) => _json = new NewtonSoftJsonSerializer(system, config);

    public override int Identifier => Id;

    public override bool IncludeManifest => true;

    public override byte[] ToBinary(object obj) => _json.ToBinary(Check(obj));

    public override object FromBinary(byte[] bytes, Type? type) =>
        _json.FromBinary(bytes, Check(type ?? throw new SerializationException("no type manifest")));

    /// <summary>True for types the guard passes on to Akka's JSON serializer: Akka's own.</summary>
    public static bool IsFrameworkType(Type type) =>
        type.Namespace is { } ns && (ns == "Akka" || ns.StartsWith("Akka.", StringComparison.Ordinal));

    private static object Check(object obj)
    {
        Check(obj.GetType());
        return obj;
    }

    private static Type Check(Type type) => IsFrameworkType(type)
        ? type
        : throw new SerializationException($"DistBackprop refuses to serialize {type.FullName}: only the project's own message types (DistBackprop.Cluster.Protocol) may cross a node boundary");
}
