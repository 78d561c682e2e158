// Issue 4, coordinator restarts with real processes on loopback (SPEC §3, §5, §7): the coordinator is killed
// with SIGKILL after a checkpoint and restarted with --resume at the same port while the two worker
// processes keep running; they rejoin it and the final model equals the uninterrupted (local-mode) run's bit
// for bit. With the newest checkpoint truncated, the restart falls back to the previous one with a warning and
// the model is still the same. A coordinator stopped with SIGTERM finishes the step in flight, writes --out and a
// checkpoint of that step, exits 0, and resumes from it losing nothing. Each test prints the steps lost
// (recomputed) and the time to recover.
// Leaves out: worker faults (WorkerFaultTests).
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests.Faults;

public sealed class CoordinatorRestartTests(ITestOutputHelper output, LocalReferences references) : IClassFixture<LocalReferences>
{
    private const int Every = 40;

    [Fact(Timeout = 240_000)]
    public Task KilledCoordinatorResumesFromItsCheckpointWithTheSameWorkers() =>
        KillAndResume(checkpointsBeforeKill: 1, truncateNewest: false);

    [Fact(Timeout = 240_000)]
    public Task TruncatedNewestCheckpointFallsBackToThePreviousWithAWarning() =>
        KillAndResume(checkpointsBeforeKill: 2, truncateNewest: true);

    [Fact(Timeout = 240_000)]
    public async Task SigtermStopsAfterTheStepInFlightWritesFilesAndResumesLosingNothing()
    {
        using var scene = new Scene(output);
        try
        {
            var ckpt = scene.File("ckpt");
            string[] args = ["--min-workers", "2", "--shards", "2", "--checkpoint-dir", ckpt, "--checkpoint-every", "1000",
                "--out", scene.File("cluster.safetensors")];
            var first = scene.Coordinator("coordinator", [.. args, "--metrics", scene.File("metrics-1.csv")]);
            await first.WaitForAsync("coordinator up at", FaultRun.Start);
            var metrics1 = scene.Watch("metrics-1.csv");
            _ = new[] { scene.Worker("worker 1"), scene.Worker("worker 2") };
            await metrics1.WaitForStepAsync(Every, first, FaultRun.Run);

            first.Terminate(); // SIGTERM, as `docker stop` or Kubernetes send it
            Assert.Equal(0, await first.ExitCodeAsync(FaultRun.Start));
            var stoppedAt = metrics1.Finish().Last().Step;
            Assert.True(stoppedAt < FaultRun.Steps, $"the run ended before SIGTERM (step {stoppedAt})");
            Assert.Contains($"stopped at step {stoppedAt}", first.Out, StringComparison.Ordinal);
            Assert.True(File.Exists(scene.File("cluster.safetensors")), "no --out after SIGTERM");
            var checkpoints = FaultAssert.Checkpoints(ckpt);
            Assert.Equal(stoppedAt, checkpoints[^1].Step); // a checkpoint of the last completed step: nothing to recompute

            var second = scene.Coordinator("coordinator (resumed)", [.. args, "--resume", ckpt, "--metrics", scene.File("metrics-2.csv")]);
            var metrics2 = scene.Watch("metrics-2.csv");
            Assert.Equal(0, await second.ExitCodeAsync(FaultRun.Run));
            FaultAssert.EveryStepOnce(metrics2.Finish(), stoppedAt + 1, FaultRun.Steps, "metrics after the resume");
            FaultAssert.BitIdentical(references.Model(2), scene.File("cluster.safetensors"));
            output.WriteLine($"FIGURES coordinator SIGTERM: stopped after step {stoppedAt} with exit 0, checkpoint of that step; resumed, 0 steps lost");
        }
        catch
        {
            scene.Fail();
            throw;
        }
    }

