// Which types the Hyperion serializer may write and read, as an exact allow-list: every public type of the
// namespace DistBackprop.Cluster.Protocol in this assembly, the framework value types listed below, one-dimensional
// arrays of those, and the closed generic types listed in ClosedGenerics (none today: the messages hold arrays).
// Hyperion asks with assembly-qualified names on one side and short names on the other, so each name is parsed
// (System.Reflection.Metadata.TypeName) and compared with its assembly: a "DistBackprop.Cluster.Protocol.X" from
// another assembly, a generic over an allowed type, or anything unparsable is refused.
// Leaves out: tensor messages (TensorSerializer) and everything else (GuardSerializer refuses it).
using System.Reflection.Metadata;
using Hyperion;

namespace DistBackprop.Cluster.Serialization;

/// <summary>Allows exactly the protocol types, the listed framework types and closed generics, and arrays of them.</summary>
public sealed class HyperionTypeFilter : ITypeFilter
{
    /// <summary>The namespace of every message type (and the records nested in them).</summary>
    public const string ProtocolNamespace = "DistBackprop.Cluster.Protocol";

    /// <summary>
    /// Every closed generic type a protocol message contains (Hyperion names the runtime type of a field that is not
    /// sealed). None today; a message that holds, say, a <c>List&lt;WorkerStatus&gt;</c> needs <c>typeof(List&lt;WorkerStatus&gt;)</c>
    /// here (SerializationTests round-trips every protocol type and fails naming what is missing).
    /// </summary>
    public static readonly IReadOnlyList<Type> ClosedGenerics = [];

    /// <summary>Framework types that may appear inside messages.</summary>
    public static readonly IReadOnlyList<Type> Framework =
    [
        typeof(string), typeof(bool), typeof(byte), typeof(short), typeof(int), typeof(long), typeof(uint), typeof(ulong),
        typeof(float), typeof(double), typeof(decimal), typeof(char), typeof(Guid), typeof(TimeSpan), typeof(DateTime),
        typeof(DateTimeOffset), typeof(object),
    ];

    /// <summary>The filter (built after the lists above: static fields initialise in order).</summary>
    public static readonly HyperionTypeFilter Instance = new();

    private static int _refusals;

    private readonly HashSet<string> _allowed = new(StringComparer.Ordinal);

    private HyperionTypeFilter()
    {
        var protocol = typeof(Protocol.IDistBackpropMessage).Assembly.GetExportedTypes()
            .Where(t => t.Namespace == ProtocolNamespace && !t.IsGenericTypeDefinition && !t.IsInterface && !t.IsAbstract);
        foreach (var t in protocol.Concat(Framework).Concat(ClosedGenerics))
        {
            _allowed.Add(Canonical(t));
        }
    }

    /// <summary>Names refused so far (for logs and tests).</summary>
    public static int Refusals => _refusals;

    /// <summary>The allowed types (element types of arrays are implied), as canonical names, for tests and diagnostics.</summary>
    public IReadOnlyCollection<string> AllowedNames => _allowed;

    public bool IsAllowed(string typeName)
    {
        var ok = typeName is not null && TypeName.TryParse(typeName.AsSpan(), out var parsed) && IsAllowed(parsed);
        if (!ok)
        {
            Interlocked.Increment(ref _refusals);
        }

        return ok;
    }

    /// <summary>"A.B+C, Asm, Version=…" → "A.B+C": the type part of an assembly-qualified name (generic arguments kept as written).</summary>
    public static string Normalise(string typeName)
    {
        ArgumentNullException.ThrowIfNull(typeName);
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

    /// <summary>"Full.Name@assembly", generic arguments in brackets, "[]" per array rank; the core library is "corelib" whatever its name.</summary>
    public static string Canonical(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (type.IsSZArray)
        {
            return Canonical(type.GetElementType()!) + "[]";
        }

        if (type.IsConstructedGenericType)
        {
            return $"{Canonical(type.GetGenericTypeDefinition())}[{string.Join(",", type.GetGenericArguments().Select(Canonical))}]";
        }

        return $"{type.FullName}@{Library(type.Assembly.GetName().Name)}";
    }

    private bool IsAllowed(TypeName t)
    {
        if (t.IsSZArray)
        {
            return IsAllowed(t.GetElementType());
        }

        if (t.IsArray || t.IsPointer || t.IsByRef)
        {
            return false; // multi-dimensional arrays, pointers and references are never part of a message
        }

        return _allowed.Contains(Canonical(t));
    }

    private static string Canonical(TypeName t)
    {
        if (t.IsSZArray)
        {
            return Canonical(t.GetElementType()) + "[]";
        }

        if (t.IsConstructedGenericType)
        {
            return $"{Canonical(t.GetGenericTypeDefinition())}[{string.Join(",", t.GetGenericArguments().Select(Canonical))}]";
        }

        return $"{t.FullName}@{Library(t.AssemblyName?.Name)}";
    }

    // a name without an assembly is looked up in the core library (and the caller, Hyperion), so it counts as corelib
    private static string Library(string? assembly) =>
        assembly is null or "System.Private.CoreLib" or "mscorlib" or "netstandard" or "System.Runtime" ? "corelib" : assembly;
}
