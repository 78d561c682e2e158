// A `distbackprop` child process for `bench --mode cluster`: started from this process's own
// executable (the apphost beside this assembly, else `dotnet distbackprop.dll`), its standard output and
// error drained into a short tail for error messages, and killed with its children on Dispose.
// Leaves out: what the child runs (ClusterBench builds the arguments).
using System.Diagnostics;

namespace DistBackprop.Host.Bench;

public sealed class ChildProcess : IDisposable
{
    private const int TailLines = 15;
    private readonly Process _process;
    private readonly Queue<string> _tail = new();

    private ChildProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts `distbackprop <paramref name="args"/>`.</summary>
    public static ChildProcess Start(string name, IReadOnlyList<string> args)
    {
        var (file, prefix) = Executable();
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in prefix.Concat(args))
        {
            info.ArgumentList.Add(a);
        }

        var process = new Process { StartInfo = info };
        var child = new ChildProcess(name, process);
        process.OutputDataReceived += (_, e) => child.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => child.Keep(e.Data);
        if (!process.Start())
        {
            throw new BenchFailedException($"bench --mode cluster: could not start {file}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>
    /// How to run `distbackprop` again: this process when it is the distbackprop apphost, else the apphost
    /// next to this assembly, else the dotnet host with this assembly (e.g. under the test runner).
    /// </summary>
    public static (string File, string[] Prefix) Executable()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "distbackprop")
        {
            return (self, []);
        }

        var dll = typeof(ChildProcess).Assembly.Location;
        var apphost = Path.Combine(Path.GetDirectoryName(dll) ?? ".", OperatingSystem.IsWindows() ? "distbackprop.exe" : "distbackprop");
        if (File.Exists(apphost))
        {
            return (apphost, []);
        }

        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (string.IsNullOrEmpty(dotnet))
        {
            dotnet = self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        }

        return (dotnet, [dll]);
    }

    /// <summary>The last lines the child printed, as "\n  | line" text (empty when it printed nothing).</summary>
    public string Tail()
    {
        lock (_tail)
        {
            return _tail.Count == 0 ? string.Empty : $"; its last output:{string.Concat(_tail.Select(l => $"{Environment.NewLine}  | {l}"))}";
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }

        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            _tail.Enqueue(line);
            while (_tail.Count > TailLines)
            {
                _tail.Dequeue();
            }
        }
    }
}
