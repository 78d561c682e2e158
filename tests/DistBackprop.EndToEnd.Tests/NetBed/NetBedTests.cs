// Issue 12, real hosts and real links: coordinator and workers each on their own host (network namespace) with its
// own address, joined by a bridge, links rate-limited with tc tbf. Four scenarios, each ending bit-identical to local
// mode with the same --shards (SPEC §3): four hosts; a worker's link cut for 25 s mid-run and healed (steps go on
// without it, it comes back); the coordinator's host cut off (the README's split-brain rule: the coordinator's side
// survives and pauses, the workers down themselves, rebuild and rejoin); and --host 0.0.0.0 with --public-host.
// Skipped, and counted as skipped, where network namespaces cannot be made (not root, no iproute2). The coordinators
// start with --min-workers 1 and each test waits for all its workers to be live before its fault: with --min-workers N
// a worker that blinks unreachable before step 1 (a loaded machine) hangs the start (issue 10's start-gate bug, fixed
// in the coordinator's state machine; seen here once under a load average of 30).
// Leaves out: faults on loopback (Faults/), the reduction tree over aggregators (the fan-in issue's phase B).
using DistBackprop.EndToEnd.Tests.Faults;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests.NetBed;

public sealed class NetBedTests(ITestOutputHelper output, LocalReferences references) : IClassFixture<LocalReferences>
{
    private static readonly TimeSpan Cut = TimeSpan.FromSeconds(25);

    [SkippableFact(Timeout = 180_000)]
    public async Task CoordinatorAndThreeWorkersOnFourHostsMatchLocalModeBitForBit()
    {
        Skip.If(NetBed.WhyUnavailable is not null, $"network namespaces unavailable: {NetBed.WhyUnavailable}");
        const int steps = 300;
        using var cluster = new BedCluster(output, hosts: 4, rate: "200mbit");
        try
        {
            // the workers first: they knock at the coordinator's service port until it is up (enrolment), then join
            var workers = Enumerable.Range(1, 3).Select(h => cluster.Worker(h)).ToList();
            var coordinator = cluster.Coordinator(steps, null, "--min-workers", "3", "--shards", "3",
                "--out", cluster.File("cluster.safetensors"), "--metrics", cluster.File("metrics.csv"));
            var metrics = cluster.Watch("metrics.csv");
            foreach (var w in workers)
            {
                await w.WaitForAsync("worker node up at", FaultRun.Start);
            }

            Assert.Equal(0, await coordinator.ExitCodeAsync(FaultRun.Run));
            var rows = metrics.Finish();
            Assert.Contains($"coordinator up at akka.ssl.tcp://distbackprop@{NetBed.Address(0)}:{BedCluster.Port}", coordinator.Out, StringComparison.Ordinal);
            Assert.Contains("ready; 3 worker(s) live", coordinator.Out, StringComparison.Ordinal);
            Assert.True(rows.Count(r => r.Workers == 3) >= steps / 2, $"only {rows.Count(r => r.Workers == 3)} of {steps} steps ran with all three workers"); // --min-workers 3: normally all
            FaultAssert.EveryStepOnce(rows, 1, steps, "metrics");
            FaultAssert.BitIdentical(references.Model(3, steps), cluster.File("cluster.safetensors"));
            var perStep = (rows[^1].SeenAt - rows[0].SeenAt).TotalMilliseconds / (rows.Count - 1);
            output.WriteLine($"FIGURES 4 hosts, 200 Mbit/s links, S = 3: {steps} steps, {perStep:0.0} ms per step after the first; bit-identical to local mode");
        }
        catch
        {
            cluster.Fail();
            throw;
        }
    }

