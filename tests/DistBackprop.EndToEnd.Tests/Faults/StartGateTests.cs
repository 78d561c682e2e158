// The start gate with real processes (issue 10): a worker that blinks unreachable before step 1 must not hang the run.
// Worker A is frozen with SIGSTOP until the coordinator marks it unreachable, worker B becomes ready meanwhile, then
// A is resumed and reachable again: the run (--min-workers 2) must start and end bit-identical to local mode. Downing
// is slowed for this test so that A is only unreachable, never removed (the blip, not a death).
// Leaves out: the same rule under thousands of interleavings (ProtocolSimulationTests).
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests.Faults;

public sealed class StartGateTests(ITestOutputHelper output, LocalReferences references) : IClassFixture<LocalReferences>
{
    private const int Steps = 200;

    [Fact(Timeout = 240_000)]
    public async Task A_worker_that_blinks_unreachable_before_step_one_does_not_hang_the_start()
    {
        using var scene = new Scene(output, Steps, new Dictionary<string, string> { ["DistBackprop__Cluster__DowningStableAfter"] = "60" });
        try
        {
            var coordinator = scene.Coordinator("coordinator", "--min-workers", "2", "--shards", "2",
                "--out", scene.File("cluster.safetensors"), "--metrics", scene.File("metrics.csv"));
            await coordinator.WaitForAsync("coordinator up at", FaultRun.Start);
            var a = scene.Worker("worker A");
            await coordinator.WaitForAsync("ready; 1 worker(s) live", FaultRun.Start);

            a.Signal("STOP");
            await coordinator.WaitForAsync("is unreachable; 0 worker(s) live", FaultRun.Start);
            var b = scene.Worker("worker B");
            for (var waited = System.Diagnostics.Stopwatch.StartNew(); Count(coordinator.Out, "ready; 1 worker(s) live") < 2; await Task.Delay(100))
            {
                Assert.True(waited.Elapsed < FaultRun.Start && !coordinator.HasExited, "worker B never became ready while A was frozen");
            }

            Assert.DoesNotContain("step 1/", coordinator.Out, StringComparison.Ordinal); // 1 of 2 live: the gate is shut
            a.Signal("CONT");
            await coordinator.WaitForAsync("is reachable again; 2 worker(s) live", FaultRun.Start);

            Assert.Equal(0, await coordinator.ExitCodeAsync(FaultRun.Run));
            Assert.Contains($"step {Steps}/{Steps}", coordinator.Out, StringComparison.Ordinal);
            FaultAssert.BitIdentical(references.Model(2, Steps), scene.File("cluster.safetensors"));
            output.WriteLine("FIGURES start gate: A ready, frozen (SIGSTOP) until unreachable, B ready, A resumed and reachable: run started and ended bit-identical");
        }
        catch
        {
            scene.Fail();
            throw;
        }
    }

    private static int Count(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
