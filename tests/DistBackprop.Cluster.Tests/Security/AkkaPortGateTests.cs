// The Akka port's bound (AkkaPortGate, docs/security.md) on a real node in process: with small limits (6 pending overall,
// 3 per address, a 1 s deadline), idle TCP connections beyond the caps are closed by the node as soon as they are accepted,
// the rest at the deadline, and a real cluster member (a second node with the cluster's certificate) still joins afterwards.
// Leaves out: whole processes under a descriptor limit (EndToEnd IntruderTests).
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using DistBackprop.Cluster.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests.Security;

public sealed class AkkaPortGateTests(ITestOutputHelper output)
{
    private static readonly AkkaPortLimits Small = new(MaxPending: 6, MaxPendingPerAddress: 3, HandshakeSeconds: 1);

    [Fact]
    public async Task Idle_connections_beyond_the_caps_are_closed_at_once_and_the_rest_at_the_deadline()
    {
        Assert.True(AkkaPortGate.AbortsChannels, "Akka.Remote's TcpAssociationHandle no longer has the _channel the gate aborts");
        var port = FreePort();
        using var node = await Start(NodeRole.Coordinator, port, []);
        var sockets = new List<Socket>();
        try
        {
            // 4 addresses × 5 connections: at most 3 per address and 6 overall may wait; the other 14 are closed at once
            for (var i = 0; i < 20; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{2 + (i % 4)}"), 0));
                try
                {
                    await s.ConnectAsync(IPAddress.Loopback, port);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.Shutdown or SocketError.ConnectionReset)
                {
                    // reset by the gate before the connect completed here ("Broken pipe"): closed at once
                }

                sockets.Add(s);
            }

            await Task.Delay(400);
            var open = sockets.Count(IsOpen);
            output.WriteLine($"0.4 s after 20 connections: {open} still open");
            Assert.InRange(open, 1, Small.MaxPending);

            var clock = Stopwatch.StartNew();
            while (sockets.Any(IsOpen) && clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(100);
            }

            output.WriteLine($"all closed {clock.Elapsed.TotalSeconds:0.0} s later");
            Assert.DoesNotContain(sockets, IsOpen);

            // a cluster member with the cluster's certificate still gets in
            using var member = await Start(NodeRole.Monitor, 0, [$"akka.ssl.tcp://{DistBackpropAkkaOptions.SystemName}@127.0.0.1:{port}"]);
            var cluster = Akka.Cluster.Cluster.Get(member.Services.GetRequiredService<ActorSystem>());
            var until = Stopwatch.StartNew();
            while (cluster.SelfMember.Status != Akka.Cluster.MemberStatus.Up && until.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100);
            }

            Assert.Equal(Akka.Cluster.MemberStatus.Up, cluster.SelfMember.Status);
            await member.StopAsync();
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }

            await node.StopAsync();
        }
    }

    private static async Task<IHost> Start(NodeRole role, int port, string[] seeds)
    {
        var options = new DistBackpropAkkaOptions
        {
            Role = role,
            Host = "127.0.0.1",
            Port = port,
            SeedNodes = seeds,
            JoinRetry = TimeSpan.FromSeconds(1),
            Tls = TestPki.For(role),
            AkkaPortLimits = Small,
        };
        var host = LocalTraining.BuildHost(null, Akka.Event.LogLevel.WarningLevel, b => b.WithDistBackprop(options));
        await host.StartAsync();
        return host;
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

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
