// Bad usage or bad input found by the host (exit code 2): each message names the option or file
// and the problem, and is printed without a stack trace.
namespace DistBackprop.Host;

public sealed class UsageException : Exception
{
    public UsageException(IReadOnlyList<string> messages)
        : base(string.Join(Environment.NewLine, messages)) => Messages = messages;

    public UsageException(string message)
        : this([message])
    {
    }

    public IReadOnlyList<string> Messages { get; }
}

/// <summary>The process exit codes (SPEC §6).</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int RuntimeFailure = 1;
    public const int Usage = 2;
    public const int Diverged = 3;
}
