// What a node without this cluster's certificate gets from a real coordinator process (docs/security.md): an Akka node
// with no certificate (plain TCP) or with one of another CA never becomes a member and never sees the members; a TLS
// client with another CA's certificate is cut off by the coordinator itself on both ports. And the coordinator's
// service port under a flood — idle and slow connections under a 512-descriptor limit — stays up with a bounded
// thread count, keeps training and still admits a real worker. Leaves out: attacks by nodes that hold a valid
// certificate (SecurityTests).
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

    [Fact]
    public async Task IdleAndSlowConnectionsUnderA512DescriptorLimitLeaveTheCoordinatorTrainingAndAdmittingWorkers()
    {
        using var scene = new Scene(output, steps: 1_000_000);
        var coordinator = scene.Add(NodeProcess.StartWithFileLimit("coordinator", scene.Dir, 512, FaultRun.FastDetection,
            ["coordinator", .. FaultRun.Common(scene.Steps), "--port", $"{scene.Port}", "--min-workers", "1", "--metrics", scene.File("metrics.csv"), .. scene.Join.Coordinator]));
        scene.Worker("worker 1");
        var flood = new List<Socket>();
        using var stop = new CancellationTokenSource();
        try
        {
            var metrics = scene.Watch("metrics.csv");
            await metrics.WaitForStepAsync(20, coordinator, FaultRun.Start);
            var before = Threads(coordinator.Id);

            // 400 idle and 100 slow (a byte every 5 s) connections to the service port, from 8 loopback addresses
            var service = scene.Port + 1;
            for (var i = 0; i < 500; i++)
            {
                flood.Add(await Connect(service, i));
            }

            var slow = flood.Skip(400).ToList();
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

            var during = metrics.LastStep;
            var threadsDuring = Threads(coordinator.Id);
            output.WriteLine($"threads before the flood {before}, with 500 connections {threadsDuring}; step {during}");
            Assert.True(threadsDuring <= before + 16, $"the thread count grew from {before} to {threadsDuring}");

            // a real worker is admitted meanwhile, and the steps go on
            var second = scene.Worker("worker 2");
            await coordinator.WaitForAsync("2 worker(s) live", FaultRun.Start);
            await metrics.WaitForStepAsync(during + 50, coordinator, FaultRun.Start);

            // every flood connection is closed by the coordinator within its one handshake deadline (10 s), the slow ones too
            var deadline = Stopwatch.StartNew();
            while (flood.Any(IsOpen) && deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(500);
            }

            output.WriteLine($"flood connections still open after {deadline.Elapsed.TotalSeconds:0} s: {flood.Count(IsOpen)}; threads {Threads(coordinator.Id)}");
            Assert.DoesNotContain(flood, IsOpen);
            Assert.False(coordinator.HasExited);
            Assert.True(Threads(coordinator.Id) <= before + 16);
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
        await s.ConnectAsync(IPAddress.Loopback, port);
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

    private static int Threads(int pid) =>
        int.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal))["Threads:".Length..].Trim(),
            System.Globalization.CultureInfo.InvariantCulture);
}
