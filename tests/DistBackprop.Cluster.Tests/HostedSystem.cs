// Starts an ActorSystem through the production composition (generic host + Akka.Hosting +
// WithDistBackprop, serialize-messages on) and hands it to Akka.TestKit. Akka.Hosting.TestKit would do
// this, but it needs xunit v3. Leaves out: the actors under test (each spec starts its own).
using Akka.Actor;
using Akka.Hosting;
using Akka.TestKit.Xunit2;
using DistBackprop.Cluster.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public abstract class HostedTestKit : TestKit
{
    private readonly IHost _host;

    protected HostedTestKit(ITestOutputHelper output, DistBackpropAkkaOptions? options = null)
        : this(Start(options ?? new DistBackpropAkkaOptions { SerializeMessages = true }), output)
    {
    }

    private HostedTestKit(IHost host, ITestOutputHelper output)
        : base(host.Services.GetRequiredService<ActorSystem>(), output) => _host = host;

    protected override void AfterAll()
    {
        base.AfterAll();
        _host.StopAsync().GetAwaiter().GetResult();
        _host.Dispose();
    }

    private static IHost Start(DistBackpropAkkaOptions options)
    {
        var host = LocalTraining.BuildHost(null, options.LogLevel, b => b
            .WithDistBackprop(options)
            .AddHocon(DefaultConfig, HoconAddMode.Append));
        host.StartAsync().GetAwaiter().GetResult();
        return host;
    }
}
