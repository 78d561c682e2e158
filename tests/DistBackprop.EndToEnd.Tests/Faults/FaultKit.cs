// What the process-level fault tests share (issue 4, SPEC §3 and §7): the fast failure-detector settings
// given to every node through DistBackprop__Cluster__… variables, a cluster scene that owns its processes
// (killed in Dispose, outputs printed when the test fails), a watcher that notes the wall time at which each
// --metrics row appears (the metrics file has no time column, and SPEC §6 fixes its header), the local-mode
// reference models (computed once per test class) and the bit-for-bit model comparison.
// Leaves out: the scenarios themselves (WorkerFaultTests, CoordinatorRestartTests).
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Host.Commands;
using DistBackprop.Host.Configuration;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests.Faults;

/// <summary>Run options every scenario shares: the default digits data, a fixed seed and step count.</summary>
public static class FaultRun
{
    /// <summary>Steps of a run: long enough to hurt a run in its middle, short enough for a quick test.</summary>
    public const int Steps = 400;

    /// <summary>The options of both `train` (reference) and `coordinator`, without --shards.</summary>
    public static string[] Common(int steps) => ["--plain", "--max-steps", $"{steps}", "--seed", "5"];

    /// <summary>
    /// Fast failure detection (docs/cluster-faults.md): a killed node is unreachable after about 1.7 s and downed
    /// 1 s later; workers retry the seed every second. The pause stays above a loaded machine's hiccups.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> FastDetection = new Dictionary<string, string>
    {
        ["DistBackprop__Cluster__HeartbeatInterval"] = "0.25",
        ["DistBackprop__Cluster__AcceptableHeartbeatPause"] = "1.5",
        ["DistBackprop__Cluster__DowningStableAfter"] = "1",
        ["DistBackprop__Cluster__JoinRetry"] = "1",
        ["DistBackprop__Cluster__LeaveTimeout"] = "1",
    };

    /// <summary>Waiting for a process to start, print its address or join.</summary>
    public static readonly TimeSpan Start = TimeSpan.FromSeconds(60);

    /// <summary>Waiting for a whole run (or the rest of it) on a loaded machine.</summary>
    public static readonly TimeSpan Run = TimeSpan.FromSeconds(150);

    /// <summary>Elapsed seconds as "1.23 s".</summary>
    public static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.00} s");
}

/// <summary>
/// One test's cluster: a temporary folder, a free port, the processes started in it. Dispose kills every process
/// still running and deletes the folder; <see cref="Fail"/> prints every captured output.
/// </summary>
public sealed class Scene : IDisposable
{
    // a test abandoned by its timeout may not reach Dispose before the test host exits: kill its nodes then
    private static readonly HashSet<NodeProcess> Running = [];

    private readonly ITestOutputHelper _output;
    private readonly List<NodeProcess> _nodes = [];
    private readonly List<MetricsWatcher> _watchers = [];
    private readonly TempFolder _dir = new();

