// Chooses the console view (SPEC §6): the live view when standard output is the process's console, is
// not redirected and the terminal is interactive and understands ANSI, and --plain was not given;
// plain lines otherwise (pipes, files, CI, `docker logs`, tests writing to a StringWriter).
// Leaves out: the views themselves.
using Spectre.Console;

namespace DistBackprop.Host.Output;

public static class ViewFactory
{
    public static IRunView Create(TextWriter output, bool plain)
    {
        ArgumentNullException.ThrowIfNull(output);
        return !plain && IsLiveTerminal(output) ? new LiveView(AnsiConsole.Console) : new PlainProgress(output);
    }

    /// <summary>True when <paramref name="output"/> is the console's standard output and that is an interactive ANSI terminal.</summary>
    public static bool IsLiveTerminal(TextWriter output) =>
        ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected
        && AnsiConsole.Profile.Capabilities.Ansi && AnsiConsole.Profile.Capabilities.Interactive;
}