    [SkippableFact(Timeout = 200_000)]
    public async Task AWorkersLinkCutFor25SecondsLeavesTheRunGoingAndTheModelBitIdentical()
    {
        Skip.If(NetBed.WhyUnavailable is not null, $"network namespaces unavailable: {NetBed.WhyUnavailable}");
        const int steps = 700; // about 100 ms a step on 80 Mbit/s links: the run outlasts the cut and the rejoin
        using var cluster = new BedCluster(output, hosts: 4, rate: "80mbit");
        try
        {
            var coordinator = cluster.Coordinator(steps, null, "--min-workers", "1", "--shards", "3",
                "--out", cluster.File("cluster.safetensors"), "--metrics", cluster.File("metrics.csv"));
            var metrics = cluster.Watch("metrics.csv");
            var workers = Enumerable.Range(1, 3).Select(h => cluster.Worker(h)).ToList();

            await coordinator.WaitForAsync("ready; 3 worker(s) live", FaultRun.Start);
            await metrics.WaitForStepAsync(metrics.LastStep + 20, coordinator, FaultRun.Run);
            var cutAt = cluster.Clock.Elapsed;
            var stepAtCut = metrics.LastStep;
            cluster.Bed.Cut(2);
            await Task.Delay(Cut);
            var healAt = cluster.Clock.Elapsed;
            var stepAtHeal = metrics.LastStep;
            cluster.Bed.Heal(2);
            Assert.True(stepAtHeal < steps, $"the run ended during the cut (step {stepAtHeal}); make it longer");

            Assert.Equal(0, await coordinator.ExitCodeAsync(FaultRun.Run));
            var rows = metrics.Finish();

            // the run went on without the cut-off worker: steps completed in the cut, with 2 workers
            var duringCut = rows.Where(r => r.SeenAt > cutAt + TimeSpan.FromSeconds(6) && r.SeenAt < healAt).ToList();
            Assert.True(duringCut.Count >= 20, $"only {duringCut.Count} steps completed between 6 s into the cut and the heal");
            Assert.All(duringCut, r => Assert.Equal(2, r.Workers));
            Assert.Matches(@"worker \S+:? (is unreachable|removed from the cluster|tensor channel closed[^;]*); 2 worker\(s\) live", coordinator.Out);

            // and it came back: its node rebuilt itself (downed on its side of the partition) and the coordinator counted 3 again
            var back = rows.FirstOrDefault(r => r.SeenAt > healAt && r.Workers == 3);
            Assert.True(back is not null, "the cut worker never came back before the run ended");
            Assert.True(CountOf(workers[1].Out, "worker node up at") >= 2, "the cut worker's node was not rebuilt");
            Assert.False(workers.Any(w => w.HasExited), "a worker exited");

            FaultAssert.EveryStepOnce(rows, 1, steps, "metrics");
            FaultAssert.BitIdentical(references.Model(3, steps), cluster.File("cluster.safetensors"));
            output.WriteLine($"FIGURES worker link cut {FaultRun.Seconds(Cut)} at step {stepAtCut}: steps {stepAtCut}..{stepAtHeal} done during the cut " +
                $"({duringCut.Count} of them from 6 s in, with 2 workers); back with 3 workers at step {back.Step}, {FaultRun.Seconds(back.SeenAt - healAt)} after the heal; bit-identical");
        }
        catch
        {
            cluster.Fail();
            throw;
        }
    }

