// The catch-all binding (System.Object, in the place of Akka's "json" serializer): every type that has no
// serializer of its own lands here, and here it is refused and logged, in both directions. No JSON fallback:
// Akka's JSON serializer reads the type to build from the payload's own "$type" (at any depth, whatever the
// envelope's manifest says), so anyone who can reach the port could have materialised any .NET type.
// Nothing in a real cluster run needs it (Akka's own wire messages have their own serializers, ours go to
// Hyperion or TensorSerializer). Leaves out: the one exception, local message verification in tests (below).
using System.Runtime.Serialization;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Akka.Serialization;

namespace DistBackprop.Cluster.Serialization;

/// <summary>
/// Refuses to serialize or deserialize anything. Only with <c>akka.actor.serialize-messages = on</c> (a test setting that
/// round-trips every local message through its serializer) does it pass the few Akka types that local actors send each
/// other (<see cref="VerifiedLocalTypes"/>) through Akka's JSON serializer, after checking that every "$type" in the
/// payload names one of <see cref="VerifiedPayloadTypes"/>.
/// </summary>
public sealed class GuardSerializer : Serializer
{
    public const int Id = 7303;

    /// <summary>Akka types that local actors send each other and that reach this binding when serialize-messages is on.</summary>
    public static readonly IReadOnlySet<string> VerifiedLocalTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "Akka.Dispatch.SysMsg.StopChild",
        "Akka.Actor.Address",
    };

    /// <summary>The "$type" names (without assembly) their JSON contains: themselves and the surrogates of what they hold.</summary>
    public static readonly IReadOnlySet<string> VerifiedPayloadTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "Akka.Dispatch.SysMsg.StopChild",
        "Akka.Actor.Address",
        "Akka.Actor.Address+AddressSurrogate",
        "Akka.Actor.ActorRefBase+Surrogate",
    };

    private static long _refusals;

    private readonly NewtonSoftJsonSerializer? _verification;
    private ILoggingAdapter? _log; // made at the first refusal: serializers are built before the system can log

    public GuardSerializer(ExtendedActorSystem system)
        : this(system, null)
    {
    }

    /// <summary>The constructor Akka calls for a serializer named in HOCON (this one replaces the "json" entry).</summary>
    public GuardSerializer(ExtendedActorSystem system, Akka.Configuration.Config? config)
        : base(system)
    {
        ArgumentNullException.ThrowIfNull(system);
        if (system.Settings.SerializeAllMessages)
        {
            _verification = config is null ? new NewtonSoftJsonSerializer(system) : new NewtonSoftJsonSerializer(system, config);
        }
    }

    /// <summary>Messages refused so far, in this process (tests and diagnostics).</summary>
    public static long Refusals => Interlocked.Read(ref _refusals);

    public override int Identifier => Id;

    public override bool IncludeManifest => true;

    public override byte[] ToBinary(object obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        if (_verification is not null && VerifiedLocalTypes.Contains(obj.GetType().FullName ?? ""))
        {
            return _verification.ToBinary(obj);
        }

        throw Refuse("serialize", obj.GetType().FullName ?? obj.GetType().Name);
    }

    public override object FromBinary(byte[] bytes, Type? type)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var name = type?.FullName ?? "(no manifest)";
        if (_verification is null || type is null || !VerifiedLocalTypes.Contains(name))
        {
            throw Refuse("deserialize", name);
        }

        if (ForeignPayloadType(bytes) is { } foreign)
        {
            throw Refuse("deserialize", $"{name} carrying \"$type\" {foreign}");
        }

        return _verification.FromBinary(bytes, type);
    }

    /// <summary>The first "$type" value in <paramref name="json"/> that is not one of <see cref="VerifiedPayloadTypes"/>, or null; anything that is not strict JSON counts as foreign.</summary>
    public static string? ForeignPayloadType(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 32 });
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.GetString() is { } property && property.StartsWith('$') &&
                    property is not ("$id" or "$ref") && reader.Read())
                {
                    var value = reader.TokenType == JsonTokenType.String ? reader.GetString() ?? "" : reader.TokenType.ToString();
                    var typeName = HyperionTypeFilter.Normalise(value);
                    if (property != "$type" || !VerifiedPayloadTypes.Contains(typeName))
                    {
                        return $"{property}={Quote(value)}";
                    }
                }
            }

            return null;
        }
        catch (JsonException e)
        {
            return $"(not strict JSON: {Quote(e.Message)})";
        }
    }

    /// <summary>At most 80 characters of a name that came from the network.</summary>
    internal static string Quote(string text) => text.Length <= 80 ? text : string.Concat(text.AsSpan(0, 77), "...");

    private SerializationException Refuse(string what, string typeName)
    {
        var n = Interlocked.Increment(ref _refusals);
        var message = $"DistBackprop refuses to {what} {Quote(typeName)}: only the project's own message types (DistBackprop.Cluster.Protocol) may cross a node boundary";
        if (n <= 20 || n % 1000 == 0)
        {
            (_log ??= Logging.GetLogger(this.system, typeof(GuardSerializer))).Warning("{0} (refusal {1} in this process)", message, n); // the first 20, then every 1000th: a flood cannot fill the log
        }

        return new SerializationException(message);
    }
}
