// The one configuration root of a command, lowest precedence first (the .NET configuration conventions):
//   appsettings.json next to the executable < appsettings.json in the current directory
//   < environment variables (DISTBACKPROP__X__Y → key DistBackprop:X:Y, "__" = section) < the command line.
// Every setting, options and cluster timings alike, is read from this root, and where a value came from is found by
// asking its providers from the top ("from environment variable DISTBACKPROP__BATCH", "from /dir/appsettings.json
// DistBackprop:Batch"). Environment variables come from CliEnvironment, so tests never touch the process's.
// Leaves out: parsing values into types (OptionsBinder, ClusterSettings) and the command-line syntax (System.CommandLine).
using System.Collections;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.FileProviders;

namespace DistBackprop.Host.Configuration;

public sealed class ConfigurationLayers
{
    /// <summary>The section every setting lives in (and the environment prefix DISTBACKPROP__).</summary>
    public const string Section = "DistBackprop";

    private ConfigurationLayers(IConfigurationRoot root) => Root = root;

    /// <summary>The layered configuration; its providers are in precedence order, lowest first.</summary>
    public IConfigurationRoot Root { get; }

    /// <summary>
    /// Builds the root. <paramref name="commandLine"/> holds only the options given explicitly, keyed by property name
    /// ("Batch", "WeightDecay"; case-insensitive). A settings file that cannot be read is a <see cref="UsageException"/> naming it.
    /// </summary>
    public static ConfigurationLayers Build(CliEnvironment env, IReadOnlyDictionary<string, string?>? commandLine = null)
    {
        ArgumentNullException.ThrowIfNull(env);
        var providers = new List<IConfigurationProvider>();
        var errors = new List<string>();
        foreach (var file in SettingsFiles(env))
        {
            var source = new JsonConfigurationSource
            {
                Path = Path.GetFileName(file),
                FileProvider = new PhysicalFileProvider(Path.GetDirectoryName(file)!),
                Optional = true,
                ReloadOnChange = false,
            };
            var provider = new JsonConfigurationProvider(source);
            try
            {
                provider.Load();
                providers.Add(provider);
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or JsonException or IOException)
            {
                errors.Add($"{file}: cannot read the settings: {e.InnerException?.Message ?? e.Message}");
            }
        }

        if (errors.Count > 0)
        {
            throw new UsageException(errors);
        }

        providers.Add(new EnvironmentProvider(env.Variables));
        var fromCommandLine = (commandLine ?? new Dictionary<string, string?>()).Select(p => new KeyValuePair<string, string?>($"{Section}:{p.Key}", p.Value));
        providers.Add(new MemoryConfigurationProvider(new MemoryConfigurationSource { InitialData = fromCommandLine }));
        return new ConfigurationLayers(new ConfigurationRoot(providers));
    }

    /// <summary>
    /// The value of <paramref name="key"/> (e.g. "DistBackprop:Batch") from the highest provider that holds a non-null one,
    /// and that provider described for messages; null when no layer sets it.
    /// </summary>
    public (string Value, string Source)? Find(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var providers = Root.Providers.ToList();
        for (var i = providers.Count - 1; i >= 0; i--)
        {
            if (providers[i].TryGet(key, out var value) && value is not null)
            {
                return (value, Describe(providers[i], key));
            }
        }

        return null;
    }

    /// <summary>"--batch" (command line), "environment variable DISTBACKPROP__BATCH", "/dir/appsettings.json DistBackprop:Batch".</summary>
    private static string Describe(IConfigurationProvider provider, string key) => provider switch
    {
        EnvironmentProvider e => $"environment variable {e.NameOf(key)}",
        JsonConfigurationProvider j => $"{Path.Combine(((PhysicalFileProvider)j.Source.FileProvider!).Root, j.Source.Path!)} {key}",
        _ => OptionsBinder.OptionName(key[(key.LastIndexOf(':') + 1)..]),
    };

    private static List<string> SettingsFiles(CliEnvironment env)
    {
        var files = new List<string>();
        if (env.BaseDirectory is { } exeDir)
        {
            files.Add(Path.GetFullPath(Path.Combine(exeDir, "appsettings.json")));
        }

        var cwd = Path.GetFullPath(Path.Combine(env.CurrentDirectory, "appsettings.json"));
        if (!files.Contains(cwd, StringComparer.Ordinal))
        {
            files.Add(cwd);
        }

        return files.Where(File.Exists).ToList();
    }

    /// <summary>
    /// The EnvironmentVariables provider's rule ("__" → ":", keys case-insensitive) over <see cref="CliEnvironment.Variables"/>
    /// rather than the process's, keeping only the DISTBACKPROP__ ones; remembers each variable's own spelling.
    /// </summary>
    private sealed class EnvironmentProvider(IDictionary variables) : ConfigurationProvider
    {
        private readonly Dictionary<string, string> _names = new(StringComparer.OrdinalIgnoreCase);

        public override void Load()
        {
            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (DictionaryEntry e in variables)
            {
                if (e.Key is string name && e.Value is string value && name.StartsWith(Section + "__", StringComparison.OrdinalIgnoreCase))
                {
                    var key = name.Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal);
                    data[key] = value;
                    _names[key] = name;
                }
            }

            Data = data;
        }

        public string NameOf(string key) => _names.TryGetValue(key, out var name) ? name : (Section + "__" + key[(Section.Length + 1)..].Replace(":", "__", StringComparison.Ordinal)).ToUpperInvariant();
    }
}
