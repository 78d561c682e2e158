// Forged and malformed shard results against a real coordinator and worker process (issue 11 items 5 and 7,
// docs/security.md), in the secure default (mutual TLS, tcp tensor channel). The attacker is an Akka node in this test
// process holding a valid worker certificate of the cluster: an outsider that never registers and sends ShardComputed for
// both shards of the current step over Akka; an insider that registers, opens its own tensor channel and sends, over
// it, results for the shard dealt to the other worker (declining its own); an assignee whose result comes in overlapping
// parts; an assignee whose result counts one sample too few. In every case the run ends at exit 0 with the weights of an
// undisturbed run bit for bit, and the coordinator counts what it turned away. Leaves out: `--tensor-transport akka`
// (the sender of an Akka reply is only as good as its path: docs/security.md), a worker computing a wrong gradient.
using System.Text.RegularExpressions;
using Akka.Actor;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;
using DistBackprop.Cluster.Serialization;
using DistBackprop.EndToEnd.Tests.Faults;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests;

public sealed partial class ForgedResultTests(LocalReferences references, ITestOutputHelper output) : IClassFixture<LocalReferences>
{
    private const int Steps = 300;
    private const int Parameters = (400 * 128) + 128 + (128 * 10) + 10; // the default model 400,128,10

    /// <summary>A finite gradient the coordinator would happily add if it believed it: 1000 everywhere.</summary>
    private static readonly float[] Forged = Enumerable.Repeat(1000f, Parameters).ToArray();

