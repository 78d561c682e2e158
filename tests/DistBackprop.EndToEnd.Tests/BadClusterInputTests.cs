// Bad cluster inputs end with exit code 2 and a message that names the problem (SPEC §6–7): a malformed
// seed-node address (at once), a model too big for --max-frame-size (before anything starts), and a
// worker whose architecture or dataset differs from the coordinator's (refused, logged on both sides).
// Every process is killed in Dispose, whatever happens; outputs are printed when a test fails.
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests;

public sealed class BadClusterInputTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(45);

    [Theory]
    [InlineData("akka.tcp://distbackprop@127.0.0.1")]
    [InlineData("not an address")]
    [InlineData("akka.tcp://other@127.0.0.1:4053")]
    public async Task MalformedSeedNodeExitsAtOnceWithCode2(string address)
    {
        using var dir = new TempFolder();
        using var worker = NodeProcess.Start("worker", dir.Path, "worker", "--plain", "--seed-nodes", address);
        await Expect(worker, async () =>
        {
            Assert.Equal(2, await worker.ExitCodeAsync(Quick));
            Assert.Contains("error: --seed-nodes", worker.Err, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", worker.Err, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task ModelTooBigForTheFrameSizeIsRefusedAtStart()
    {
        using var dir = new TempFolder();
        var join = new ClusterJoin(dir.Path);
        using var coordinator = NodeProcess.Start("coordinator", dir.Path, ["coordinator", "--plain", "--port", $"{NodeProcess.FreePort()}", "--max-frame-size", "64KiB", .. join.Coordinator]);
        await Expect(coordinator, async () =>
        {
            Assert.Equal(2, await coordinator.ExitCodeAsync(Quick));
            Assert.Contains("error: --max-frame-size", coordinator.Err, StringComparison.Ordinal);
            Assert.Contains("too small", coordinator.Err, StringComparison.Ordinal);
            Assert.DoesNotContain("coordinator up at", coordinator.Out, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task MalformedFrameSizeNamesTheOption()
    {
        using var dir = new TempFolder();
        using var worker = NodeProcess.Start("worker", dir.Path, "worker", "--plain", "--seed-nodes", NodeProcess.SeedAddress(4053), "--max-frame-size", "64XB");
        await Expect(worker, async () =>
        {
            Assert.Equal(2, await worker.ExitCodeAsync(Quick));
            Assert.Contains("error: --max-frame-size: '64XB' is not a size", worker.Err, StringComparison.Ordinal);
        });
    }

    private async Task Expect(NodeProcess node, Func<Task> check)
    {
        try
        {
            await check();
        }
        catch
        {
            output.WriteLine(node.ToString());
            throw;
        }
    }
}

/// <summary>One coordinator (waiting for a worker that never comes) shared by the refusal tests.</summary>
public sealed class WaitingCoordinator : IAsyncLifetime
{
    private readonly TempFolder _dir = new();

    public NodeProcess Node { get; private set; } = null!;

    public string Seed { get; private set; } = string.Empty;

    public ClusterJoin Join { get; private set; } = null!;

    public string Directory => _dir.Path;

    public async Task InitializeAsync()
    {
        var port = NodeProcess.FreePort();
        Seed = NodeProcess.SeedAddress(port);
        Join = new ClusterJoin(_dir.Path);
        Node = NodeProcess.Start("coordinator", _dir.Path, ["coordinator", "--plain", "--port", $"{port}", "--min-workers", "1", "--seed", "3", "--max-steps", "1000000", .. Join.Coordinator]);
        await Node.WaitForAsync("coordinator up at", TimeSpan.FromSeconds(60));
    }

    public Task DisposeAsync()
    {
        Node?.Dispose();
        _dir.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class RefusedWorkerTests(WaitingCoordinator coordinator, ITestOutputHelper output) : IClassFixture<WaitingCoordinator>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public Task DifferentArchitectureIsRefusedOnBothSides() =>
        Refused(["--layers", "400,64,10"], "its architecture 400,64,10 relu softmax-ce differs from the coordinator's 400,128,10 relu softmax-ce");

    [Fact]
    public Task DifferentDatasetIsRefusedOnBothSides() =>
        Refused(["--data", "spirals"], "its dataset fingerprint");

    [Fact]
    public Task DifferentDataSeedIsRefusedOnBothSides() =>
        Refused(["--seed", "4"], "its dataset fingerprint");

    private async Task Refused(string[] extra, string reason)
    {
        using var worker = NodeProcess.Start("worker", coordinator.Directory, ["worker", "--plain", "--seed-nodes", coordinator.Seed, "--threads", "1", .. coordinator.Join.Worker, .. extra]);
        try
        {
            Assert.Equal(2, await worker.ExitCodeAsync(Timeout));
            Assert.Contains("refused: " + reason, worker.Err, StringComparison.Ordinal);
            Assert.Contains("error: worker ", worker.Err, StringComparison.Ordinal);
            // the coordinator's side names the same worker and reason, and it keeps waiting
            await coordinator.Node.WaitForAsync($"-{worker.Id} refused: {reason}", Timeout);
            Assert.False(coordinator.Node.HasExited, "the coordinator exited after refusing a worker");
        }
        catch
        {
            output.WriteLine(worker.ToString());
            output.WriteLine(coordinator.Node.ToString());
            throw;
        }
    }
}