    static Scene() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        lock (Running)
        {
            foreach (var n in Running)
            {
                n.Dispose();
            }

            Running.Clear();
        }
    };

    /// <param name="output">Where the captured outputs go when the test fails.</param>
    /// <param name="steps">--max-steps of the coordinators started in this scene.</param>
    /// <param name="environment">Overrides of <see cref="FaultRun.FastDetection"/> for every node of the scene.</param>
    public Scene(ITestOutputHelper output, int steps = FaultRun.Steps, IReadOnlyDictionary<string, string>? environment = null)
    {
        _output = output;
        Steps = steps;
        Port = NodeProcess.FreePort();
        var env = new Dictionary<string, string>(FaultRun.FastDetection);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }

        _environment = env;
        Join = new ClusterJoin(_dir.Path);
    }

    private readonly IReadOnlyDictionary<string, string> _environment;

    public int Steps { get; }

    public int Port { get; }

    /// <summary>This scene's cluster CA and join token (the secure default).</summary>
    public ClusterJoin Join { get; private set; } = null!;

    public string SeedAddress => NodeProcess.SeedAddress(Port);

    public string Dir => _dir.Path;

    /// <summary>The one clock of the test: kill times and metrics rows are read against it.</summary>
    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    public string File(string name) => _dir.File(name);

    /// <summary>`distbackprop coordinator` at this scene's port with the fast timings, <see cref="FaultRun.Common"/> and <paramref name="args"/>.</summary>
    public NodeProcess Coordinator(string name, params string[] args) =>
        Add(NodeProcess.Start(name, Dir, _environment, ["coordinator", .. FaultRun.Common(Steps), "--port", $"{Port}", .. Join.Coordinator, .. args]));

    /// <summary>`distbackprop worker` joining this scene's coordinator, one kernel thread.</summary>
    public NodeProcess Worker(string name) =>
        Add(NodeProcess.Start(name, Dir, _environment, ["worker", "--plain", "--seed-nodes", SeedAddress, "--threads", "1", .. Join.Worker]));

    /// <summary>Watches the metrics file <paramref name="name"/> (in this scene's folder) from now on.</summary>
    public MetricsWatcher Watch(string name)
    {
        var w = new MetricsWatcher(File(name), Clock);
        _watchers.Add(w);
        return w;
    }

    /// <summary>Prints every captured output (call in the catch of a failing test).</summary>
    public void Fail()
    {
        foreach (var n in _nodes)
        {
            _output.WriteLine(n.ToString());
        }

        foreach (var w in _watchers)
        {
            _output.WriteLine($"--- {w.Path}: {w.Rows.Count} rows seen");
        }
    }

    public void Dispose()
    {
        foreach (var w in _watchers)
        {
            w.Dispose();
        }

        foreach (var n in _nodes)
        {
            n.Dispose();
            lock (Running)
            {
                Running.Remove(n);
            }
        }

        _dir.Dispose();
    }

    /// <summary>Owns <paramref name="n"/> (killed in Dispose, printed by Fail).</summary>
    public NodeProcess Add(NodeProcess n)
    {
        lock (Running)
        {
            Running.Add(n);
        }

        _nodes.Add(n);
        return n;
    }
}

/// <summary>One --metrics row as it was first seen: step, live workers, and when (on the scene's clock).</summary>
public sealed record SeenRow(long Step, int Workers, TimeSpan SeenAt);

/// <summary>
/// Polls a --metrics CSV file (the coordinator flushes a row per completed step) every 20 ms and notes when each
/// row appeared, so the test can tell how long after a kill the next step completed.
/// </summary>
public sealed class MetricsWatcher : IDisposable
{
    private readonly Stopwatch _clock;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<SeenRow> _rows = new();
    private readonly Task _poll;
    private int _linesRead;

    public MetricsWatcher(string path, Stopwatch clock)
    {
        Path = path;
        _clock = clock;
        _poll = Task.Run(PollAsync);
    }

    public string Path { get; }

    public IReadOnlyList<SeenRow> Rows => [.. _rows];

    /// <summary>The last completed step seen so far (0 before any).</summary>
    public long LastStep => _rows.LastOrDefault()?.Step ?? 0;

