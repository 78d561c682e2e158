// A coordinator and two worker processes on loopback train the default synthetic digits, and the saved
// model equals, bit for bit, the model of local mode (`train`) with the same seed, options and shards
// (SPEC §3). One worker starts before the coordinator, one after; both outlive it and leave on SIGTERM.
using System.Runtime.InteropServices;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Host.Commands;
using DistBackprop.Host.Configuration;
using Xunit.Abstractions;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace DistBackprop.EndToEnd.Tests;

public sealed class ClusterRunTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task CoordinatorAndTwoWorkerProcessesMatchLocalModeBitForBit()
    {
        using var dir = new TempFolder();
        var join = new ClusterJoin(dir.Path);
        var port = NodeProcess.FreePort();
        var seed = NodeProcess.SeedAddress(port);
        string[] common = ["--plain", "--max-steps", "300", "--shards", "2", "--seed", "3"];
        var clusterModel = dir.File("cluster.safetensors");
        var nodes = new List<NodeProcess>();
        try
        {
            // a worker before the coordinator exists: it keeps retrying (to enrol, then to join the seed address)
            nodes.Add(NodeProcess.Start("worker 1", dir.Path, ["worker", "--plain", "--seed-nodes", seed, "--threads", "1", .. join.Worker]));
            await nodes[0].WaitForAsync("until the coordinator answers", Start);
            nodes.Add(NodeProcess.Start("coordinator", dir.Path,
                ["coordinator", .. common, "--min-workers", "2", "--port", $"{port}", "--out", clusterModel, "--metrics", dir.File("metrics.csv"), .. join.Coordinator]));
            await nodes[1].WaitForAsync("coordinator up at", Start);
            nodes.Add(NodeProcess.Start("worker 2", dir.Path, ["worker", "--plain", "--seed-nodes", seed, "--threads", "1", .. join.Worker]));
            var coordinator = nodes[1];

            Assert.Equal(0, await coordinator.ExitCodeAsync(Run));
            Assert.Contains("ready; 2 worker(s) live", coordinator.Out, StringComparison.Ordinal);
            Assert.Contains("step 300/300", coordinator.Out, StringComparison.Ordinal);
            Assert.Equal(301, File.ReadAllLines(dir.File("metrics.csv")).Length);

            // the workers outlive the coordinator (never exit on their own); SIGTERM → graceful leave, exit 0
            Assert.False(nodes[0].HasExited, "a worker exited on its own");
            Assert.False(nodes[2].HasExited, "a worker exited on its own");
            foreach (var w in new[] { nodes[0], nodes[2] })
            {
                w.Terminate();
                Assert.Equal(0, await w.ExitCodeAsync(Start));
                Assert.Contains("left the cluster", w.Out, StringComparison.Ordinal);
                Assert.Contains("kernels ", w.Out, StringComparison.Ordinal);
            }

            // local mode, same seed, options and shards, in this process
            var localModel = dir.File("local.safetensors");
            using var localOut = new StringWriter();
            using var localErr = new StringWriter();
            var context = new CliContext(localOut, localErr, new CliEnvironment(new System.Collections.Hashtable(), dir.Path, BaseDirectory: null));
            var code = DistBackpropCli.Run(["train", .. common, "--workers", "2", "--threads", "1", "--out", localModel], context);
            Assert.True(code == 0, $"train exited {code}\n{localOut}\n{localErr}");

            var cluster = ModelFile.Load(clusterModel);
            var local = ModelFile.Load(localModel);
            Assert.Equal(local.Sizes, cluster.Sizes);
            var a = MemoryMarshal.Cast<float, int>(local.Parameters);
            var b = MemoryMarshal.Cast<float, int>(cluster.Parameters);
            var differ = 0;
            var maxDiff = 0.0;
            for (var i = 0; i < a.Length; i++)
            {
                if (a[i] != b[i])
                {
                    differ++;
                    maxDiff = Math.Max(maxDiff, Math.Abs((double)local.Parameters[i] - cluster.Parameters[i]));
                }
            }

            Assert.True(differ == 0, $"{differ} of {a.Length} parameters differ between cluster and local mode; max |diff| {maxDiff:G6}");
        }
        catch
        {
            foreach (var n in nodes)
            {
                output.WriteLine(n.ToString());
            }

            throw;
        }
        finally
        {
            foreach (var n in nodes)
            {
                n.Dispose();
            }
        }
    }
}