    private async Task KillAndResume(int checkpointsBeforeKill, bool truncateNewest)
    {
        using var scene = new Scene(output);
        try
        {
            var ckpt = scene.File("ckpt");
            string[] args = ["--min-workers", "2", "--shards", "2", "--checkpoint-dir", ckpt, "--checkpoint-every", $"{Every}",
                "--out", scene.File("cluster.safetensors")];
            var first = scene.Coordinator("coordinator", [.. args, "--metrics", scene.File("metrics-1.csv")]);
            await first.WaitForAsync("coordinator up at", FaultRun.Start);
            var metrics1 = scene.Watch("metrics-1.csv");
            var workers = new[] { scene.Worker("worker 1"), scene.Worker("worker 2") };

            // kill -9 the coordinator once the checkpoint(s) are there (written atomically: a listed file is whole)
            await metrics1.WaitForStepAsync(checkpointsBeforeKill * Every, first, FaultRun.Run);
            var until = DateTime.UtcNow + FaultRun.Start;
            while (FaultAssert.Checkpoints(ckpt).Count < checkpointsBeforeKill && DateTime.UtcNow < until && !first.HasExited)
            {
                await Task.Delay(20);
            }

            var killedAt = scene.Clock.Elapsed;
            first.Kill();
            var lastBeforeKill = metrics1.Finish().LastOrDefault()?.Step ?? 0;
            Assert.True(lastBeforeKill < FaultRun.Steps, $"the run ended before the kill (step {lastBeforeKill})");
            var checkpoints = FaultAssert.Checkpoints(ckpt);
            Assert.True(checkpoints.Count >= checkpointsBeforeKill, $"{checkpoints.Count} checkpoint(s) before the kill, {checkpointsBeforeKill} expected");

            var expectedResume = checkpoints[^1];
            if (truncateNewest)
            {
                // half a file, as a crash in a non-atomic copy would leave it
                using (var f = new FileStream(checkpoints[^1].Path, FileMode.Open, FileAccess.Write))
                {
                    f.SetLength(f.Length / 2);
                }

                expectedResume = checkpoints[^2];
            }

            // the same command at the same port, plus --resume; the workers were left running
            var restartedAt = scene.Clock.Elapsed;
            var second = scene.Coordinator("coordinator (restarted)", [.. args, "--resume", ckpt, "--metrics", scene.File("metrics-2.csv")]);
            var metrics2 = scene.Watch("metrics-2.csv");
            await second.WaitForAsync($"resuming from {expectedResume.Path} at step {expectedResume.Step}", FaultRun.Start);
            if (truncateNewest)
            {
                Assert.Contains($"warning: ignoring {checkpoints[^1].Path}: ", second.Err, StringComparison.Ordinal);
            }

            await second.WaitForAsync("ready; 2 worker(s) live", FaultRun.Run);
            var rejoinedAt = scene.Clock.Elapsed;
            Assert.Equal(0, await second.ExitCodeAsync(FaultRun.Run));
            var rows = metrics2.Finish();

            Assert.False(workers.Any(w => w.HasExited), "a worker process exited: they must outlive the coordinator");
            Assert.Contains($"step {FaultRun.Steps}/{FaultRun.Steps}", second.Out, StringComparison.Ordinal);
            FaultAssert.EveryStepOnce(rows, expectedResume.Step + 1, FaultRun.Steps, "metrics after the restart");
            FaultAssert.BitIdentical(references.Model(2), scene.File("cluster.safetensors"));

            var name = truncateNewest ? "newest checkpoint truncated" : "coordinator kill -9";
            output.WriteLine($"FIGURES {name} (S = 2, checkpoint every {Every}): killed after step {lastBeforeKill}; resumed from step {expectedResume.Step}" +
                $"{(truncateNewest ? $" (newest, step {checkpoints[^1].Step}, refused)" : string.Empty)}; steps lost (recomputed) {lastBeforeKill - expectedResume.Step}; " +
                $"restart {FaultRun.Seconds(restartedAt - killedAt)} after the kill; both workers back {FaultRun.Seconds(rejoinedAt - killedAt)} after the kill; " +
                $"first step {rows[0].Step} completed {FaultRun.Seconds(rows[0].SeenAt - killedAt)} after the kill");
        }
        catch
        {
            scene.Fail();
            throw;
        }
    }
}
