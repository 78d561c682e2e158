// Plain mode (--plain, or stdout not a terminal): the exact step and epoch line formats, a whole `train --plain`
// run whose stdout holds only known line shapes (no Akka warning), and the monitor's event feed in plain lines.
using System.Text.RegularExpressions;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Host.Output;

namespace DistBackprop.Host.Tests.Output;

public sealed class PlainLineTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Step_and_epoch_lines_have_the_documented_format()
    {
        var info = RunInfo.From("t", totalSteps: 250, stepsPerEpoch: 125, configEpochs: 2);
        Assert.Equal("step 40/250  epoch 1/2  loss 0.7592  acc 0.828  50272 samples/s",
            PlainProgress.StepLine(info, new StepSample(40, 0, 0.75921, 0.828125, 64, 1.27, 2), 50272.4));
        Assert.Equal("epoch 2/2 done  train loss 0.4667  acc 0.909  test loss 0.3317  acc 0.9375 (2000 samples)  1.7 s",
            PlainProgress.EpochLine(info, new EpochSample(1, 250, 0.46671, 0.90912, 0.33169, 0.9375, 2000), TimeSpan.FromSeconds(1.72)));
        Assert.Equal("epoch 1/2 done  train loss 1.2869  acc 0.672  0.5 s",
            PlainProgress.EpochLine(info, new EpochSample(0, 125, 1.28694, 0.6719), TimeSpan.FromSeconds(0.5)));

        // --val-split: the validation figures before the test ones, "best" on the epoch with the lowest validation loss so far
        Assert.Equal("epoch 2/2 done  train loss 0.4667  acc 0.909  val loss 0.3402  acc 0.9300 (800 samples, best)  test loss 0.3317  acc 0.9375 (2000 samples)  1.7 s",
            PlainProgress.EpochLine(info, new EpochSample(1, 250, 0.46671, 0.90912, 0.33169, 0.9375, 2000, 0.34022, 0.93, 800, BestValEpoch: 1), TimeSpan.FromSeconds(1.72)));
        Assert.Equal("epoch 2/2 done  train loss 0.4667  acc 0.909  val loss 0.3402  acc 0.9300 (800 samples)  1.7 s",
            PlainProgress.EpochLine(info, new EpochSample(1, 250, 0.46671, 0.90912, ValLoss: 0.34022, ValAccuracy: 0.93, ValSamples: 800, BestValEpoch: 0), TimeSpan.FromSeconds(1.72)));

        // unbounded: "?" steps and no "/N" epochs; --max-steps cuts the epochs shown (3 steps of 125 per epoch → 1 epoch)
        var open = RunInfo.From("t", totalSteps: 0, stepsPerEpoch: 125, configEpochs: 0);
        Assert.Equal("step 7/?  epoch 3  loss 2.0000  acc 0.500  0 samples/s", PlainProgress.StepLine(open, new StepSample(7, 2, 2, 0.5, 64, 0, 1), 0));
        Assert.Equal(1, RunInfo.From("t", totalSteps: 3, stepsPerEpoch: 125, configEpochs: 10).Epochs);
    }

    [Fact]
    public void Plain_progress_prints_the_first_step_then_at_most_one_line_per_interval_and_the_last()
    {
        using var w = new StringWriter();
        var view = new PlainProgress(w, TimeSpan.FromHours(1));
        view.Start(RunInfo.From("t", 5, 5, 1));
        for (var s = 1; s <= 5; s++)
        {
            view.Step(new StepSample(s, 0, 1.0 / s, 0.5, 10, 10, 1));
        }

        Assert.Equal(
            ["step 1/5  epoch 1/1  loss 1.0000  acc 0.500  1000 samples/s", "step 5/5  epoch 1/1  loss 0.2000  acc 0.500  1000 samples/s"],
            w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
    }

    [Fact]
    public void Train_plain_stdout_holds_only_the_known_lines()
    {
        var r = Cli.Run(_dir.Path, "train", "--epochs", "2", "--batch", "500", "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] shapes =
        [
            @"^distbackprop train: kernels .+$",
            @"^data digits: 8000 training samples, 2000 test samples, 400 features, 10 classes$",
            @"^model 400,128,10 relu softmax-ce, 52618 parameters; sgd lr 0\.1, batch 500, 2 epochs, seed 1$",
            @"^engine: actors, local mode \(2 worker actors × 1 kernel threads, 2 shards per step\)$",
            @"^info: worker local-0[12] ready; [12] worker\(s\) live$",
            @"^step \d+/32  epoch [12]/2  loss \d+\.\d{4}  acc [01]\.\d{3}  \d+ samples/s$",
            @"^epoch [12]/2 done  train loss \d+\.\d{4}  acc [01]\.\d{3}  test loss \d+\.\d{4}  acc [01]\.\d{4} \(2000 samples\)  \d+\.\d s$",
            @"^done: 32 steps in \d+\.\d s$",
        ];
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        foreach (var line in lines)
        {
            Assert.True(shapes.Any(s => Regex.IsMatch(line, s)), $"unexpected stdout line: '{line}'\n{r}");
        }

        Assert.Contains(lines, l => l.StartsWith("step 1/32  epoch 1/2  ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("step 32/32  epoch 2/2  ", StringComparison.Ordinal));
        Assert.Equal(2, lines.Count(l => l.Contains(" done  train loss ", StringComparison.Ordinal)));
        Assert.DoesNotContain("WARNING", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void The_monitor_feed_turns_coordinator_events_into_plain_lines()
    {
        using var w = new StringWriter();
        var feed = new TrainingEventFeed(new PlainProgress(w, TimeSpan.FromHours(1)), "distbackprop monitor");
        feed.On(new ClusterStatus(0, 0, 250, 125, 2, 64, "400,128,10 relu softmax-ce", [new WorkerStatus("w1", "akka.tcp://distbackprop@127.0.0.1:5000", "ready", 0, 0, -1, 0)]));
        feed.On(new TrainingNotice("info", "worker w1 ready; 1 worker(s) live", 1));
        feed.On(new StepReport(1, 0, 2.5, 0.125, 6400, 1, 5, 1, 1, 3, 64, 0, 0, 0));
        feed.On(new StepReport(2, 0, 2.25, 0.25, 6400, 1, 5, 1, 1, 3, 64, 0, 0, 0));
        feed.On(new EpochEvaluated(0, 125, 1.5, 0.625, 1.25, 0.75, 100));
        feed.On(new CheckpointWritten(125, "ckpt/ckpt-00000125.safetensors", 12.3));
        feed.On(new TrainingCompleted([], new TrainingSummary(250, 2, 0.5, 0.875, 12.34, 1, 0, 2, 0, Stopped: false, ForeignReplies: 7, RefusedReplies: 3)));
        var lines = w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(
            [
                "info: worker w1 ready; 1 worker(s) live",
                "step 1/250  epoch 1/2  loss 2.5000  acc 0.125  6400 samples/s",
                "epoch 1/2 done  train loss 1.5000  acc 0.625  test loss 1.2500  acc 0.7500 (100 samples)",
                "checkpoint ckpt/ckpt-00000125.safetensors after step 125 (12 ms)",
                "training completed: 250 steps in 12.3 s, last loss 0.5000  acc 0.875 (reassigned 1, stale 2, duplicates 0, foreign 7, refused 3)",
            ],
            lines.Select(l => Regex.Replace(l, @"  \d+\.\d s$", string.Empty)));
    }

    [Fact]
    public void Monitor_with_a_malformed_seed_exits_2_naming_the_option()
    {
        var r = Cli.Run(_dir.Path, "monitor", "--seed-nodes", "akka.tcp://distbackprop@no-port", "--plain");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--seed-nodes", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_command_help_has_an_example()
    {
        var root = DistBackprop.Host.Commands.DistBackpropCli.BuildRoot(new DistBackprop.Host.Commands.CliContext(TextWriter.Null, TextWriter.Null,
            new DistBackprop.Host.Configuration.CliEnvironment(new System.Collections.Hashtable(), _dir.Path, null)));
        Assert.Contains(root.Subcommands, c => c.Name == "monitor");
        foreach (var c in root.Subcommands)
        {
            Assert.True(c.Description?.Contains("Example: distbackprop " + c.Name, StringComparison.Ordinal) == true, $"{c.Name}: {c.Description}");
        }
    }
}
