// The deterministic simulation of the coordinator's protocol (ProtocolWorld): thousands of seeded fault schedules on
// every run, each checked against the invariants after every event. A failing schedule prints its seed and its last
// events; DISTBACKPROP_SIM_SEED=<seed> re-runs that one schedule alone with its whole trace, and
// DISTBACKPROP_SIM_SCHEDULES / DISTBACKPROP_SIM_FIRST explore further seeds. Leaves out: real actors and sockets.
using System.Diagnostics;
using System.Globalization;
using DistBackprop.Cluster.Tests.Simulation;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public sealed class ProtocolSimulationTests(ITestOutputHelper output)
{
    /// <summary>Schedules per CI run.</summary>
    public const int Schedules = 2_000;

    [Fact]
    public void Thousands_of_random_fault_schedules_keep_every_invariant()
    {
        if (Environment.GetEnvironmentVariable("DISTBACKPROP_SIM_SEED") is { Length: > 0 } one)
        {
            var world = new ProtocolWorld(int.Parse(one, CultureInfo.InvariantCulture), fullTrace: true);
            var failure = world.Run();
            output.WriteLine(failure ?? $"seed {one}: every invariant held ({world.Events} events, {world.Steps} steps{(world.Stopped ? ", stopped" : string.Empty)})");
            Assert.Null(failure);
            return;
        }

        var first = int.Parse(Environment.GetEnvironmentVariable("DISTBACKPROP_SIM_FIRST") ?? "1", CultureInfo.InvariantCulture);
        var count = int.Parse(Environment.GetEnvironmentVariable("DISTBACKPROP_SIM_SCHEDULES") ?? Schedules.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var clock = Stopwatch.StartNew();
        var failures = new List<string>();
        long events = 0, steps = 0, stopped = 0, treeSteps = 0;
        for (var seed = first; seed < first + count; seed++)
        {
            var world = new ProtocolWorld(seed);
            if (world.Run() is { } failure)
            {
                failures.Add(failure);
            }

            events += world.Events;
            steps += world.Steps;
            treeSteps += world.TreeSteps;
            stopped += world.Stopped ? 1 : 0;
        }

        output.WriteLine($"FIGURES simulation: {count} schedules (seeds {first}..{first + count - 1}), {events} events, {steps} steps completed ({treeSteps} as aggregation trees), {stopped} stopped early, " +
            $"{failures.Count} failed, {clock.Elapsed.TotalSeconds:F1} s");
        foreach (var f in failures.Take(3))
        {
            output.WriteLine(f);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {count} schedules broke an invariant; first:\n{failures.FirstOrDefault()}");
    }

    [Fact]
    public void A_schedule_is_the_same_every_time_it_runs()
    {
        var a = new ProtocolWorld(4242);
        var b = new ProtocolWorld(4242);
        Assert.Null(a.Run());
        Assert.Null(b.Run());
        Assert.Equal(a.Events, b.Events);
        Assert.Equal(a.Steps, b.Steps);
    }
}
