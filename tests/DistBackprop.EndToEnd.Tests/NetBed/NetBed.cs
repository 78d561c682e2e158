// The multi-host test bed from the tests' side: N network namespaces joined by a bridge, made and changed only
// through deploy/netns-cluster.sh (the script a user runs by hand), named "dbt-{test process id}-{random}" so that
// concurrent runs never collide and leftovers of a dead run can be told from a live one. Every bed is taken down in
// Dispose, at process exit, and — for beds whose creating process is gone — by the sweep before the first new bed.
// Leaves out: what runs on the hosts (BedCluster) and the scenarios (NetBedTests).
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace DistBackprop.EndToEnd.Tests.NetBed;

public sealed partial class NetBed : IDisposable
{
    /// <summary>The prefix of every bed these tests make (and the only ones the sweep may remove).</summary>
    public const string Prefix = "dbt-";

    private static readonly HashSet<NetBed> Live = [];
    private static readonly Lazy<string?> Unavailable = new(Check);
    private static int _swept;
    private bool _down;

    static NetBed() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        lock (Live)
        {
            foreach (var bed in Live.ToList())
            {
                bed.Dispose();
            }
        }
    };

    private NetBed(string name, int hosts)
    {
        Name = name;
        Hosts = hosts;
    }

    /// <summary>deploy/netns-cluster.sh in this repository.</summary>
    public static string Script { get; } = Path.Combine(RepositoryRoot(), "deploy", "netns-cluster.sh");

    /// <summary>Null when beds can be made here; otherwise why not (the tests skip, saying so).</summary>
    public static string? WhyUnavailable => Unavailable.Value;

    public string Name { get; }

    public int Hosts { get; }

    /// <summary>Host i's address, 10.213.0.(10 + i), reachable only from inside the bed.</summary>
    public static string Address(int host) => $"10.213.0.{10 + host}";

    /// <summary>The namespace of host i (what <c>ip netns exec</c> takes).</summary>
    public string Namespace(int host) => $"{Name}-h{host}";

    /// <summary>Makes a bed of <paramref name="hosts"/> hosts, each link limited to <paramref name="rate"/> (e.g. "200mbit") when given.</summary>
    public static NetBed Create(int hosts, string? rate = null)
    {
        var bed = Register(hosts);
        try
        {
            Run(rate is null ? ["up", bed.Name, $"{hosts}"] : ["up", bed.Name, $"{hosts}", rate]);
        }
        catch
        {
            bed.Dispose();
            throw;
        }

        return bed;
    }

    /// <summary>
    /// A bed name of this test process, registered for the cleanups (Dispose, process exit, the next run's sweep), for a
    /// script that brings the bed up itself (deploy/netns-bench.sh --bed NAME); nothing is made here.
    /// </summary>
    public static NetBed ForScript(int hosts) => Register(hosts);

    /// <summary>A new bed name of this test process, registered for the cleanups (Dispose, process exit, the next run's sweep).</summary>
    private static NetBed Register(int hosts)
    {
        if (WhyUnavailable is { } why)
        {
            throw new InvalidOperationException($"network namespaces are not available: {why}");
        }

        if (Interlocked.Exchange(ref _swept, 1) == 0)
        {
            SweepLeftovers();
        }

        var bed = new NetBed($"{Prefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}", hosts);
        lock (Live)
        {
            Live.Add(bed);
        }

        return bed;
    }

    /// <summary>True while any namespace of this bed exists.</summary>
    public bool Exists => Run(["list", Name]).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Contains(Name, StringComparer.Ordinal);

    /// <summary>Partitions host i: its link goes down (packets dropped, sockets kept open), as a pulled cable.</summary>
    public void Cut(int host) => Run(["cut", Name, $"{host}"]);

    /// <summary>Bytes host <paramref name="host"/>'s interface has received so far (its eth0 counter, read inside its namespace).</summary>
    public long ReceivedBytes(int host)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ip")
        {
            ArgumentList = { "netns", "exec", Namespace(host), "cat", "/sys/class/net/eth0/statistics/rx_bytes" },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Heal(int host) => Run(["heal", Name, $"{host}"]);

    /// <summary>Kills every process in the bed's namespaces and deletes them (idempotent).</summary>
    public void Dispose()
    {
        lock (Live)
        {
            if (_down)
            {
                return;
            }

            _down = true;
            Live.Remove(this);
        }

        try
        {
            Run(["down", Name]);
        }
        catch (InvalidOperationException)
        {
            // nothing more can be done here; the next run's sweep tries again
        }
    }

    /// <summary>Removes beds of this prefix whose creating process no longer runs (a run killed before it cleaned up).</summary>
    public static IReadOnlyList<string> SweepLeftovers()
    {
        var removed = new List<string>();
        foreach (var bed in Run(["list", Prefix]).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var m = BedName().Match(bed);
            if (m.Success && int.TryParse(m.Groups[1].Value, out var pid) && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}"))
            {
                Run(["down", bed]);
                removed.Add(bed);
            }
        }

        return removed;
    }

    // runs the script; its output, or InvalidOperationException with everything it said
    private static string Run(string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Script);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info) ?? throw new InvalidOperationException("cannot start bash");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"netns-cluster.sh {string.Join(' ', args)} did not finish within 60 s");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"netns-cluster.sh {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}{stdout.Result}");
        }

        return stdout.Result;
    }

    private static string? Check()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "not Linux";
        }

        try
        {
            var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add(Script);
            info.ArgumentList.Add("check");
            using var p = Process.Start(info)!;
            var said = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null : said.Trim();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"cannot run bash ({e.Message})";
        }
    }

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "DistBackprop.sln")))
            {
                return d.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no DistBackprop.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"^dbt-([0-9]+)-[0-9a-f]{6}$", RegexOptions.CultureInvariant)]
    private static partial Regex BedName();
}
