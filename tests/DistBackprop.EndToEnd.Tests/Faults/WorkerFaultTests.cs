// Issue 4, worker faults with real processes on loopback (SPEC §3, §7): one of three worker processes is
// killed with SIGKILL in the middle of training, and a second worker process joins a run that started with
// one; either way the run completes and the model equals the local-mode model with the same --shards bit for
// bit. Each test prints what it measured (steps lost, shards recomputed, time to recover or to take shards).
// Leaves out: coordinator restarts (CoordinatorRestartTests); the state machine in detail (Cluster.Tests).
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests.Faults;

public sealed partial class WorkerFaultTests(ITestOutputHelper output, LocalReferences references) : IClassFixture<LocalReferences>
{
    [Fact(Timeout = 240_000)]
    public async Task KilledWorkerOfThreeLeavesTheModelBitIdentical()
    {
        using var scene = new Scene(output);
        try
        {
            var coordinator = scene.Coordinator("coordinator", "--min-workers", "3", "--shards", "3",
                "--out", scene.File("cluster.safetensors"), "--metrics", scene.File("metrics.csv"));
            await coordinator.WaitForAsync("coordinator up at", FaultRun.Start);
            var metrics = scene.Watch("metrics.csv");
            var workers = Enumerable.Range(1, 3).Select(i => scene.Worker($"worker {i}")).ToList();
            await coordinator.WaitForAsync("ready; 3 worker(s) live", FaultRun.Start);

            // kill -9 the second worker a quarter into the run
            var before = await metrics.WaitForStepAsync(FaultRun.Steps / 4, coordinator, FaultRun.Run);
            var killedAt = scene.Clock.Elapsed;
            workers[1].Kill();
            var stepAtKill = metrics.LastStep;
            Assert.True(stepAtKill < FaultRun.Steps, $"the run ended before the kill (step {stepAtKill})");

            Assert.Equal(0, await coordinator.ExitCodeAsync(FaultRun.Run));
            var rows = metrics.Finish();

            // the fault was seen (by the tensor channel closing, or by membership), the others carried on,
            // no step was lost or repeated
            Assert.Matches(@"worker \S+:? (is unreachable|removed from the cluster|left|tensor channel closed[^;]*); 2 worker\(s\) live", coordinator.Out);
            Assert.Contains($"step {FaultRun.Steps}/{FaultRun.Steps}", coordinator.Out, StringComparison.Ordinal);
            FaultAssert.EveryStepOnce(rows, 1, FaultRun.Steps, "metrics");
            Assert.False(workers[0].HasExited || workers[2].HasExited, "a surviving worker exited");
            FaultAssert.BitIdentical(references.Model(3), scene.File("cluster.safetensors"));

            // measured: the first step completed after the kill with the dead worker counted out, and the longest stall
            var recovered = rows.FirstOrDefault(r => r.SeenAt > killedAt && r.Workers == 2);
            var after = rows.Where(r => r.Step > stepAtKill).ToList();
            var stall = after.Zip(after.Skip(1), (a, b) => b.SeenAt - a.SeenAt).Prepend(after[0].SeenAt - killedAt).Max();
            var recomputed = ReassignedShards().Matches(coordinator.Out + coordinator.Err)
                .Sum(m => m.Groups[1].Value.Split(',').Length);
            output.WriteLine($"FIGURES worker kill -9 (1 of 3, S = 3): killed after step {stepAtKill} (seen {before.Step}); steps lost 0; " +
                $"shards recomputed {recomputed}; next completed step {after[0].Step} {FaultRun.Seconds(after[0].SeenAt - killedAt)} after the kill; " +
                $"first step without the dead worker: {(recovered is null ? "none" : $"{recovered.Step} at +{FaultRun.Seconds(recovered.SeenAt - killedAt)}")}; longest stall {FaultRun.Seconds(stall)}");
        }
        catch
        {
            scene.Fail();
            throw;
        }
    }

    /// <summary>
    /// A longer run for the late joiner: a worker process needs 2 s (idle machine) to 8 s (loaded 2-core machine) from
    /// its start to being ready, and the run must still be going then.
    /// </summary>
    private const int LateJoinSteps = 1000;

    [Fact(Timeout = 240_000)]
    public async Task LateJoinerTakesShardsAndLeavesTheModelBitIdentical()
    {
        using var scene = new Scene(output, LateJoinSteps);
        try
        {
            var coordinator = scene.Coordinator("coordinator", "--min-workers", "1", "--shards", "2",
                "--out", scene.File("cluster.safetensors"), "--metrics", scene.File("metrics.csv"));
            await coordinator.WaitForAsync("coordinator up at", FaultRun.Start);
            var metrics = scene.Watch("metrics.csv");
            scene.Worker("worker 1");

            // the second worker process once the run has started with the first
            await metrics.WaitForStepAsync(1, coordinator, FaultRun.Run);
            var startedAt = scene.Clock.Elapsed;
            var stepAtStart = metrics.LastStep;
            scene.Worker("worker 2");
            await coordinator.WaitForAsync("ready; 2 worker(s) live", FaultRun.Run);
            var readyAt = scene.Clock.Elapsed;
            var stepAtReady = metrics.LastStep;

            Assert.Equal(0, await coordinator.ExitCodeAsync(FaultRun.Run));
            var rows = metrics.Finish();
            FaultAssert.EveryStepOnce(rows, 1, LateJoinSteps, "metrics");
            FaultAssert.BitIdentical(references.Model(2, LateJoinSteps), scene.File("cluster.safetensors"));

            // it takes shards: once it is ready, 2 live workers share the 2 shards of each step (shard s → live[s mod n])
            Assert.True(rows.Take((int)stepAtStart).All(r => r.Workers == 1), "the run did not start with one worker");
            var joined = rows.FirstOrDefault(r => r.Workers == 2);
            Assert.True(joined is not null, $"no step ran with 2 live workers: the second worker was ready after step {stepAtReady} of {LateJoinSteps}");
            Assert.True(joined.Step > stepAtStart, $"2 workers counted from step {joined.Step}, before the second one started (step {stepAtStart})");
            var shared = rows.Count(r => r.Workers == 2);
            output.WriteLine($"FIGURES late joiner (S = 2, 1 worker then 2, {LateJoinSteps} steps): second worker started after step {stepAtStart}; " +
                $"ready {FaultRun.Seconds(readyAt - startedAt)} later (after step {stepAtReady}); first step with 2 workers {joined.Step} at +{FaultRun.Seconds(joined.SeenAt - startedAt)}; " +
                $"{shared} of {LateJoinSteps} steps with 2 workers; steps lost 0");
        }
        catch
        {
            scene.Fail();
            throw;
        }
    }

    // the coordinator's warning "step N: worker unreachable; reassigning shard(s) 1,2"
    [GeneratedRegex(@"step \d+: [^;\n]+; reassigning shard\(s\) ([0-9,]+)")]
    private static partial Regex ReassignedShards();
}
