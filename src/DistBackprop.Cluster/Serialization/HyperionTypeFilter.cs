// Which types the Hyperion serializer may write and read: this project's message types (namespace
// DistBackprop.Cluster.Protocol) and a short list of framework types that appear inside them. Hyperion calls the
// filter with assembly-qualified names on one side and short names on the other, so names are
// normalised (assembly part dropped) before the check. Leaves out: tensor messages (TensorSerializer).
using Hyperion;

namespace DistBackprop.Cluster.Serialization;

/// <summary>Allows DistBackprop.Cluster.Protocol types, primitive types and arrays of both; refuses everything else.</summary>
public sealed class HyperionTypeFilter : ITypeFilter
{
    public static readonly HyperionTypeFilter Instance = new();

    /// <summary>The namespace of every message type (and the records nested in them).</summary>
    public const string ProtocolNamespace = "DistBackprop.Cluster.Protocol.";

    private static readonly HashSet<string> Framework = new(StringComparer.Ordinal)
    {
        "System.String", "System.Boolean", "System.Byte", "System.Int16", "System.Int32", "System.Int64",
        "System.UInt32", "System.UInt64", "System.Single", "System.Double", "System.Decimal", "System.Char",
        "System.Guid", "System.TimeSpan", "System.DateTime", "System.DateTimeOffset", "System.Object",
    };

    /// <summary>Names refused so far (for logs and tests).</summary>
    public static int Refusals => _refusals;

    private static int _refusals;

    public bool IsAllowed(string typeName)
    {
        var name = Normalise(typeName);
        while (name.EndsWith("[]", StringComparison.Ordinal))
        {
            name = name[..^2];
        }

        var ok = name.StartsWith(ProtocolNamespace, StringComparison.Ordinal) || Framework.Contains(name);
        if (!ok)
        {
            Interlocked.Increment(ref _refusals);
        }

        return ok;
    }

    /// <summary>"A.B+C, Asm, Version=…" → "A.B+C"; generic arguments are kept as written (and so refused unless ours).</summary>
    public static string Normalise(string typeName)
    {
        var depth = 0;
        for (var i = 0; i < typeName.Length; i++)
        {
            switch (typeName[i])
            {
                case '[':
                    depth++;
                    break;
                case ']':
                    depth--;
                    break;
                case ',' when depth == 0:
                    return typeName[..i].Trim();
            }
        }

        return typeName.Trim();
    }
}
