// The live view without a terminal: frames rendered by Spectre into a StringWriter hold the bars, figures,
// chart, epochs and members; the sparkline and the model's bounded history; LiveView prints the lines that came
// while drawing once it stops. (Spectre.Console.Testing is not among the project's packages.)
using DistBackprop.Cluster.Protocol;
using DistBackprop.Host.Output;
using Spectre.Console;
using Spectre.Console.Rendering;
using Xunit.Abstractions;

namespace DistBackprop.Host.Tests.Output;

public sealed class LiveViewTests(ITestOutputHelper output)
{
    private static (IAnsiConsole Console, StringWriter Text) Console(bool interactive = false)
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text),
            Ansi = interactive ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
        });
        console.Profile.Width = 120;
        return (console, text);
    }

    private static string Draw(IRenderable r)
    {
        var (console, text) = Console();
        console.Write(r);
        return text.ToString();
    }

    private static LiveModel Model()
    {
        var m = new LiveModel();
        m.Start(RunInfo.From("distbackprop train", totalSteps: 500, stepsPerEpoch: 125, configEpochs: 4, "400,128,10 relu softmax-ce", 64));
        for (var s = 1; s <= 150; s++)
        {
            m.Step(new StepSample(s, (s - 1) / 125, 2.4 * Math.Exp(-s / 50.0), Math.Min(1, s / 150.0), 64, 2, 2));
        }

        m.Epoch(new EpochSample(0, 125, 1.2869, 0.672, 0.6489, 0.872, 2000));
        m.Members([new WorkerStatus("w1", "akka.tcp://distbackprop@127.0.0.1:5001", "ready", 75, 6.25, 0.1, 0), new WorkerStatus("w2", "akka.tcp://distbackprop@127.0.0.1:5002", "unreachable", 70, 7.5, 4.2, 3)]);
        m.Log("info: worker w2 is unreachable; 1 worker(s) live");
        return m;
    }

    [Fact]
    public void A_frame_shows_bars_figures_chart_epochs_members_and_log()
    {
        var frame = Draw(LiveRenderer.Render(Model().Snapshot()));
        output.WriteLine(frame);
        foreach (var expected in new[]
                 {
                     "distbackprop train", "400,128,10 relu softmax-ce · batch 64",
                     "epoch 2/4", " 20%  25/125 steps", "step 150/500", " 30%  elapsed", "ETA ",
                     "loss 0.1195", "smoothed ", "acc 1.000", "workers 2",
                     "loss, steps 1–150", "█", "▁",
                     "epochs", "1/4", "1.2869", "0.672", "0.6489", "0.8720",
                     "workers", "w1", "akka.tcp://distbackprop@127.0.0.1:5001", "ready", "6.2 ms", "0.1 s ago",
                     "w2", "unreachable", "7.5 ms", "4.2 s ago",
                     "info: worker w2 is unreachable; 1 worker(s) live",
                 })
        {
            Assert.Contains(expected, frame, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_frame_shows_the_steps_learning_rate_and_gradient_norm_and_the_validation_columns()
    {
        var m = new LiveModel();
        m.Start(RunInfo.From("distbackprop train", totalSteps: 500, stepsPerEpoch: 125, configEpochs: 4));
        m.Step(new StepSample(250, 1, 0.5, 0.9, 64, 2, 2, LearningRate: 0.0123456f, GradNorm: 1.23456));
        m.Epoch(new EpochSample(0, 125, 1.2869, 0.672, 0.6489, 0.872, 2000, 0.7012, 0.851, 800, BestValEpoch: 0));
        m.Epoch(new EpochSample(1, 250, 0.9, 0.8, 0.6, 0.88, 2000, 0.7315, 0.86, 800, BestValEpoch: 0));
        var frame = Draw(LiveRenderer.Render(m.Snapshot()));
        output.WriteLine(frame);
        foreach (var expected in new[] { "lr 0.01235", "grad norm 1.235", "val loss", "val acc", "0.7012 ★", "0.7315", "0.8510" })
        {
            Assert.Contains(expected, frame, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("0.7315 ★", frame, StringComparison.Ordinal);
        Assert.DoesNotContain("val loss", Draw(LiveRenderer.Render(Model().Snapshot())), StringComparison.Ordinal); // no --val-split, no columns
    }

    [Fact]
    public void Before_the_first_step_the_frame_says_it_waits_and_an_unbounded_run_has_no_step_bar()
    {
        var m = new LiveModel();
        m.Start(RunInfo.From("distbackprop monitor", totalSteps: 0, stepsPerEpoch: 10, configEpochs: 0));
        var frame = Draw(LiveRenderer.Render(m.Snapshot()));
        output.WriteLine(frame);
        Assert.Contains("waiting for the first step", frame, StringComparison.Ordinal);
        Assert.Contains("(no step limit)", frame, StringComparison.Ordinal);
        Assert.DoesNotContain("workers", frame, StringComparison.Ordinal);
    }

    [Fact]
    public void Sparkline_scales_from_the_lowest_to_the_highest_block_and_averages_into_columns()
    {
        Assert.Equal("▁▂▃▄▅▆▇█", LiveRenderer.Sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8));
        Assert.Equal("█▁", LiveRenderer.Sparkline([4, 4, 0, 0], 2));
        Assert.Equal("▁▁▁", LiveRenderer.Sparkline([1, 1, 1], 10));
        Assert.Equal(string.Empty, LiveRenderer.Sparkline([], 10));
        Assert.Equal("[green]██[/][grey]░░░░░░░░[/]", LiveRenderer.Bar(0.2, 10));
        Assert.Equal("1:02:03", LiveRenderer.Duration(new TimeSpan(1, 2, 3)));
        Assert.Equal("2:03", LiveRenderer.Duration(new TimeSpan(0, 2, 3)));
    }

    [Fact]
    public void The_loss_history_stays_bounded_and_keeps_the_mean()
    {
        var m = new LiveModel();
        m.Start(RunInfo.From("t", 0, 100, 0));
        const int steps = 10_000;
        for (var s = 1; s <= steps; s++)
        {
            m.Step(new StepSample(s, 0, s % 2 == 0 ? 1.0 : 3.0, 0.5, 1, 1, 1));
        }

        var snap = m.Snapshot();
        output.WriteLine($"{snap.LossHistory.Length} points of {snap.HistoryStepsPerPoint} steps");
        Assert.InRange(snap.LossHistory.Length, LiveModel.HistoryPoints / 2, LiveModel.HistoryPoints);
        Assert.All(snap.LossHistory, v => Assert.Equal(2.0, v, 12));
        Assert.InRange(snap.SmoothedLoss, 1.9, 2.1);
    }

    [Fact]
    public void The_live_view_draws_and_prints_the_lines_that_came_while_drawing_after_it_stops()
    {
        var (console, text) = Console(interactive: true);
        var view = new LiveView(console);
        view.Line("before");
        view.Start(RunInfo.From("distbackprop train", 3, 3, 1));
        view.Step(new StepSample(1, 0, 2.0, 0.25, 64, 2, 2));
        view.Line("info: worker w1 ready; 1 worker(s) live");
        view.Step(new StepSample(3, 0, 1.0, 0.5, 64, 2, 2));
        view.Epoch(new EpochSample(0, 3, 1.5, 0.375, 1.25, 0.625, 100));
        view.Finish();
        view.Line("after");
        view.Dispose();
        // the live display redraws with ANSI cursor moves: drop the escape sequences, keep the text
        var all = System.Text.RegularExpressions.Regex.Replace(text.ToString(), @"\x1b\[[0-9;?]*[A-Za-z]", string.Empty);
        output.WriteLine(all);
        Assert.StartsWith("before", all, StringComparison.Ordinal);
        Assert.Contains("step 3/3", all, StringComparison.Ordinal);
        Assert.Contains("0.6250", all, StringComparison.Ordinal);
        var tail = all[all.LastIndexOf("finished", StringComparison.Ordinal)..];
        Assert.Contains("info: worker w1 ready; 1 worker(s) live", tail, StringComparison.Ordinal);
        Assert.EndsWith("after" + Environment.NewLine, all, StringComparison.Ordinal);
    }
}
