// Progress subscriptions only for monitor certificates (issue 11 item 5, docs/security.md): the challenge a remote subscriber
// gets is proved over a real TLS service port. A monitor certificate with the challenged actor's path subscribes that actor
// (the coordinator is told SubscriberProven); the same nonce again, a worker certificate, another actor's path (a relayed
// challenge), an unknown nonce and an expired one are refused and subscribe nobody. TestProbes stand in for the actors.
// Leaves out: the actors themselves over a real cluster (MonitorTests).
using Akka.Actor;
using Akka.TestKit.Xunit2;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Monitoring;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Security;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests.Monitoring;

public sealed class ProgressGateTests : TestKit
{
    private readonly ITestOutputHelper _output;

    public ProgressGateTests(ITestOutputHelper output)
        : base(output: output) => _output = output;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_monitor_certificate_proving_its_own_challenge_subscribes_that_actor_once()
    {
        using var port = Serve(out var gate);
        var coordinator = CreateTestProbe();
        var monitor = CreateTestProbe();
        var challenge = gate.Challenge(monitor.Ref, coordinator.Ref);
        Assert.Equal(port.Port, challenge.ServicePort);
        Assert.Equal(ProgressProof.NonceBytes, challenge.Nonce.Length);

        var credentials = TestPki.For(NodeRole.Monitor);
        await ProgressProof.ProveAsync("127.0.0.1", challenge, monitor.Ref.Path.ToString(), credentials, Timeout);
        var proven = coordinator.ExpectMsg<SubscriberProven>();
        Assert.Equal(monitor.Ref, proven.Subscriber);
        Assert.Equal(NodeRole.Monitor, proven.By.Role);
        Assert.Same(gate, proven.Gate);

        // a nonce counts once
        var again = await Assert.ThrowsAsync<ProgressProofException>(() => ProgressProof.ProveAsync("127.0.0.1", challenge, monitor.Ref.Path.ToString(), credentials, Timeout));
        _output.WriteLine(again.Message);
        Assert.Contains("unknown or used", again.Message, StringComparison.Ordinal);
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal((1L, 1L, 1L), gate.Counts);
    }

    [Theory]
    [InlineData("a worker certificate")]
    [InlineData("a coordinator certificate")]
    [InlineData("another actor's path")]
    [InlineData("an unknown nonce")]
    public async Task Anything_else_is_refused_and_subscribes_nobody(string what)
    {
        using var port = Serve(out var gate);
        var coordinator = CreateTestProbe();
        var attacker = CreateTestProbe();
        var monitor = CreateTestProbe();
        var challenge = gate.Challenge(attacker.Ref, coordinator.Ref);
        var (role, path, proved) = what switch
        {
            "a worker certificate" => (NodeRole.Worker, attacker.Ref.Path.ToString(), challenge),
            "a coordinator certificate" => (NodeRole.Coordinator, attacker.Ref.Path.ToString(), challenge),
            // the attacker got a challenge for itself and hands it to a real monitor, which proves it for its own path
            "another actor's path" => (NodeRole.Monitor, monitor.Ref.Path.ToString(), challenge),
            _ => (NodeRole.Monitor, attacker.Ref.Path.ToString(), challenge with { Nonce = new byte[ProgressProof.NonceBytes] }),
        };

        var e = await Assert.ThrowsAsync<ProgressProofException>(() => ProgressProof.ProveAsync("127.0.0.1", proved, path, TestPki.For(role), Timeout));
        _output.WriteLine($"{what}: {e.Message}");
        Assert.Contains(what switch
        {
            "another actor's path" => "was made for",
            "an unknown nonce" => "unknown or used",
            _ => "only for monitor certificates",
        }, e.Message, StringComparison.Ordinal);
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void An_expired_challenge_is_refused_and_the_oldest_of_too_many_are_forgotten()
    {
        var clock = new ManualClock();
        var gate = new ProgressGate(1, clock);
        var coordinator = CreateTestProbe();
        var monitor = CreateTestProbe();
        var identity = TestPki.For(NodeRole.Monitor).Identity;
        var challenge = gate.Challenge(monitor.Ref, coordinator.Ref);
        clock.Advance(ProgressGate.Lifetime + TimeSpan.FromSeconds(1));
        Assert.False(gate.Prove(challenge.Nonce, monitor.Ref.Path.ToString(), identity, out var why));
        Assert.Contains("expired", why, StringComparison.Ordinal);

        var first = gate.Challenge(monitor.Ref, coordinator.Ref);
        for (var i = 0; i < ProgressGate.MaxOutstanding; i++)
        {
            gate.Challenge(monitor.Ref, coordinator.Ref);
        }

        Assert.False(gate.Prove(first.Nonce, monitor.Ref.Path.ToString(), identity, out why));
        var last = gate.Challenge(monitor.Ref, coordinator.Ref);
        Assert.True(gate.Prove(last.Nonce, monitor.Ref.Path.ToString(), identity, out _));
        coordinator.ExpectMsg<SubscriberProven>();
    }

    [Fact]
    public async Task A_proof_to_a_server_without_the_coordinators_certificate_never_reaches_a_gate()
    {
        // a node posing as the coordinator's service port with a worker certificate of the same CA
        using var impostor = new ServicePort(new ServicePortOptions("127.0.0.1", 0), TestPki.For(NodeRole.Worker));
        impostor.Progress = new ProgressGate(impostor.Port);
        var monitor = CreateTestProbe();
        var challenge = impostor.Progress.Challenge(monitor.Ref, CreateTestProbe().Ref);
        await Assert.ThrowsAnyAsync<System.Security.Authentication.AuthenticationException>(() =>
            ProgressProof.ProveAsync("127.0.0.1", challenge, monitor.Ref.Path.ToString(), TestPki.For(NodeRole.Monitor), Timeout));
        Assert.Equal(0, impostor.Progress.Counts.Proven);
    }

    private static ServicePort Serve(out ProgressGate gate)
    {
        var port = new ServicePort(new ServicePortOptions("127.0.0.1", 0), TestPki.For(NodeRole.Coordinator));
        gate = port.Progress = new ProgressGate(port.Port);
        return port;
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
