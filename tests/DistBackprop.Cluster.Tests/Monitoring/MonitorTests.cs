// A monitor node in a real cluster on loopback (coordinator + worker + monitor ActorSystems over TCP, messages
// serialized): it finds the coordinator, subscribes (proving its monitor certificate on the service port), and receives
// the status with the worker in it, every step report, the host's epoch event (AfterStepEvent) and the end; the same
// monitor on a node holding a worker certificate is refused at the proof and receives nothing; a malformed seed address
// is refused naming the option.
using System.Net;
using System.Net.Sockets;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Monitoring;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests.Monitoring;

public class MonitorTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_monitor_node_receives_status_step_reports_epoch_events_and_the_end()
    {
        var data = TestData.Blobs(256);
        var config = TestData.Config(shards: 2, steps: 6);
        var port = FreePort();
        var seed = $"akka.tcp://{DistBackpropAkkaOptions.SystemName}@127.0.0.1:{port}";
        var settings = new CoordinatorSettings
        {
            State = new TrainingState(config, data.Count, Initializer.Create(config.Spec, 5)),
            Dataset = new DatasetDescriptor("blobs", 11, 0, data.Fingerprint, data.Count),
            MinWorkers = 1,
            AfterStepEvent = (s, r) => r.Step % 3 == 0 ? new EpochEvaluated(r.Epoch, r.Step, r.Loss, r.Accuracy, 0.5, 0.75, 100) : null,
        };

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var coordinator = ClusterCoordinatorHost.RunAsync(Node(NodeRole.Coordinator, port), settings, cancellationToken: stop.Token);

        var events = new List<ITrainingEvent>();
        var connected = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var monitor = ClusterMonitorHost.RunAsync(Node(NodeRole.Monitor, 0, seed), e =>
        {
            lock (events)
            {
                events.Add(e);
            }
        }, line => connected.TrySetResult(line), cancellationToken: stop.Token);

        // a node holding a worker certificate runs the same monitor: its proof is refused, it never gets an event
        var intruderEvents = new List<ITrainingEvent>();
        var intruderLines = new List<string>();
        var refused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var intruderNode = Node(NodeRole.Monitor, 0, seed);
        intruderNode.Tls = TestPki.For(NodeRole.Worker, "intruder");
        var intruder = ClusterMonitorHost.RunAsync(intruderNode, e =>
        {
            lock (intruderEvents)
            {
                intruderEvents.Add(e);
            }
        }, line =>
        {
            lock (intruderLines)
            {
                intruderLines.Add(line);
            }

            if (line.Contains("only for monitor certificates", StringComparison.Ordinal))
            {
                refused.TrySetResult();
            }
        }, cancellationToken: stop.Token);

        // the worker starts only once the monitor is subscribed (and the intruder refused), so the monitor sees step 1 on
        output.WriteLine(await connected.Task.WaitAsync(TimeSpan.FromSeconds(60)));
        await refused.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var worker = ClusterWorkerHost.RunAsync(Node(NodeRole.Worker, 0, seed), new WorkerSettings { WorkerId = "w1", Dataset = data }, cancellationToken: stop.Token);

        var end = await monitor.WaitAsync(TimeSpan.FromSeconds(60));
        var result = await coordinator.WaitAsync(TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await worker.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Null(await intruder.WaitAsync(TimeSpan.FromSeconds(30))); // cancelled, never an end
        lock (intruderLines)
        {
            output.WriteLine("intruder: " + string.Join(" | ", intruderLines));
        }

        lock (intruderEvents)
        {
            Assert.Empty(intruderEvents);
        }

        List<ITrainingEvent> seen;
        lock (events)
        {
            seen = events.ToList();
        }

        foreach (var e in seen)
        {
            output.WriteLine(e is TrainingCompleted c ? $"TrainingCompleted after {c.Summary.Steps} steps" : e.ToString());
        }

        var completed = Assert.IsType<TrainingCompleted>(end);
        Assert.Equal(6, completed.Summary.Steps);
        Assert.Empty(completed.Parameters); // the final weights stay on the coordinator's node
        Assert.NotEmpty(result.Parameters);
        Assert.Equal([1L, 2, 3, 4, 5, 6], seen.OfType<StepReport>().Select(r => r.Step));
        Assert.Equal([3L, 6], seen.OfType<EpochEvaluated>().Select(e => e.Step));
        var status = seen.OfType<ClusterStatus>().Last(s => s.Members.Length > 0);
        Assert.Equal(6, status.TotalSteps);
        var member = Assert.Single(status.Members, m => m.WorkerId == TestPki.Id("w1"));
        Assert.StartsWith("akka.ssl.tcp://distbackprop@127.0.0.1:", member.Address, StringComparison.Ordinal);
        Assert.Contains(member.State, new[] { "ready", "left" });
    }

    [Fact]
    public async Task A_malformed_seed_address_is_refused_naming_the_option()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            ClusterMonitorHost.RunAsync(Node(NodeRole.Monitor, 0, "akka.tcp://distbackprop@nowhere"), _ => { }));
        output.WriteLine(e.Message);
        Assert.Contains("--seed-nodes", e.Message, StringComparison.Ordinal);
    }

    private static DistBackpropAkkaOptions Node(NodeRole role, int port, params string[] seeds) => new()
    {
        Role = role,
        Host = "127.0.0.1",
        Port = port,
        SeedNodes = seeds,
        // off: messages between these nodes cross real remoting anyway, and verifying local sends would also push Akka.Cluster's
        // own local events (ReachabilityChanged) through JSON, which cannot read them: the failure detector's news would be lost
        SerializeMessages = false,
        DowningStableAfter = TimeSpan.FromSeconds(2),
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
