// Where configuration comes from besides the command line: environment variables, the current
// directory and the executable's directory. Tests pass their own so they never touch the process's.
using System.Collections;

namespace DistBackprop.Host.Configuration;

/// <param name="Variables">Environment variables (only DISTBACKPROP__* are read as settings).</param>
/// <param name="CurrentDirectory">Where the second appsettings.json is looked for.</param>
/// <param name="BaseDirectory">The executable's directory (first appsettings.json), or null to skip it.</param>
public sealed record CliEnvironment(IDictionary Variables, string CurrentDirectory, string? BaseDirectory)
{
    /// <summary>The real process environment.</summary>
    public static CliEnvironment FromProcess() =>
        new(Environment.GetEnvironmentVariables(), Directory.GetCurrentDirectory(), AppContext.BaseDirectory);

    /// <summary>$DISTBACKPROP_DATA (the data directory for --data mnist), or null for the loader's default.</summary>
    public string? DataDirectory => Variables["DISTBACKPROP_DATA"] is string { Length: > 0 } d ? d : null;

    /// <summary>DISTBACKPROP_STACKTRACES=1 (or DISTBACKPROP__VERBOSE=true) shows stack traces of runtime failures.</summary>
    public bool StackTraces =>
        Variables["DISTBACKPROP_STACKTRACES"] is string s && s is "1" or "true" or "True";
}
