// One `distbackprop` process started by a test: the built program run with the `dotnet` host, in its
// own working directory, with no DISTBACKPROP__ settings inherited. Standard output and error are
// captured (and shown by ToString for failure messages). Dispose kills the process tree if it is still
// running, so a failing test never leaves a node behind.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DistBackprop.EndToEnd.Tests;

public sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();
    private readonly string _name;

    private NodeProcess(string name, Process process)
    {
        _name = name;
        _process = process;
    }

    /// <summary>src/DistBackprop.Host/bin/{Configuration}/net10.0/distbackprop.dll, the configuration this test assembly was built in.</summary>
    public static string Program { get; } = FindProgram();

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Out
    {
        get
        {
            lock (_out)
            {
                return _out.ToString();
            }
        }
    }

    public string Err
    {
        get
        {
            lock (_err)
            {
                return _err.ToString();
            }
        }
    }

    /// <summary>Starts <c>distbackprop {args}</c> in <paramref name="directory"/>.</summary>
    public static NodeProcess Start(string name, string directory, params string[] args) => Start(name, directory, null, args);

    /// <summary>Starts <c>distbackprop {args}</c> in <paramref name="directory"/> with <paramref name="environment"/> added (e.g. DistBackprop__Cluster__… timings).</summary>
    public static NodeProcess Start(string name, string directory, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Start(name, directory, environment, [], args);

    /// <summary>As <see cref="Start(string, string, IReadOnlyDictionary{string, string}?, string[])"/>, under <c>prlimit --nofile=N:N</c>
    /// (which execs the program: the process id is the program's).</summary>
    public static NodeProcess StartWithFileLimit(string name, string directory, int files, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Start(name, directory, environment, ["prlimit", $"--nofile={files}:{files}"], args);

    /// <summary>
    /// As <see cref="Start(string, string, IReadOnlyDictionary{string, string}?, string[])"/>, run through
    /// <paramref name="launcher"/> (e.g. <c>ip netns exec NS</c>, which execs: the process is still dotnet itself).
    /// </summary>
    public static NodeProcess Start(string name, string directory, IReadOnlyDictionary<string, string>? environment, IReadOnlyList<string> launcher, params string[] args)
    {
        var info = new ProcessStartInfo(launcher.Count > 0 ? launcher[0] : "dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (launcher.Count > 0)
        {
            foreach (var a in launcher.Skip(1))
            {
                info.ArgumentList.Add(a);
            }

            info.ArgumentList.Add("dotnet");
        }

        info.ArgumentList.Add(Program);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("DISTBACKPROP", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key);
        }

        info.Environment["DOTNET_gcServer"] = "0";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var p = new Process { StartInfo = info, EnableRaisingEvents = true };
        var node = new NodeProcess(name, p);
        p.OutputDataReceived += (_, e) => Append(node._out, e.Data);
        p.ErrorDataReceived += (_, e) => Append(node._err, e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return node;
    }

    /// <summary>Waits for the exit code; throws TimeoutException (with the captured output) after <paramref name="timeout"/>.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name} did not exit within {timeout.TotalSeconds:0} s\n{this}");
        }

        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    /// <summary>Waits until standard output or error contains <paramref name="text"/>.</summary>
    public async Task WaitForAsync(string text, TimeSpan timeout)
    {
        var until = Stopwatch.StartNew();
        while (!(Out.Contains(text, StringComparison.Ordinal) || Err.Contains(text, StringComparison.Ordinal)))
        {
            if (until.Elapsed > timeout)
            {
                throw new TimeoutException($"{_name}: no '{text}' within {timeout.TotalSeconds:0} s\n{this}");
            }

            if (_process.HasExited)
            {
                await Task.Delay(200); // let the readers drain, then look once more
                if (Out.Contains(text, StringComparison.Ordinal) || Err.Contains(text, StringComparison.Ordinal))
                {
                    return;
                }

                throw new InvalidOperationException($"{_name} exited ({_process.ExitCode}) before printing '{text}'\n{this}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>SIGTERM (graceful stop); on Windows, a kill.</summary>
    public void Terminate()
    {
        if (_process.HasExited)
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            _process.Kill(entireProcessTree: true);
            return;
        }

        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false });
        kill?.WaitForExit();
    }

    /// <summary>Sends a signal by name ("STOP" freezes the process as a long GC pause or a swapped-out host would, "CONT" resumes it).</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { $"-{name}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false });
        kill?.WaitForExit();
    }

    /// <summary>kill -9: SIGKILL at once (no coordinated shutdown, no leave), and waits until the process is gone.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // exited already
        }
    }

    public override string ToString() => $"--- {_name} stdout\n{Out}\n--- {_name} stderr\n{Err}";

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
        }

        _process.Dispose();
    }

    /// <summary>A loopback port nobody listens on right now.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>The seed address of a coordinator on this port in the secure default (akka.ssl.tcp; workers also accept akka.tcp and rewrite it).</summary>
    public static string SeedAddress(int port) => $"akka.ssl.tcp://distbackprop@127.0.0.1:{port}";

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sb)
        {
            sb.AppendLine(line);
        }
    }

    private static string FindProgram()
    {
        // .../tests/DistBackprop.EndToEnd.Tests/bin/{Configuration}/net10.0/
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = baseDir.Parent?.Name ?? "Release";
        for (var d = baseDir; d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "DistBackprop.sln")))
            {
                var dll = Path.Combine(d.FullName, "src", "DistBackprop.Host", "bin", configuration, baseDir.Name, "distbackprop.dll");
                if (File.Exists(dll))
                {
                    return dll;
                }

                throw new FileNotFoundException($"the built program is missing: {dll} (build src/DistBackprop.Host -c {configuration})");
            }
        }

        throw new DirectoryNotFoundException($"no DistBackprop.sln above {baseDir.FullName}");
    }
}

/// <summary>A fresh temporary folder per test (the nodes' working directory), deleted afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Path = Directory.CreateTempSubdirectory("distbackprop-e2e-").FullName;

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
        catch (UnauthorizedAccessException)
        {
        }
    }
}
