// Level (c): a real Akka.Cluster of three ActorSystems over TCP on loopback, built with the same
// ClusterCoordinatorHost / ClusterWorkerHost calls the CLI uses: trains a tiny MLP and must match the
// reference loop bit for bit; a worker with another architecture is refused; a model too big for the
// frame size and a malformed seed address are refused before anything starts.
using System.Net;
using System.Net.Sockets;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public class InProcessClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Coordinator_and_two_workers_over_tcp_match_the_reference_and_a_mismatched_worker_is_refused()
    {
        var data = TestData.Blobs(256);
        var config = TestData.Config(shards: 4, steps: 6);
        var port = FreePort();
        var seed = $"akka.tcp://{DistBackpropAkkaOptions.SystemName}@127.0.0.1:{port}";
        var notices = new List<string>();
        var coordinatorSettings = new CoordinatorSettings
        {
            State = new TrainingState(config, data.Count, Initializer.Create(config.Spec, 5)),
            Dataset = new DatasetDescriptor("blobs", 11, 0, data.Fingerprint, data.Count),
            MinWorkers = 2,
            Events = e =>
            {
                if (e is TrainingNotice n)
                {
                    lock (notices)
                    {
                        notices.Add(n.Message);
                    }
                }
            },
        };

        using var stopWorkers = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var coordinator = ClusterCoordinatorHost.RunAsync(Node(NodeRole.Coordinator, port), coordinatorSettings, cancellationToken: stopWorkers.Token);

        // worker 1 adopts the coordinator's model and data (loads it through the host's loader);
        // worker 2 was given its own (equal) model and data; worker 3 has another architecture.
        var adopting = ClusterWorkerHost.RunAsync(Node(NodeRole.Worker, 0, seed), new WorkerSettings
        {
            WorkerId = "w1",
            LoadDataset = d => d.Fingerprint == data.Fingerprint ? data : throw new InvalidOperationException("wrong dataset asked for"),
        }, cancellationToken: stopWorkers.Token);
        var own = ClusterWorkerHost.RunAsync(Node(NodeRole.Worker, 0, seed), new WorkerSettings
        {
            WorkerId = "w2",
            Threads = 2,
            Model = ModelDescriptor.From(TestData.Spec),
            Dataset = data,
        }, cancellationToken: stopWorkers.Token);
        var refusedReason = new TaskCompletionSource<string>();
        var mismatched = ClusterWorkerHost.RunAsync(Node(NodeRole.Worker, 0, seed), new WorkerSettings
        {
            WorkerId = "w3",
            Model = new ModelDescriptor([20, 9, 4], "relu", "softmax-ce"),
            Dataset = data,
            OnRefused = r => refusedReason.TrySetResult(r),
        }, cancellationToken: stopWorkers.Token);

        var exit3 = await mismatched.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit3.Refused);
        output.WriteLine($"refused: {exit3.Reason}");
        Assert.Contains("architecture 20,9,4 relu softmax-ce differs from the coordinator's 20,16,4 relu softmax-ce", exit3.Reason);

        var result = await coordinator.WaitAsync(TimeSpan.FromSeconds(60));
        await stopWorkers.CancelAsync();
        Assert.False((await adopting.WaitAsync(TimeSpan.FromSeconds(30))).Refused);
        Assert.False((await own.WaitAsync(TimeSpan.FromSeconds(30))).Refused);

        lock (notices)
        {
            foreach (var n in notices)
            {
                output.WriteLine(n);
            }
        }

        foreach (var s in result.Steps)
        {
            output.WriteLine($"step {s.Step}: loss {s.Loss:F4}, {s.Workers} workers, compute {s.ComputeMs:F2} ms, serialize {s.SerializeMs:F2} ms, transport {s.TransportMs:F2} ms, wait {s.WaitMs:F2} ms");
        }

        Assert.Equal(6, result.Steps.Count);
        Assert.All(result.Steps, s => Assert.Equal(2, s.Workers));
        var diff = TestData.FirstDifference(TestData.Reference(config, data), result.Parameters);
        Assert.True(diff == "identical", $"cluster vs reference: {diff}");
    }

    [Fact]
    public async Task A_model_too_big_for_the_frame_size_is_refused_at_coordinator_start()
    {
        var spec = new ModelSpec([784, 256, 10], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var config = new TrainingConfig(spec, new Core.Optim.OptimizerSettings(), Shards: 2);
        var settings = new CoordinatorSettings
        {
            State = new TrainingState(config, 100, new float[spec.ParameterCount]),
            Dataset = new DatasetDescriptor(null, 1, 0, "x", 100),
        };
        var options = Node(NodeRole.Coordinator, FreePort());
        options.MaxFrameSize = 256 * 1024;
        var e = await Assert.ThrowsAsync<FrameSizeException>(() => ClusterCoordinatorHost.RunAsync(options, settings));
        output.WriteLine(e.Message);
        Assert.Contains("--max-frame-size", e.Message);
        Assert.Contains("--max-frame-size 1MiB", e.Message);
        FrameBudget.Check(spec, 64, 2, DistBackpropAkkaOptions.DefaultMaxFrameSize); // fits the default
    }

    [Fact]
    public async Task A_malformed_seed_node_address_is_refused_naming_the_option()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            ClusterWorkerHost.RunAsync(Node(NodeRole.Worker, 0, "akka.tcp://distbackprop@no-port"), new WorkerSettings { WorkerId = "w" }));
        output.WriteLine(e.Message);
        Assert.Contains("--seed-nodes", e.Message);
    }

    private static DistBackpropAkkaOptions Node(NodeRole role, int port, params string[] seeds) => new()
    {
        Role = role,
        Host = "127.0.0.1",
        Port = port,
        SeedNodes = seeds,
        TensorPort = 0, // any free port: Port + 1 may be taken
        // off: messages between these nodes cross real remoting anyway, and verifying local sends would also push Akka.Cluster's
        // own local events (ReachabilityChanged) through JSON, which cannot read them: the failure detector's news would be lost
        SerializeMessages = false,
        DowningStableAfter = TimeSpan.FromSeconds(2),
        LogLevel = Akka.Event.LogLevel.InfoLevel,
        Tls = TestPki.For(role), // the secure default: mutual TLS with the test CA
    };

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
