// Turns what a command throws into an exit code and one message on standard error (SPEC §6):
// bad usage / bad data / bad checkpoint → 2, training diverged → 3, anything else → 1
// (stack trace only with --verbose or DISTBACKPROP_STACKTRACES=1). Leaves out: parse errors
// of System.CommandLine itself (DistBackpropCli handles those, also exit 2).
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Training;

namespace DistBackprop.Host.Commands;

public static class CommandRunner
{
    public static int Run(CliContext context, Func<int> body)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return body();
        }
        catch (UsageException e)
        {
            foreach (var m in e.Messages)
            {
                context.Err.WriteLine($"error: {m}");
            }

            return ExitCodes.Usage;
        }
        catch (DataFormatException e)
        {
            context.Err.WriteLine($"error: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (CheckpointException e)
        {
            context.Err.WriteLine($"error: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (TrainingDivergedException e)
        {
            context.Err.WriteLine($"error: {e.Message}");
            return ExitCodes.Diverged;
        }
        catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
        {
            context.Err.WriteLine("stopped");
            return ExitCodes.Ok;
        }
        catch (Exception e)
        {
            var oneLine = e.Message.ReplaceLineEndings(" ");
            context.Err.WriteLine($"error: {e.GetType().Name}: {oneLine}");
            if (context.Verbose || context.Environment.StackTraces)
            {
                context.Err.WriteLine(e.ToString());
            }
            else
            {
                context.Err.WriteLine("(run with --verbose or DISTBACKPROP_STACKTRACES=1 for the stack trace)");
            }

            return ExitCodes.RuntimeFailure;
        }
    }
}