    [Theory]
    [InlineData("outsider")]
    [InlineData("insider")]
    [InlineData("overlapping parts")]
    [InlineData("off-by-one samples")]
    public async Task AForgedOrMalformedShardResultIsTurnedAwayCountedAndTheWeightsAreBitIdentical(string attack)
    {
        using var scene = new Scene(output, steps: Steps);
        var model = scene.File("attacked.safetensors");
        var registers = attack != "outsider";
        // a registering attacker is the second of two workers the run waits for: it is dealt shards from step 1
        var coordinator = scene.Coordinator("coordinator", "--min-workers", registers ? "2" : "1", "--shards", "2", "--out", model, "--metrics", scene.File("metrics.csv"));
        var seen = new Seen();
        try
        {
            var metrics = scene.Watch("metrics.csv");
            if (registers)
            {
                scene.Worker("worker");
                await coordinator.WaitForAsync("1 worker(s) live", FaultRun.Start);
            }
            else
            {
                // the outsider is up before the worker starts: its host takes seconds, the run may take fewer on a quiet machine
                await coordinator.WaitForAsync("waiting for 1 worker(s)", FaultRun.Start);
            }

            var authority = ClusterAuthority.OpenOrCreate(Path.Combine(scene.Join.StateDir, "coordinator"));
            var credentials = new NodeCredentials(authority.IssueWithNewKey("attacker", NodeRole.Worker), authority.Trust);
            var options = new DistBackpropAkkaOptions { Role = NodeRole.Worker, Host = "127.0.0.1", Port = 0, SeedNodes = [scene.SeedAddress], Tls = credentials };
            using var host = Cluster.Hosting.LocalTraining.BuildHost(null, Akka.Event.LogLevel.WarningLevel, b => b.WithDistBackprop(options));
            await host.StartAsync();
            var system = host.Services.GetRequiredService<ActorSystem>();
            var target = system.ActorSelection($"{scene.SeedAddress}/user/coordinator");
            var attacker = system.ActorOf(Props.Create(() => new Attacker(attack, credentials.Identity.WorkerId("rogue-1"), credentials, target, seen)), "attacker");

            if (registers)
            {
                await coordinator.WaitForAsync("2 worker(s) live", FaultRun.Start);
            }
            else
            {
                scene.Worker("worker");
                await coordinator.WaitForAsync("step 1/", FaultRun.Start);

                // every few milliseconds, a result for both shards of the step in progress (read from the metrics: a well-informed attacker)
                while (!coordinator.HasExited && metrics.LastStep < Steps - 5)
                {
                    var step = metrics.LastStep + 1;
                    for (var shard = 0; shard < 2; shard++)
                    {
                        target.Tell(new ShardComputed(step, shard, Forged, 0, 32, 32, 1, 0), attacker);
                        Interlocked.Increment(ref seen.Sent);
                    }

                    await Task.Delay(5);
                }
            }

            Assert.Equal(0, await coordinator.ExitCodeAsync(FaultRun.Run));
            var all = coordinator.Out + coordinator.Err;
            var counts = DroppedLine().Match(all);
            output.WriteLine($"{attack}: the attacker sent {seen.Sent} forged result(s), was dealt work {seen.Dealt} time(s); " +
                (counts.Success ? counts.Value : "no dropped-results warning"));
            Assert.Contains($"step {Steps}/{Steps}", coordinator.Out, StringComparison.Ordinal);
            Assert.True(seen.Sent > 0, "the attacker sent nothing");
            // a frame that breaks the tiling closes the channel before any reply exists: counted as a refused result all the same
            Assert.True(counts.Success, "the coordinator did not say what it turned away");
            var (foreign, refused) = (long.Parse(counts.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                long.Parse(counts.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
            switch (attack)
            {
                case "outsider" or "insider":
                    Assert.True(foreign > 0, $"no foreign result counted ({foreign})");
                    break;
                case "off-by-one samples":
                    Assert.True(refused > 0, $"no refused result counted ({refused})");
                    Assert.Contains("samples (0 correct), the shard has", all, StringComparison.Ordinal);
                    break;
                default:
                    Assert.True(refused > 0, $"the overlapping parts were not counted as a refused result ({refused})");
                    Assert.Matches("worker attacker/rogue-1: tensor channel closed \\(.*overlaps the part", all);
                    Assert.Matches("step \\d+: tensor channel closed; reassigning shard", all);
                    break;
            }

            FaultAssert.BitIdentical(references.Model(shards: 2, steps: Steps), model);
            await host.StopAsync();
        }
        catch
        {
            scene.Fail();
            output.WriteLine($"attacker: {string.Join(" | ", seen.Notes)}");
            throw;
        }
    }

    // ClusterEngine's end-of-run warning (also printed when nothing was refused, as long as something was dropped)
    [GeneratedRegex(@"warning: (\d+) shard result\(s\) dropped because their sender did not hold the shard \(foreign\), (\d+) malformed")]
    private static partial Regex DroppedLine();

    private sealed class Seen
    {
        public long Sent;
        public long Dealt;
        public readonly System.Collections.Concurrent.ConcurrentQueue<string> Notes = new();
    }

    private sealed record Connected(TcpWorkerChannel Channel, RegistrationAccepted Accepted, IActorRef Coordinator);

    /// <summary>
    /// A worker that registers with a valid certificate and opens its tensor channel like a real one, then attacks with the
    /// work it is dealt. (As the outsider it only sits there: the test sends in its name.)
    /// </summary>
    private sealed class Attacker : ReceiveActor, IWithTimers
    {
        private readonly string _attack;
        private readonly string _id;
        private readonly NodeCredentials _tls;
        private readonly ActorSelection _coordinator;
        private readonly Seen _seen;
        private TcpWorkerChannel? _channel;
        private bool _connecting;

        public Attacker(string attack, string id, NodeCredentials tls, ActorSelection coordinator, Seen seen)
        {
            (_attack, _id, _tls, _coordinator, _seen) = (attack, id, tls, coordinator, seen);
            Receive<string>(_ => _channel is null, _ => _coordinator.Tell(new RegisterWorker(_id, Core.Tensors.Gemm.KernelPath, null, null, 1)));
            Receive<string>(_ => { });
            Receive<RegistrationAccepted>(a =>
            {
                if (_connecting || a.TensorChannel is null)
                {
                    return;
                }

                _connecting = true;
                var coordinatorRef = Sender;
                var self = Self;
                TcpWorkerChannel.ConnectAsync(a.TensorChannel, Parameters, new TensorPool(), self, _tls)
                    .PipeTo(self, success: c => new Connected(c, a, coordinatorRef));
            });
            Receive<Connected>(c =>
            {
                _channel = c.Channel;
                c.Coordinator.Tell(new WorkerReady(_id, c.Accepted.Dataset.Fingerprint));
            });
            Receive<ComputeShards>(Attack);
            Receive<WeightsArrived>(_ => { });
            Receive<WorkerChannelLost>(m => _seen.Notes.Enqueue($"channel lost: {m.Reason}"));
            Receive<RegistrationRefused>(m => _seen.Notes.Enqueue($"refused: {m.Reason}"));
            Receive<Status.Failure>(m => _seen.Notes.Enqueue($"failure: {m.Cause.Message}"));
            ReceiveAny(_ => { });
        }

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart()
        {
            if (_attack != "outsider")
            {
                Timers.StartPeriodicTimer("register", "register", TimeSpan.Zero, TimeSpan.FromSeconds(2));
            }
        }

        protected override void PostStop() => _channel?.Dispose();

        private void Attack(ComputeShards m)
        {
            Interlocked.Increment(ref _seen.Dealt);
            if (_channel is not { } channel)
            {
                return;
            }

            var mine = m.Shards.Select(s => s.Shard).ToArray();
            var rows = m.Shards[0].Indices.Length;
            switch (_attack)
            {
                case "insider":
                    // the other worker's shard, over this worker's own authenticated channel; its own shards it hands back
                    foreach (var other in Enumerable.Range(0, 2).Except(mine))
                    {
                        channel.SendGradient(m.Step, m.WeightsVersion, other, Forged, 0, rows, rows, 1);
                        Interlocked.Increment(ref _seen.Sent);
                    }

                    Sender.Tell(new WorkDeclined(_id, m.Step, m.WeightsVersion, mine));
                    break;
                case "overlapping parts":
                    // offset 0 twice, then the rest: every float is covered, some twice
                    var half = Parameters / 2;
                    channel.SendGradientPart(m.Step, m.WeightsVersion, mine[0], Forged, 0, half, last: false);
                    channel.SendGradientPart(m.Step, m.WeightsVersion, mine[0], Forged, 0, half, last: false);
                    channel.SendGradientPart(m.Step, m.WeightsVersion, mine[0], Forged, half, Parameters - half, last: true, 0, rows, 0, 1);
                    Interlocked.Increment(ref _seen.Sent);
                    break;
                default:
                    foreach (var s in m.Shards)
                    {
                        channel.SendGradient(m.Step, m.WeightsVersion, s.Shard, Forged, 0, s.Indices.Length - 1, 0, 1);
                        Interlocked.Increment(ref _seen.Sent);
                    }

                    break;
            }
        }
    }
}
