// Helpers for in-process fault tests over loopback TCP: node options with fast failure detection, a free
// port, worker nodes that can be hard-killed, and the kill itself.
// How kill -9 is simulated in process: the victim's transport goes through Akka's throttler adapter; the test
// black-holes every association of the victim (nothing in, nothing out — no leave gossip, no DeathWatch
// notification, no heartbeat), then terminates its ActorSystem without coordinated shutdown, which closes its
// sockets as the kernel does for a killed process. The survivors learn of it only from their failure detector
// (unreachable), then the split brain resolver (down, removed) — as with a real kill -9.
// Leaves out: real processes (the Host's end-to-end tests).
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Remote;
using Akka.Remote.Transport;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DistBackprop.Cluster.Tests;

internal static class ClusterChaos
{
    /// <summary>Options for a test node: fast failure detection (unreachable after ~1 s, downed ~1 s later), throttler on.</summary>
    public static DistBackpropAkkaOptions Node(NodeRole role, int port, params string[] seeds) => new()
    {
        Role = role,
        Host = "127.0.0.1",
        Port = port,
        SeedNodes = seeds,
        TensorPort = 0, // any free port: Port + 1 may be taken
        // off: messages between these nodes cross real remoting anyway, and verifying local sends would also push Akka.Cluster's
        // own local events (ReachabilityChanged) through JSON, which cannot read them: the failure detector's news would be lost
        SerializeMessages = false,
        HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        AcceptableHeartbeatPause = TimeSpan.FromMilliseconds(1000),
        DowningStableAfter = TimeSpan.FromMilliseconds(1000),
        JoinRetry = TimeSpan.FromMilliseconds(1000),
        LeaveTimeout = TimeSpan.FromSeconds(3),
        ShardDeadline = TimeSpan.FromSeconds(60), // long: only membership or a leave may finish a step in time
        LogLevel = Akka.Event.LogLevel.InfoLevel,
        TestThrottler = true,
        Tls = TestPki.For(role), // the secure default: mutual TLS with the test CA
    };

    public static string Seed(int port) => $"akka.trttl.tcp://{DistBackpropAkkaOptions.SystemName}@127.0.0.1:{port}";

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>A worker node that is not a ClusterWorkerHost (which would rebuild itself): the one a test kills.</summary>
    public static async Task<(IHost Host, ActorSystem System)> StartKillableWorker(int coordinatorPort, WorkerSettings settings)
    {
        var options = Node(NodeRole.Worker, 0, Seed(coordinatorPort));
        var host = LocalTraining.BuildHost(null, options.LogLevel, b => b.WithDistBackpropWorker(options, settings));
        await host.StartAsync();
        return (host, host.Services.GetRequiredService<ActorSystem>());
    }

    /// <summary>kill -9, in process: black-hole every peer of <paramref name="system"/>, then terminate it without leaving.</summary>
    public static async Task Kill(ActorSystem system)
    {
        await Isolate(system);
        await system.Terminate();
    }

    /// <summary>Drops everything <paramref name="system"/> sends or receives, from now on (the node itself keeps running).</summary>
    public static async Task Isolate(ActorSystem system)
    {
        var transport = ((RemoteActorRefProvider)((ExtendedActorSystem)system).Provider).Transport;
        var self = Akka.Cluster.Cluster.Get(system).SelfAddress;
        foreach (var member in Akka.Cluster.Cluster.Get(system).State.Members.Where(m => !m.Address.Equals(self)))
        {
            await transport.ManagementCommand(new SetThrottle(member.Address, ThrottleTransportAdapter.Direction.Both, Blackhole.Instance));
        }
    }
}
