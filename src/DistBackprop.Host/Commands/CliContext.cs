// What every command action gets: where to write, when to stop, where configuration comes from,
// and (for tests only) which training engine to use. Leaves out: the commands themselves.
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Commands;

public sealed class CliContext
{
    public CliContext(TextWriter output, TextWriter error, CliEnvironment environment, CancellationToken cancellation = default)
    {
        Out = output ?? throw new ArgumentNullException(nameof(output));
        Err = error ?? throw new ArgumentNullException(nameof(error));
        Environment = environment ?? throw new ArgumentNullException(nameof(environment));
        Cancellation = cancellation;
    }

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    public CliEnvironment Environment { get; }

    /// <summary>Fires on Ctrl+C / SIGTERM: training stops after the current step and still writes its files.</summary>
    public CancellationToken Cancellation { get; }

    /// <summary>True when <see cref="Out"/> is a real terminal (set by Program.cs; tests and pipes: false).
    /// Decides between the live console view and plain lines.</summary>
    public bool IsTerminal { get; init; }

    /// <summary>Cores used for the defaults of --workers and --threads.</summary>
    public int ProcessorCount { get; init; } = System.Environment.ProcessorCount;

    /// <summary>The engine `train` runs on. Tests may swap in the reference loop (the oracle); users cannot.</summary>
    internal Func<CliContext, ITrainingEngine> EngineFactory { get; init; } = TrainingEngines.Default;

    /// <summary>Set once options are bound: show stack traces of runtime failures.</summary>
    internal bool Verbose { get; set; }
}
