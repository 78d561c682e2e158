// Fills an options class from the one configuration root (ConfigurationLayers), lowest precedence first:
//   defaults (the class's initialisers) < appsettings.json next to the executable
//   < appsettings.json in the current directory < DISTBACKPROP__* environment variables < command line.
// Each value remembers where it came from (the provider that holds it), so an error can say "--batch (from
// environment variable DISTBACKPROP__BATCH)". Values are parsed with the invariant culture.
// Leaves out: range checks (TrainingOptionsValidator) and the command-line syntax (System.CommandLine).
using System.Globalization;
using System.Reflection;

namespace DistBackprop.Host.Configuration;

/// <summary>A bound options object and, per property, the description of the layer that set it.</summary>
public sealed class Bound<T>
    where T : class
{
    private readonly IReadOnlyDictionary<string, string> _sources;

    internal Bound(T value, IReadOnlyDictionary<string, string> sources)
    {
        Value = value;
        _sources = sources;
    }

    public T Value { get; }

    /// <summary>True when <paramref name="property"/> was set by any source (not left at its default).</summary>
    public bool IsSet(string property) => _sources.ContainsKey(property);

    /// <summary>"--batch", or "--batch (from environment variable DISTBACKPROP__BATCH)" when not set on the command line.</summary>
    public string Name(string property)
    {
        var option = OptionsBinder.OptionName(property);
        return _sources.TryGetValue(property, out var source) && source != option ? $"{option} (from {source})" : option;
    }
}

public static class OptionsBinder
{
    /// <summary>The configuration section (and environment prefix DISTBACKPROP__).</summary>
    public const string Section = ConfigurationLayers.Section;

    public const string EnvironmentPrefix = "DISTBACKPROP__";

    /// <summary>"WeightDecay" → "--weight-decay".</summary>
    public static string OptionName(string property)
    {
        var sb = new System.Text.StringBuilder("--");
        for (var i = 0; i < property.Length; i++)
        {
            if (char.IsUpper(property[i]) && i > 0)
            {
                sb.Append('-');
            }

            sb.Append(char.ToLowerInvariant(property[i]));
        }

        return sb.ToString();
    }

    /// <summary>"--weight-decay" → "WeightDecay"-compatible key ("weightdecay": configuration keys ignore case).</summary>
    public static string KeyOf(string optionName) => optionName.TrimStart('-').Replace("-", string.Empty, StringComparison.Ordinal);

    /// <summary>
    /// Binds <typeparamref name="T"/> from the layers. <paramref name="commandLine"/> holds only the options
    /// given explicitly (key: <see cref="KeyOf"/>). Throws <see cref="UsageException"/> listing every bad value.
    /// </summary>
    public static Bound<T> Bind<T>(CliEnvironment env, IReadOnlyDictionary<string, string?> commandLine)
        where T : class, new() => Bind<T>(ConfigurationLayers.Build(env, commandLine));

    /// <summary>Binds <typeparamref name="T"/>'s properties from section DistBackprop of <paramref name="layers"/>, remembering each one's source.</summary>
    public static Bound<T> Bind<T>(ConfigurationLayers layers)
        where T : class, new()
    {
        ArgumentNullException.ThrowIfNull(layers);
        var value = new T();
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        var errors = new List<string>();
        foreach (var p in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            if (layers.Find($"{Section}:{p.Name}") is not var (raw, source))
            {
                continue;
            }

            if (TryParse(p.PropertyType, raw, out var parsed, out var expected))
            {
                p.SetValue(value, parsed);
                sources[p.Name] = source;
            }
            else
            {
                var where = source == OptionName(p.Name) ? source : $"{OptionName(p.Name)} (from {source})";
                errors.Add($"{where}: '{raw}' is not {expected}");
            }
        }

        if (errors.Count > 0)
        {
            throw new UsageException(errors);
        }

        return new Bound<T>(value, sources);
    }

    private static bool TryParse(Type type, string raw, out object? value, out string expected)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        var s = raw.Trim();
        value = null;
        expected = "a value";
        if (t == typeof(string))
        {
            value = raw;
            return true;
        }

        if (Nullable.GetUnderlyingType(type) is not null && s.Length == 0)
        {
            return true;
        }

        if (t == typeof(int))
        {
            expected = "a whole number";
            var ok = int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i);
            value = i;
            return ok;
        }

        if (t == typeof(long))
        {
            expected = "a whole number";
            var ok = long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l);
            value = l;
            return ok;
        }

        if (t == typeof(double))
        {
            expected = "a number";
            var ok = double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d);
            value = d;
            return ok;
        }

        if (t == typeof(bool))
        {
            expected = "true or false";
            if (s is "1" or "0")
            {
                value = s == "1";
                return true;
            }

            var ok = bool.TryParse(s, out var b);
            value = b;
            return ok;
        }

        throw new NotSupportedException($"option type {type}");
    }
}
