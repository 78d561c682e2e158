// One test's cluster on a NetBed: the ONE place that starts `distbackprop` processes on the bed's hosts (each through
// `ip netns exec`), with the fault tests' fast failure detection (but 3 s of heartbeat pause: on a loaded machine
// 1.5 s made healthy workers blink unreachable), and owns them: Dispose kills them and takes the bed down, Fail prints
// every output. The cluster is secure by default: the test's ClusterJoin gives the coordinator its --state-dir (the
// cluster CA) and every worker --state-dir (one per host, as each host has its own disk) and --join TOKEN, nowhere else.
// Leaves out: the namespaces themselves (NetBed) and the scenarios (NetBedTests).
using System.Diagnostics;
using DistBackprop.EndToEnd.Tests.Faults;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests.NetBed;

public sealed class BedCluster : IDisposable
{
    /// <summary>The coordinator's Akka port on its host (the tensor channel is the next one).</summary>
    public const int Port = 4053;

    /// <summary>FaultRun.FastDetection with a 3 s pause: unreachable after about 3.3 s, downed 1 s later.</summary>
    public static readonly IReadOnlyDictionary<string, string> Detection = new Dictionary<string, string>(FaultRun.FastDetection)
    {
        ["DistBackprop__Cluster__AcceptableHeartbeatPause"] = "3",
    };

    private readonly ITestOutputHelper _output;
    private readonly List<NodeProcess> _nodes = [];
    private readonly List<MetricsWatcher> _watchers = [];
    private readonly TempFolder _dir = new();

    public BedCluster(ITestOutputHelper output, int hosts, string? rate = null, int coordinatorHost = 0)
    {
        _output = output;
        CoordinatorHost = coordinatorHost;
        Bed = NetBed.Create(hosts, rate);
        Join = new ClusterJoin(_dir.Path);
    }

    /// <summary>The test's cluster CA and join token (mutual TLS, the default).</summary>
    public ClusterJoin Join { get; }

    public NetBed Bed { get; }

    public int CoordinatorHost { get; }

    /// <summary>akka.ssl.tcp://distbackprop@{coordinator host's address}:4053.</summary>
    public string SeedAddress => $"akka.ssl.tcp://distbackprop@{NetBed.Address(CoordinatorHost)}:{Port}";

    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    public string Dir => _dir.Path;

    public string File(string name) => _dir.File(name);

    /// <summary>
    /// `distbackprop coordinator` on its host: <see cref="FaultRun.Common"/>(<paramref name="steps"/>), the port, and
    /// <paramref name="network"/> (default: bind the host's own address) then <paramref name="args"/>.
    /// </summary>
    public NodeProcess Coordinator(int steps, string[]? network, params string[] args) =>
        Start("coordinator", CoordinatorHost,
            ["coordinator", .. FaultRun.Common(steps), "--port", $"{Port}", .. network ?? ["--host", NetBed.Address(CoordinatorHost)], .. Join.Coordinator, .. args]);

    /// <summary>`distbackprop worker` on host <paramref name="host"/>, joining the coordinator, one kernel thread.</summary>
    public NodeProcess Worker(int host, string[]? network = null, params string[] args) =>
        Start($"worker h{host}", host,
            ["worker", "--plain", "--seed-nodes", SeedAddress, "--threads", "1", .. network ?? ["--host", NetBed.Address(host)], .. Join.WorkerOwn($"h{host}"), .. args]);

    /// <summary>Watches the metrics file <paramref name="name"/> (in this cluster's folder) from now on.</summary>
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
        }

        Bed.Dispose(); // also kills anything left in its namespaces
        _dir.Dispose();
    }

    private NodeProcess Start(string name, int host, string[] args)
    {
        var node = NodeProcess.Start(name, Dir, Detection, ["ip", "netns", "exec", Bed.Namespace(host)], args);
        _nodes.Add(node);
        return node;
    }
}
