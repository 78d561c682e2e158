// The training options in cluster mode: a coordinator and two worker processes train the digits with dropout, label smoothing,
// a validation split, early stopping, a cosine schedule with warmup and clipping, and the model equals local mode's with the same
// options and shards bit for bit. The workers get dropout p, ε and the mask seed in the model descriptor and the validation split
// in the dataset descriptor (one adopts the coordinator's data, the other loads its own with --seed/--val-split: same fingerprint).
using System.Runtime.InteropServices;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Host.Commands;
using DistBackprop.Host.Configuration;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests;

public sealed class TrainingOptionsClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Run = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Dropout_and_every_training_option_in_cluster_mode_match_local_mode_bit_for_bit()
    {
        using var dir = new TempFolder();
        var port = NodeProcess.FreePort();
        var seed = NodeProcess.SeedAddress(port);
        string[] common = ["--plain", "--max-steps", "250", "--batch", "100", "--shards", "3", "--seed", "3", "--dropout", "0.2", "--label-smoothing", "0.1",
            "--val-split", "0.1", "--early-stop", "2", "--optimizer", "momentum", "--lr", "0.05", "--lr-schedule", "cosine", "--warmup-steps", "20",
            "--clip-grad-norm", "1"];
        var clusterModel = dir.File("cluster.safetensors");
        var clusterBest = dir.File("cluster-best.safetensors");
        var nodes = new List<NodeProcess>();
        try
        {
            var join = new ClusterJoin(dir.Path); // the secure default
            nodes.Add(NodeProcess.Start("coordinator", dir.Path,
                ["coordinator", .. common, "--min-workers", "2", "--port", $"{port}", "--out", clusterModel, "--best-out", clusterBest, .. join.Coordinator]));
            await nodes[0].WaitForAsync("coordinator up at", Start);
            nodes.Add(NodeProcess.Start("worker 1", dir.Path, ["worker", "--plain", "--seed-nodes", seed, "--threads", "1", .. join.Worker]));
            nodes.Add(NodeProcess.Start("worker 2", dir.Path, ["worker", "--plain", "--seed-nodes", seed, "--threads", "1", "--seed", "3", "--val-split", "0.1", .. join.Worker]));
            var coordinator = nodes[0];

            Assert.Equal(0, await coordinator.ExitCodeAsync(Run));
            Assert.Contains("ready; 2 worker(s) live", coordinator.Out, StringComparison.Ordinal);
            Assert.Contains("val loss", coordinator.Out, StringComparison.Ordinal);
            Assert.Contains("7200 training samples, 800 validation samples", coordinator.Out, StringComparison.Ordinal);
            foreach (var w in nodes.Skip(1))
            {
                w.Terminate();
                Assert.Equal(0, await w.ExitCodeAsync(Start));
            }

            var localModel = dir.File("local.safetensors");
            var localBest = dir.File("local-best.safetensors");
            using var localOut = new StringWriter();
            using var localErr = new StringWriter();
            var context = new CliContext(localOut, localErr, new CliEnvironment(new System.Collections.Hashtable(), dir.Path, BaseDirectory: null));
            var code = DistBackpropCli.Run(["train", .. common, "--workers", "2", "--threads", "1", "--out", localModel, "--best-out", localBest], context);
            Assert.True(code == 0, $"train exited {code}\n{localOut}\n{localErr}");

            foreach (var (c, l) in new[] { (clusterModel, localModel), (clusterBest, localBest) })
            {
                var a = MemoryMarshal.Cast<float, int>(ModelFile.Load(l).Parameters);
                var b = MemoryMarshal.Cast<float, int>(ModelFile.Load(c).Parameters);
                var differ = 0;
                for (var i = 0; i < a.Length; i++)
                {
                    differ += a[i] != b[i] ? 1 : 0;
                }

                Assert.True(differ == 0, $"{differ} of {a.Length} parameters of {Path.GetFileName(c)} differ between cluster and local mode");
            }

            Assert.Equal("0.2", ModelFile.Load(clusterModel).Metadata["dropout"]);
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