    /// <summary>Waits until a row for step <paramref name="step"/> or later has been seen; fails early when <paramref name="node"/> exits.</summary>
    public async Task<SeenRow> WaitForStepAsync(long step, NodeProcess node, TimeSpan timeout)
    {
        var until = Stopwatch.StartNew();
        while (true)
        {
            if (_rows.LastOrDefault() is { } last && last.Step >= step)
            {
                return last;
            }

            if (node.HasExited)
            {
                throw new InvalidOperationException($"{Path}: the coordinator exited before step {step} (last seen {LastStep})");
            }

            if (until.Elapsed > timeout)
            {
                throw new TimeoutException($"{Path}: no step {step} within {timeout.TotalSeconds:0} s (last seen {LastStep})");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Reads whatever is left in the file (after the writer exited) and stops polling.</summary>
    public IReadOnlyList<SeenRow> Finish()
    {
        _stop.Cancel();
        _poll.Wait(TimeSpan.FromSeconds(5));
        ReadNewLines();
        return Rows;
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _poll.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
    }

    private async Task PollAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            ReadNewLines();
            try
            {
                await Task.Delay(20, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    // header: step,epoch,loss,accuracy,samples_per_s,workers,… (SPEC §6); only whole lines (ending in \n) count
    private void ReadNewLines()
    {
        lock (_rows)
        {
            string text;
            try
            {
                using var s = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var r = new StreamReader(s);
                text = r.ReadToEnd();
            }
            catch (IOException)
            {
                return; // not created yet
            }

            var now = _clock.Elapsed;
            var lines = text.Split('\n');
            for (var i = _linesRead; i < lines.Length - 1; i++)
            {
                _linesRead = i + 1;
                if (i == 0)
                {
                    continue; // the header
                }

                var cells = lines[i].Split(',');
                _rows.Enqueue(new SeenRow(long.Parse(cells[0], CultureInfo.InvariantCulture), int.Parse(cells[5], CultureInfo.InvariantCulture), now));
            }
        }
    }
}

/// <summary>
/// The local-mode (`train`) models the cluster runs must equal bit for bit (SPEC §3: same seed, data, options and
/// S give the same weights in local and cluster mode), each computed once per test class, in this process.
/// </summary>
public sealed class LocalReferences : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly Dictionary<(int, int), string> _models = [];

    /// <summary>The model of <c>train {Common(steps)} --workers S --shards S --threads 1</c>.</summary>
    public string Model(int shards, int steps = FaultRun.Steps)
    {
        lock (_models)
        {
            if (_models.TryGetValue((shards, steps), out var path))
            {
                return path;
            }

            path = _dir.File($"local-s{shards}-{steps}.safetensors");
            using var o = new StringWriter();
            using var e = new StringWriter();
            var context = new CliContext(o, e, new CliEnvironment(new System.Collections.Hashtable(), _dir.Path, BaseDirectory: null));
            var code = DistBackpropCli.Run(["train", .. FaultRun.Common(steps), "--workers", $"{shards}", "--shards", $"{shards}", "--threads", "1", "--out", path], context);
            Assert.True(code == 0, $"train exited {code}\n{o}\n{e}");
            _models[(shards, steps)] = path;
            return path;
        }
    }

    public void Dispose() => _dir.Dispose();
}

public static partial class FaultAssert
{
    /// <summary>Every parameter of <paramref name="actualPath"/> has the bits of <paramref name="expectedPath"/>'s; the message gives how many differ and the max |diff|.</summary>
    public static void BitIdentical(string expectedPath, string actualPath)
    {
        var expected = ModelFile.Load(expectedPath);
        var actual = ModelFile.Load(actualPath);
        Assert.Equal(expected.Sizes, actual.Sizes);
        var a = MemoryMarshal.Cast<float, int>(expected.Parameters);
        var b = MemoryMarshal.Cast<float, int>(actual.Parameters);
        Assert.Equal(a.Length, b.Length);
        var differ = 0;
        var maxDiff = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] != b[i])
            {
                differ++;
                maxDiff = Math.Max(maxDiff, Math.Abs((double)expected.Parameters[i] - actual.Parameters[i]));
            }
        }

        Assert.True(differ == 0, $"{differ} of {a.Length} parameters differ from the reference {Path.GetFileName(expectedPath)}; max |diff| {maxDiff:G6}");
    }

    /// <summary>Steps 1..<paramref name="last"/> (or <paramref name="first"/>..last) each exactly once, in order.</summary>
    public static void EveryStepOnce(IReadOnlyList<SeenRow> rows, long first, long last, string what)
    {
        var steps = rows.Select(r => r.Step).ToList();
        var expected = Enumerable.Range(0, (int)(last - first + 1)).Select(i => first + i).ToList();
        Assert.True(steps.SequenceEqual(expected),
            $"{what}: steps {first}..{last} once each expected, got {steps.Count} rows ({string.Join(',', steps.Take(5))} … {string.Join(',', steps.TakeLast(5))})");
    }

    /// <summary>The resume checkpoints in <paramref name="dir"/> (ckpt-{step:D8}.safetensors, not the temporary files), by step.</summary>
    public static IReadOnlyList<(long Step, string Path)> Checkpoints(string dir) =>
        !Directory.Exists(dir) ? [] :
        [.. Directory.EnumerateFiles(dir)
            .Select(f => (Match: CheckpointName().Match(System.IO.Path.GetFileName(f)), Path: f))
            .Where(x => x.Match.Success)
            .Select(x => (long.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture), x.Path))
            .OrderBy(x => x.Item1)];

    [GeneratedRegex(@"^ckpt-([0-9]{8,18})\.safetensors$", RegexOptions.CultureInvariant)]
    private static partial Regex CheckpointName();
}
