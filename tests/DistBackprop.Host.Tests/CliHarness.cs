// Runs `distbackprop` in process with its own environment variables and working directory
// (never the test process's), capturing stdout and stderr. Each test gets a fresh temp folder.
using System.Collections;
using DistBackprop.Host.Commands;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Tests;

public sealed record CliResult(int ExitCode, string Out, string Err)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
}

public sealed class TempFolder : IDisposable
{
    public TempFolder() => Path = Directory.CreateTempSubdirectory("distbackprop-host-").FullName;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public static class Cli
{
    /// <summary>Runs with no DISTBACKPROP__ variables, in <paramref name="directory"/>, two cores assumed (workers 2, threads 1).</summary>
    public static CliResult Run(string directory, IDictionary<string, string>? environment = null, CancellationToken cancellation = default, params string[] args) =>
        Run(directory, environment, cancellation, reference: false, args);

    /// <summary>As above; <paramref name="reference"/> runs `train` on Core's reference loop (the oracle) instead of the actors.</summary>
    public static CliResult Run(string directory, IDictionary<string, string>? environment, CancellationToken cancellation, bool reference, params string[] args)
    {
        var vars = new Hashtable();
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            vars[k] = v;
        }

        using var output = new StringWriter();
        using var error = new StringWriter();
        var context = new CliContext(output, error, new CliEnvironment(vars, directory, BaseDirectory: null), cancellation) { ProcessorCount = 2 };
        if (reference)
        {
            context = new CliContext(output, error, context.Environment, cancellation) { ProcessorCount = 2, EngineFactory = TrainingEngines.Reference };
        }

        var code = DistBackpropCli.Run(args, context);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public static CliResult Run(string directory, params string[] args) => Run(directory, null, default, args);
}
