// The one place end-to-end tests get into a secure cluster, the way a user does: a state dir for the test (the
// coordinator's CA under <state>/coordinator, made with the same code as the coordinator's first start) and a join
// token, so workers can start before the coordinator; coordinators get --state-dir, workers --state-dir and --join.
// JoinLineFrom reads the `join:` line a coordinator printed, for tests that run exactly that command.
// Leaves out: --insecure (only the tests about it pass that themselves).
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Security;

namespace DistBackprop.EndToEnd.Tests;

public sealed class ClusterJoin
{
    /// <param name="directory">The test's folder; the state dir is its "state" sub-folder.</param>
    public ClusterJoin(string directory)
    {
        StateDir = Path.Combine(directory, "state");
        var authority = ClusterAuthority.OpenOrCreate(Path.Combine(StateDir, "coordinator"));
        Token = authority.CreateToken(NodeRole.Worker, TimeSpan.FromHours(1)).ToString();
        MonitorToken = authority.CreateToken(NodeRole.Monitor, TimeSpan.FromHours(1)).ToString();
    }

    public string StateDir { get; }

    /// <summary>A worker token of this cluster's CA (with its fingerprint).</summary>
    public string Token { get; }

    public string MonitorToken { get; }

    /// <summary>What a coordinator of this cluster adds to its command line.</summary>
    public string[] Coordinator => ["--state-dir", StateDir];

    /// <summary>What a worker adds: the state dir (its certificate is kept in &lt;state&gt;/worker) and the token.</summary>
    public string[] Worker => ["--state-dir", StateDir, "--join", Token];

    /// <summary>A worker with a state dir of its own (&lt;state&gt;/<paramref name="node"/>): a host of the bed keeps its own certificate, as a real one does.</summary>
    public string[] WorkerOwn(string node) => ["--state-dir", Path.Combine(StateDir, node), "--join", Token];

    public string[] Monitor => ["--state-dir", StateDir, "--join", MonitorToken];

    /// <summary>The arguments of the `join:` line in <paramref name="output"/> (after "distbackprop"); throws when there is none or several.</summary>
    public static string[] JoinLineFrom(string output)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("join: ", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(lines);
        var words = line["join: ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("distbackprop", words[0]);
        return words[1..];
    }
}
