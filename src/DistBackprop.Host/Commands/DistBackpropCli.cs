// The command tree of `distbackprop` and the one entry point that runs it, in process, against
// any writers (Program.cs passes the console; tests pass StringWriters).
// Extension point: each command is a static Create(CliContext) → Command in Commands/, registered
// in Commands() below. Still to come (other issues): monitor.
using System.CommandLine;
using DistBackprop.Host.Configuration;

namespace DistBackprop.Host.Commands;

public static class DistBackpropCli
{
    /// <summary>Runs <c>distbackprop</c> with <paramref name="args"/>; returns the exit code (SPEC §6).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error) =>
        Run(args, new CliContext(output, error, CliEnvironment.FromProcess()));

    public static int Run(string[] args, CliContext context)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        var root = BuildRoot(context);
        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            // System.CommandLine's own errors (unknown option, unparsable value): usage, exit 2.
            foreach (var e in parseResult.Errors)
            {
                context.Err.WriteLine($"error: {e.Message}");
            }

            context.Err.WriteLine("(see distbackprop --help, or distbackprop <command> --help)");
            return ExitCodes.Usage;
        }

        return parseResult.Invoke(new InvocationConfiguration
        {
            Output = context.Out,
            Error = context.Err,
            EnableDefaultExceptionHandler = false,
        });
    }

    public static RootCommand BuildRoot(CliContext context)
    {
        var root = new RootCommand("distbackprop: MLP training with hand-written backprop, data-parallel on Akka.NET actors.");
        foreach (var command in Commands(context))
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>Every command, in the order --help lists them.</summary>
    private static IEnumerable<Command> Commands(CliContext context)
    {
        yield return TrainCommand.Create(context);
        yield return CoordinatorCommand.Create(context);
        yield return WorkerCommand.Create(context);
        yield return EvalCommand.Create(context);
        yield return ExportCommand.Create(context);
        yield return GradCheckCommand.Create(context);
        yield return ExplainCommand.Create(context);
        yield return PlotCommand.Create(context);
        yield return BenchCommand.Create(context);
        yield return MonitorCommand.Create(context);
        yield return DownloadCommand.Create(context);
        yield return TokenCommand.Create(context);
        yield return CertCommand.Create(context);
        yield return ScalingCommand.Create(context); // hidden: the scaling study's tools (docs/scaling.md)
    }
}
