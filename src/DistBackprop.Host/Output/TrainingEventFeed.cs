// Turns the coordinator's events (ITrainingEvent, as a monitor receives them over the cluster) into view
// calls, so `monitor` shows what `coordinator` shows: ClusterStatus → run shape (once) and members table;
// StepReport → step; EpochEvaluated → epoch line; notices, pauses, checkpoints, the end → lines.
// Leaves out: the cluster side (Cluster/Monitoring), the drawing (the views).
using System.Globalization;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Host.Output;

public sealed class TrainingEventFeed(IRunView view, string title)
{
    private RunInfo? _info;

    public void On(ITrainingEvent e)
    {
        var c = CultureInfo.InvariantCulture;
        switch (e)
        {
            case ClusterStatus s:
                var info = RunInfo.From(title, s.TotalSteps, s.StepsPerEpoch, s.Epochs, s.Model, s.BatchSize);
                if (info != _info)
                {
                    _info = info;
                    view.Start(info);
                }

                view.Members(s.Members);
                break;
            case StepReport r:
                view.Step(new StepSample(r.Step, r.Epoch, r.Loss, r.Accuracy, r.Samples, r.SamplesPerSecond > 0 ? r.Samples * 1000.0 / r.SamplesPerSecond : 0, r.Workers,
                    r.LearningRate, r.GradNorm));
                break;
            case EpochEvaluated ep:
                view.Epoch(EpochSample.From(ep));
                break;
            case TrainingNotice n:
                view.Line($"{n.Level}: {n.Message}");
                break;
            case TrainingPaused p:
                view.Line($"warning: {p.Reason}");
                break;
            case TrainingResumed r:
                view.Line(string.Create(c, $"info: step {r.Step} resumed with {r.Workers} worker(s) after {r.PausedSeconds:F1} s"));
                break;
            case CheckpointWritten w:
                view.Line(string.Create(c, $"checkpoint {w.Path} after step {w.Step} ({w.Milliseconds:F0} ms)"));
                break;
            case TrainingCompleted done:
                var sum = done.Summary;
                view.Finish();
                view.Line(string.Create(c,
                    $"training {(sum.Stopped ? "stopped" : "completed")}: {sum.Steps} steps in {sum.ElapsedSeconds:F1} s, last loss {sum.LastLoss:F4}  acc {sum.LastAccuracy:F3} (reassigned {sum.ReassignedShards}, stale {sum.StaleReplies}, duplicates {sum.DuplicateReplies}, foreign {sum.ForeignReplies}, refused {sum.RefusedReplies})"));
                break;
            case TrainingFailed f:
                view.Finish();
                view.Line($"training failed (exit code {f.ExitCode}): {f.Reason}");
                break;
        }
    }
}
