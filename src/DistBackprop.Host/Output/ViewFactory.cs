// Chooses the console view (SPEC §6): the live view when standard output is a terminal (CliContext.IsTerminal,
// set by Program from Console.IsOutputRedirected) that is not TERM=dumb, and --plain was not given; plain lines
// otherwise (pipes, files, CI, `docker logs`, tests writing to a StringWriter). The live view's Spectre console
// writes to the command's output writer, never to whatever Console.Out is at the time.
// Leaves out: the views themselves.
using DistBackprop.Host.Commands;
using Spectre.Console;

namespace DistBackprop.Host.Output;

public static class ViewFactory
{
    public static IRunView Create(CliContext context, bool plain)
    {
        ArgumentNullException.ThrowIfNull(context);
        return !plain && IsLiveTerminal(context) ? new LiveView(TerminalConsole(context.Out)) : new PlainProgress(context.Out);
    }

    /// <summary>Where warnings should go while <paramref name="view"/> is shown: into the live view's log area, else <paramref name="error"/>.</summary>
    public static TextWriter ErrorFor(IRunView view, TextWriter error) => view is LiveView live ? new ViewErrorWriter(live, error) : error;

    public static bool IsLiveTerminal(CliContext context) =>
        context.IsTerminal && !string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);

    /// <summary>A Spectre console on <paramref name="output"/>, known to be an interactive ANSI terminal, as wide as the window.</summary>
    public static IAnsiConsole TerminalConsole(TextWriter output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.Yes,
            Interactive = InteractionSupport.Yes,
            ColorSystem = ColorSystemSupport.Detect,
        });
        try
        {
            console.Profile.Width = Math.Max(40, Console.WindowWidth);
            console.Profile.Height = Math.Max(10, Console.WindowHeight);
        }
        catch (IOException)
        {
            // no window size to be had: Spectre's default (80 × 24)
        }

        return console;
    }
}
