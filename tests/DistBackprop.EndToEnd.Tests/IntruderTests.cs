// What a node without this cluster's certificate gets from a real coordinator process (docs/security.md): an Akka node
// with no certificate (plain TCP) or with one of another CA never becomes a member and never sees the members; a TLS
// client with another CA's certificate is cut off by the coordinator itself on both ports. And a flood of idle and slow
// connections under a 512-descriptor limit, on the service port, the Akka port (AkkaPortGate) or both, leaves the
// coordinator up with bounded threads and descriptors, training, and still admitting a real worker. Leaves out: attacks
// by nodes that hold a valid certificate (SecurityTests).
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Security;
using DistBackprop.EndToEnd.Tests.Faults;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests;

public sealed class IntruderTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("no certificate")]
    [InlineData("another CA's certificate")]
    public async Task AnAkkaNodeWithoutTheClustersCertificateNeverSeesTheMembers(string holding)
    {
        using var scene = new Scene(output, steps: 1_000_000);
        var coordinator = scene.Coordinator("coordinator", "--min-workers", "1");
        scene.Worker("worker");
        try
        {
            await coordinator.WaitForAsync("1 worker(s) live", FaultRun.Start);
            var other = ClusterCertificates.CreateAuthority("another CA");
            var options = new DistBackpropAkkaOptions
            {
                Role = NodeRole.Monitor,
                Host = "127.0.0.1",
                SeedNodes = [scene.SeedAddress],
                JoinRetry = TimeSpan.FromSeconds(1),
                Insecure = holding == "no certificate",
                Tls = holding == "no certificate" ? null : new NodeCredentials(ClusterCertificates.IssueWithNewKey(other, "intruder", NodeRole.Monitor), new ClusterTrust(other)),
            };
            using var host = Cluster.Hosting.LocalTraining.BuildHost(null, Akka.Event.LogLevel.WarningLevel, b => b.WithDistBackprop(options));
            await host.StartAsync();
            var system = host.Services.GetRequiredService<ActorSystem>();
            var cluster = Akka.Cluster.Cluster.Get(system);
            await Task.Delay(TimeSpan.FromSeconds(8)); // several join attempts
            var seen = cluster.State.Members.Where(m => !m.Address.Equals(cluster.SelfAddress)).ToList();
            output.WriteLine($"{holding}: members seen: [{string.Join(", ", seen)}], own status {cluster.SelfMember.Status}");
            Assert.Empty(seen);
            await Assert.ThrowsAnyAsync<Exception>(() => system.ActorSelection($"{scene.SeedAddress.Replace("akka.ssl.tcp", options.Protocol, StringComparison.Ordinal)}/user/coordinator")
                .ResolveOne(TimeSpan.FromSeconds(3)));
            Assert.False(coordinator.HasExited);
            Assert.DoesNotContain("intruder", coordinator.Out, StringComparison.Ordinal);
            await host.StopAsync();
        }
        catch
        {
            scene.Fail();
            throw;
        }
    }

    [Fact]
    public async Task TheCoordinatorCutsOffATlsClientWithAnotherCasCertificateOnBothPorts()
    {
        using var scene = new Scene(output, steps: 1_000_000);
        var coordinator = scene.Coordinator("coordinator", "--min-workers", "1");
        try
        {
            await coordinator.WaitForAsync("join: ", FaultRun.Start);
            var other = ClusterCertificates.CreateAuthority("another CA");
            using var intruder = ClusterCertificates.IssueWithNewKey(other, "intruder", NodeRole.Worker);
            foreach (var port in new[] { scene.Port, scene.Port + 1 })
            {
                var cut = await CutOff(port, intruder);
                output.WriteLine($"port {port}: {cut}");
                Assert.NotNull(cut);
            }

            Assert.False(coordinator.HasExited);
        }
        catch
        {
            scene.Fail();
            throw;
        }
    }

    /// <summary>The flood of issue 11's done-when, against the service port, the Akka port (AkkaPortGate) or both at once:
    /// per port 400 idle and 100 slow (a byte every 5 s) connections from 8 loopback addresses, under a 512-descriptor
    /// limit. Without the Akka port's gate all 500 stay open until Akka's handshake deadline (and 600 exhausted the
    /// descriptors); with it, at most 64 per port wait (8 per address), the rest are closed as soon as accepted.</summary>
    [Theory]
    [InlineData("service")]
    [InlineData("akka")]
    [InlineData("both")]
    public async Task IdleAndSlowConnectionsUnderA512DescriptorLimitLeaveTheCoordinatorTrainingAndAdmittingWorkers(string ports)
    {
        const int PendingCap = 64; // ServicePortOptions and AkkaPortLimits: at most 64 unauthenticated connections per port
        using var scene = new Scene(output, steps: 1_000_000);
        var coordinator = scene.Add(NodeProcess.StartWithFileLimit("coordinator", scene.Dir, 512, FaultRun.FastDetection,
            ["coordinator", .. FaultRun.Common(scene.Steps), "--port", $"{scene.Port}", "--min-workers", "1", "--metrics", scene.File("metrics.csv"), .. scene.Join.Coordinator]));
        scene.Worker("worker 1");
        var targets = ports switch
        {
            "service" => new[] { scene.Port + 1 },
            "akka" => [scene.Port],
            _ => [scene.Port, scene.Port + 1],
        };
        var flood = new List<Socket>();
        using var stop = new CancellationTokenSource();
        try
        {
            var metrics = scene.Watch("metrics.csv");
            await metrics.WaitForStepAsync(20, coordinator, FaultRun.Start);
            var (threadsBefore, filesBefore) = (Threads(coordinator.Id), Descriptors(coordinator.Id));

            // per port 400 idle and 100 slow connections, from 8 loopback addresses (the workers use 127.0.0.1)
            var slow = new List<Socket>();
            var maxFiles = filesBefore;
            foreach (var port in targets)
            {
                for (var i = 0; i < 500; i++)
                {
                    var s = await Connect(port, i);
                    flood.Add(s);
                    if (i >= 400)
                    {
                        slow.Add(s);
                    }

                    if (i % 50 == 49)
                    {
                        maxFiles = Math.Max(maxFiles, Descriptors(coordinator.Id));
                    }
                }
            }

            var dripping = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    foreach (var s in slow)
                    {
                        try
                        {
                            s.Send([0x16]);
                        }
                        catch (SocketException)
                        {
                        }
                    }

                    await Task.Delay(TimeSpan.FromSeconds(5), stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                }
            });

            await Task.Delay(TimeSpan.FromSeconds(1));
            var during = metrics.LastStep;
            var (threadsDuring, filesDuring, openDuring) = (Threads(coordinator.Id), Descriptors(coordinator.Id), flood.Count(IsOpen));
            maxFiles = Math.Max(maxFiles, filesDuring);
            output.WriteLine($"flood of {flood.Count} connections to port(s) {string.Join(", ", targets)}: threads {threadsBefore} before, {threadsDuring} during; " +
                $"descriptors {filesBefore} before, {filesDuring} 1 s after (at most {maxFiles} seen); flood connections still open {openDuring}; step {during}");
            Assert.True(threadsDuring <= threadsBefore + 16, $"the thread count grew from {threadsBefore} to {threadsDuring}");
            // each port lets at most 64 of them wait; every other one was closed as soon as it was accepted
            Assert.True(openDuring <= (PendingCap + 8) * targets.Length, $"{openDuring} flood connections still open 1 s after the flood");
            Assert.True(filesDuring <= filesBefore + ((PendingCap + 16) * targets.Length), $"descriptors grew from {filesBefore} to {filesDuring}");

            // the steps go on while the flood's connections still wait (they are closed at 10 s), and a real worker is admitted
            await metrics.WaitForStepAsync(during + 20, coordinator, TimeSpan.FromSeconds(6));
            output.WriteLine($"step {metrics.LastStep} {scene.Clock.Elapsed.TotalSeconds:0.0} s into the scene, flood connections open {flood.Count(IsOpen)}");
            var admitting = Stopwatch.StartNew();
            scene.Worker("worker 2");
            await coordinator.WaitForAsync("2 worker(s) live", FaultRun.Start);
            output.WriteLine($"worker 2 admitted after {admitting.Elapsed.TotalSeconds:0.0} s");
            await metrics.WaitForStepAsync(during + 50, coordinator, FaultRun.Start);

            // every flood connection is closed by the coordinator within its one handshake deadline (10 s), the slow ones too
            var deadline = Stopwatch.StartNew();
            while (flood.Any(IsOpen) && deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(500);
            }

            var (threadsAfter, filesAfter) = (Threads(coordinator.Id), Descriptors(coordinator.Id));
            output.WriteLine($"flood connections still open after {deadline.Elapsed.TotalSeconds:0} s more: {flood.Count(IsOpen)}; threads {threadsAfter}, " +
                $"descriptors {filesAfter}, step {metrics.LastStep}; coordinator output {coordinator.Out.Length + coordinator.Err.Length} characters");
            Assert.DoesNotContain(flood, IsOpen);
            Assert.False(coordinator.HasExited);
            Assert.True(threadsAfter <= threadsBefore + 16);
            if (ports != "service")
            {
                Assert.Contains("akka port: a connection from", coordinator.Out + coordinator.Err, StringComparison.Ordinal);
            }

            await stop.CancelAsync();
            await dripping;
        }
        catch
        {
            scene.Fail();
            throw;
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var s in flood)
            {
                s.Dispose();
            }
        }
    }

    /// <summary>Null when the TLS session to <paramref name="port"/> stays usable with <paramref name="certificate"/>, else how it was cut.</summary>
    private static async Task<string?> CutOff(int port, X509Certificate2 certificate)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "coordinator", ClientCertificates = [certificate] });
            ssl.ReadTimeout = 5000;
            var n = await ssl.ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(10)); // TLS 1.3: the server's verdict on our certificate comes now
            return n == 0 ? "closed after the handshake" : null;
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
        catch (TimeoutException)
        {
            return null; // still connected, nothing refused it
        }
    }

    private static async Task<Socket> Connect(int port, int i)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{2 + (i % 8)}"), 0));
        try
        {
            await s.ConnectAsync(IPAddress.Loopback, port);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.Shutdown or SocketError.ConnectionReset)
        {
            // the Akka port's gate resets a connection over its caps so soon that the connect itself may report it ("Broken pipe")
        }

        return s;
    }

    private static bool IsOpen(Socket s)
    {
        try
        {
            return !(s.Poll(0, SelectMode.SelectRead) && s.Available == 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private static int Descriptors(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    private static int Threads(int pid) =>
        int.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal))["Threads:".Length..].Trim(),
            System.Globalization.CultureInfo.InvariantCulture);
}