    [SkippableFact(Timeout = 180_000)]
    public async Task TheCoordinatorsHostCutOffKeepsTheCoordinatorAndTheWorkersRejoin()
    {
        Skip.If(NetBed.WhyUnavailable is not null, $"network namespaces unavailable: {NetBed.WhyUnavailable}");
        const int steps = 300;
        var cut = TimeSpan.FromSeconds(10);
        using var cluster = new BedCluster(output, hosts: 4, rate: "200mbit");
        try
        {
            var coordinator = cluster.Coordinator(steps, null, "--min-workers", "1", "--shards", "3",
                "--out", cluster.File("cluster.safetensors"), "--metrics", cluster.File("metrics.csv"));
            var metrics = cluster.Watch("metrics.csv");
            var workers = Enumerable.Range(1, 3).Select(h => cluster.Worker(h)).ToList();

            await coordinator.WaitForAsync("ready; 3 worker(s) live", FaultRun.Start);
            await metrics.WaitForStepAsync(metrics.LastStep + 20, coordinator, FaultRun.Run);
            var cutAt = cluster.Clock.Elapsed;
            cluster.Bed.Cut(0);
            await Task.Delay(cut);
            var healAt = cluster.Clock.Elapsed;
            var stepAtHeal = metrics.LastStep;
            Assert.False(coordinator.HasExited, "the coordinator exited while cut off");
            cluster.Bed.Heal(0);

            Assert.Equal(0, await coordinator.ExitCodeAsync(FaultRun.Run));
            var rows = metrics.Finish();

            // README, split brain: keep-oldest with down-if-alone off — the coordinator alone is kept and pauses with no
            // live worker; the workers, on the side without it, down themselves, rebuild their nodes and rejoin
            Assert.Contains("no live worker", coordinator.Out, StringComparison.Ordinal);
            Assert.Contains("resuming with", coordinator.Out, StringComparison.Ordinal);
            Assert.DoesNotContain(rows, r => r.SeenAt > cutAt + TimeSpan.FromSeconds(3) && r.SeenAt < healAt);
            Assert.All(workers, w => Assert.True(CountOf(w.Out, "worker node up at") >= 2, $"{w}: not rebuilt"));
            Assert.False(workers.Any(w => w.HasExited), "a worker exited");

            FaultAssert.EveryStepOnce(rows, 1, steps, "metrics");
            FaultAssert.BitIdentical(references.Model(3, steps), cluster.File("cluster.safetensors"));
            var resumed = rows.First(r => r.SeenAt > healAt);
            output.WriteLine($"FIGURES coordinator host cut {FaultRun.Seconds(cut)} at step {stepAtHeal}: paused, workers rebuilt and rejoined; " +
                $"first step {FaultRun.Seconds(resumed.SeenAt - healAt)} after the heal; bit-identical");
        }
        catch
        {
            cluster.Fail();
            throw;
        }
    }

    [SkippableFact(Timeout = 150_000)]
    public async Task BindingEveryInterfaceWithAPublicHostWorksAcrossHosts()
    {
        Skip.If(NetBed.WhyUnavailable is not null, $"network namespaces unavailable: {NetBed.WhyUnavailable}");
        const int steps = 200;
        using var cluster = new BedCluster(output, hosts: 3, rate: "200mbit");
        try
        {
            var workers = Enumerable.Range(1, 2).Select(h => cluster.Worker(h, ["--host", "0.0.0.0", "--public-host", NetBed.Address(h)])).ToList();
            var coordinator = cluster.Coordinator(steps, ["--host", "0.0.0.0", "--public-host", NetBed.Address(0)], "--min-workers", "2", "--shards", "2",
                "--out", cluster.File("cluster.safetensors"));
            foreach (var w in workers)
            {
                await w.WaitForAsync($"worker node up at akka.ssl.tcp://distbackprop@{NetBed.Address(workers.IndexOf(w) + 1)}:", FaultRun.Start);
            }

            Assert.Equal(0, await coordinator.ExitCodeAsync(FaultRun.Run));
            // advertised, not bound: the seed address and every member carry the public addresses
            Assert.Contains($"coordinator up at akka.ssl.tcp://distbackprop@{NetBed.Address(0)}:{BedCluster.Port}", coordinator.Out, StringComparison.Ordinal);
            Assert.Contains("ready; 2 worker(s) live", coordinator.Out, StringComparison.Ordinal);
            FaultAssert.BitIdentical(references.Model(2, steps), cluster.File("cluster.safetensors"));
        }
        catch
        {
            cluster.Fail();
            throw;
        }
    }

    private static int CountOf(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
