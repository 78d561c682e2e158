// The security core on real sockets in process (docs/security.md): the state dir (owner-only, reopened to the same
// CA), join tokens, enrolment over a real TLS service port (granted; refused for a wrong secret, an expired token,
// the wrong role; a token of another CA never sends its secret), the port's caps and its one handshake deadline,
// Hello binding (certificate must own the worker id), and the guards against remote Kill/Suspend and remote stop.
// Leaves out: whole processes (EndToEnd SecurityTests, IntruderTests).
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Dispatch.SysMsg;
using Akka.Remote.Serialization;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Security;
using DistBackprop.Cluster.Serialization;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests.Security;

public sealed class EnrolmentTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distbackprop-security-").FullName;

    [Fact]
    public void The_state_dir_is_owner_only_and_reopens_to_the_same_CA()
    {
        var path = Path.Combine(_dir, "coordinator");
        var first = ClusterAuthority.OpenOrCreate(path);
        var again = ClusterAuthority.OpenOrCreate(path);
        Assert.Equal(first.Trust.Fingerprint, again.Trust.Fingerprint);
        Assert.Equal(first.Coordinator.Certificate.Thumbprint, again.Coordinator.Certificate.Thumbprint);
        Assert.Equal(NodeRole.Coordinator, again.Coordinator.Identity.Role);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(path));
            foreach (var f in Directory.GetFiles(path))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f));
            }
        }

        var token = first.CreateToken(NodeRole.Worker, TimeSpan.FromMinutes(5));
        var stored = File.ReadAllText(Path.Combine(path, "tokens", token.Id + ".json"));
        Assert.DoesNotContain(token.Secret, stored, StringComparison.Ordinal); // only its hash
        Assert.Equal(token, JoinToken.Parse(token.ToString(), out _));
        Assert.Null(JoinToken.Parse("dbp1.ID.short", out var why));
        output.WriteLine(why);
    }

    [Fact]
    public async Task A_worker_enrols_over_TLS_and_gets_a_worker_certificate_of_the_cluster()
    {
        var (authority, port) = Serve();
        using (port)
        {
            var token = authority.CreateToken(NodeRole.Worker, TimeSpan.FromMinutes(5));
            var times = new List<double>();
            NodeCredentials? mine = null;
            for (var i = 0; i < 5; i++)
            {
                var watch = Stopwatch.StartNew();
                mine = await Enrolment.EnrolAsync("127.0.0.1", port.Port, token, NodeRole.Worker, TimeSpan.FromSeconds(10));
                times.Add(watch.Elapsed.TotalMilliseconds);
            }

            times.Sort();
            output.WriteLine($"enrolment (TCP + TLS + 2 round trips + signing), 5 runs: median {times[2]:0.0} ms, min {times[0]:0.0} ms");
            Assert.Equal(NodeRole.Worker, mine!.Identity.Role);
            Assert.StartsWith("worker-", mine.Identity.Name, StringComparison.Ordinal);
            Assert.Equal(authority.Trust.Fingerprint, mine.Trust.Fingerprint);
            Assert.NotNull(authority.Trust.Validate(mine.Certificate, out _, NodeRole.Worker));
            Assert.Equal(5, authority.Enrolments.Granted);
        }
    }

    [Fact]
    public async Task A_wrong_secret_an_expired_token_and_the_wrong_role_are_refused_and_another_CA_never_gets_the_secret()
    {
        var (authority, port) = Serve();
        using (port)
        {
            var token = authority.CreateToken(NodeRole.Worker, TimeSpan.FromMinutes(5));
            async Task<string> Refused(JoinToken t, NodeRole role) =>
                (await Assert.ThrowsAsync<EnrolmentException>(() => Enrolment.EnrolAsync("127.0.0.1", port.Port, t, role, TimeSpan.FromSeconds(10)))).Message;

            Assert.Contains("unknown join token", await Refused(token with { Secret = new string('A', 43) }, NodeRole.Worker), StringComparison.Ordinal);
            Assert.Contains("not monitor", await Refused(token, NodeRole.Monitor), StringComparison.Ordinal);
            var shortLived = authority.CreateToken(NodeRole.Worker, TimeSpan.FromMilliseconds(1));
            await Task.Delay(20);
            Assert.Contains("expired", await Refused(shortLived, NodeRole.Worker), StringComparison.Ordinal);
            Assert.Equal(3, authority.Enrolments.Refused);

            var other = JoinToken.Create(ClusterCertificates.Fingerprint(ClusterCertificates.CreateAuthority()));
            Assert.Contains("secret was not sent", await Refused(other, NodeRole.Worker), StringComparison.Ordinal);
            Assert.Equal(3, authority.Enrolments.Refused); // the coordinator never saw that token
        }
    }

    [Fact]
    public async Task The_service_port_caps_unauthenticated_connections_and_closes_them_at_one_deadline()
    {
        var options = new ServicePortOptions("127.0.0.1", 0) { HandshakeTimeout = TimeSpan.FromSeconds(1), MaxPending = 6, MaxPendingPerAddress = 3 };
        using var port = new ServicePort(options, TestPki.For(NodeRole.Coordinator));
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 12; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Bind(new IPEndPoint(IPAddress.Parse(i < 6 ? "127.0.0.2" : $"127.0.0.{3 + (i % 3)}"), 0));
                await s.ConnectAsync(IPAddress.Loopback, port.Port);
                sockets.Add(s);
            }

            await Until(() => port.Refused.OverCap >= 6 - 0 && port.Pending <= options.MaxPending, TimeSpan.FromSeconds(5));
            output.WriteLine($"pending {port.Pending}, closed over the caps {port.Refused.OverCap}");
            Assert.True(port.Pending <= options.MaxPending);
            Assert.True(port.Refused.OverCap >= 6, $"only {port.Refused.OverCap} closed at once"); // 3 from 127.0.0.2 over its cap, the rest over the total

            // a byte every 200 ms does not stretch the deadline: everything is closed within about 1 s
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < TimeSpan.FromSeconds(3) && port.Pending > 0)
            {
                foreach (var s in sockets)
                {
                    try
                    {
                        s.Send([0x16]);
                    }
                    catch (SocketException)
                    {
                    }
                }

                await Task.Delay(200);
            }

            output.WriteLine($"all handshakes over after {watch.Elapsed.TotalSeconds:0.0} s (deadline {options.HandshakeTimeout.TotalSeconds} s); timed out {port.Refused.TimedOut}");
            Assert.Equal(0, port.Pending);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2.5));
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("the registered worker", true)]
    [InlineData("another worker's certificate", false)]
    [InlineData("a monitor's certificate", false)]
    [InlineData("another CA's certificate", false)]
    public async Task A_channel_is_accepted_only_with_the_certificate_that_owns_the_registered_worker_id(string holding, bool accepted)
    {
        var coordinator = TestPki.For(NodeRole.Coordinator);
        using var system = ActorSystem.Create("hello-test");
        var probe = system.ActorOf(Props.Create(() => new Ignore()));
        using var channel = new TcpCoordinatorChannel(new TensorChannelOptions("127.0.0.1", 0) { Tls = coordinator }, 10, new TensorPool(), probe);
        var endpoint = channel.Admit(probe, "alice/vm-1")!;
        var credentials = holding switch
        {
            "the registered worker" => TestPki.For(NodeRole.Worker, "alice"),
            "another worker's certificate" => TestPki.For(NodeRole.Worker, "bob"),
            "a monitor's certificate" => TestPki.For(NodeRole.Monitor, "alice"),
            _ => TestPki.Foreign(NodeRole.Worker),
        };
        // trusts the coordinator, except with another CA's certificate (a node must trust its own CA): then either side refuses
        var client = holding.StartsWith("another CA", StringComparison.Ordinal) ? credentials : new NodeCredentials(credentials.Certificate, new ClusterTrust(TestPki.Ca));
        Exception? failed = null;
        try
        {
            using var worker = await TcpWorkerChannel.ConnectAsync(endpoint, 10, new TensorPool(), ActorRefs.Nobody, client);
            await Until(() => channel.HellosRefused > 0 || channel.HellosAccepted > 0 || worker.IsClosed, TimeSpan.FromSeconds(5));
        }
        catch (IOException e)
        {
            failed = e;
        }

        output.WriteLine($"{holding}: accepted {channel.HellosAccepted}, refused {channel.HellosRefused}, TLS failed: {failed?.Message ?? "no"}");
        Assert.Equal(accepted ? 1 : 0, channel.HellosAccepted);
    }

    [Fact]
    public void Remote_Kill_Suspend_and_a_copy_of_StopTraining_are_refused_and_DeathWatch_passes()
    {
        using var system = ActorSystem.Create("guard-test", "akka.actor.provider = remote\nakka.remote.dot-netty.tcp.hostname = 127.0.0.1\nakka.remote.dot-netty.tcp.port = 0");
        var ext = (ExtendedActorSystem)system;
        var misc = new GuardedMiscSerializer(ext);
        Assert.Equal(new MiscMessageSerializer(ext).Identifier, misc.Identifier);
        Assert.IsType<RefusedRemoteCommand>(misc.FromBinary(misc.ToBinary(Kill.Instance), misc.Manifest(Kill.Instance)));
        Assert.IsType<PoisonPill>(misc.FromBinary(misc.ToBinary(PoisonPill.Instance), misc.Manifest(PoisonPill.Instance))); // untrusted-mode drops it
        var sys = new GuardedSystemMessageSerializer(ext);
        Assert.IsType<RefusedRemoteCommand>(sys.FromBinary(sys.ToBinary(new Suspend()), typeof(Suspend)));
        var watch = new Watch((IInternalActorRef)system.DeadLetters, (IInternalActorRef)system.DeadLetters);
        Assert.IsType<Watch>(sys.FromBinary(sys.ToBinary(watch), typeof(Watch)));

        Assert.True(StopTraining.Instance.IsLocal);
        var copy = (StopTraining)RuntimeHelpers.GetUninitializedObject(typeof(StopTraining)); // what any deserializer would make
        Assert.False(copy.IsLocal);
        Assert.False(HyperionTypeFilter.Instance.IsAllowed(typeof(StopTraining).AssemblyQualifiedName!));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private (ClusterAuthority Authority, ServicePort Port) Serve()
    {
        var authority = ClusterAuthority.OpenOrCreate(Path.Combine(_dir, "coordinator"));
        return (authority, new ServicePort(new ServicePortOptions("127.0.0.1", 0), authority.Coordinator) { Authority = authority });
    }

    private static async Task Until(Func<bool> condition, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < timeout)
        {
            await Task.Delay(20);
        }
    }

    private sealed class Ignore : ReceiveActor
    {
        public Ignore() => ReceiveAny(_ => { });
    }
}
