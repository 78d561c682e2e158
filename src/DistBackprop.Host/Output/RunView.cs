// What a console view of a training run is told, whoever drives it: `train` and `coordinator` (TrainRun, from
// the engine's steps and events) and `monitor` (TrainingEventFeed, from the coordinator's events over the
// cluster). Two implementations: PlainProgress (log lines) and LiveView (Spectre, redrawn in place); ViewFactory
// picks one. Leaves out: the drawing itself.
using System.Globalization;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Host.Output;

/// <summary>The run's shape for progress bars and step lines. <paramref name="TotalSteps"/> 0 = unbounded; <paramref name="Epochs"/>: epochs the
/// run will reach (already cut by --max-steps), 0 = unbounded.</summary>
public sealed record RunInfo(string Title, long TotalSteps, long StepsPerEpoch, int Epochs, string? Model = null, int BatchSize = 0)
{
    /// <summary>From the coordinator's figures: <paramref name="configEpochs"/> 0 = unbounded, <paramref name="totalSteps"/> 0 = unbounded.</summary>
    public static RunInfo From(string title, long totalSteps, long stepsPerEpoch, int configEpochs, string? model = null, int batchSize = 0)
    {
        // with --max-steps the run may end before the last epoch
        var epochs = configEpochs > 0 && totalSteps > 0 && stepsPerEpoch > 0
            ? (int)Math.Min(configEpochs, (totalSteps + stepsPerEpoch - 1) / stepsPerEpoch)
            : configEpochs;
        return new RunInfo(title, totalSteps, stepsPerEpoch, epochs, model, batchSize);
    }

    /// <summary>"125" or "?" (unbounded).</summary>
    public string TotalText => TotalSteps > 0 ? TotalSteps.ToString(CultureInfo.InvariantCulture) : "?";

    /// <summary>"/10", or empty when epochs are unbounded.</summary>
    public string EpochsText => Epochs > 0 ? "/" + Epochs.ToString(CultureInfo.InvariantCulture) : string.Empty;
}

/// <summary>One completed step. <paramref name="Epoch"/> 0-based, <paramref name="StepMs"/> its wall time; <paramref name="LearningRate"/> the
/// rate its update used and <paramref name="GradNorm"/> ‖ḡ‖₂ before clipping (NaN: not known).</summary>
public readonly record struct StepSample(long Step, int Epoch, double Loss, double Accuracy, int Samples, double StepMs, int Workers,
    double LearningRate = double.NaN, double GradNorm = double.NaN);

/// <summary>An epoch's end (0-based): mean train figures over its steps; test figures when <paramref name="TestSamples"/> &gt; 0; validation
/// figures when <paramref name="ValSamples"/> &gt; 0, with <paramref name="BestValEpoch"/> the epoch of the lowest validation loss so far.</summary>
public sealed record EpochSample(int Epoch, long Step, double TrainLoss, double TrainAccuracy, double TestLoss = double.NaN, double TestAccuracy = double.NaN, int TestSamples = 0,
    double ValLoss = double.NaN, double ValAccuracy = double.NaN, int ValSamples = 0, int BestValEpoch = -1)
{
    public bool HasTest => TestSamples > 0;

    public bool HasValidation => ValSamples > 0;

    public EpochEvaluated ToEvent() => new(Epoch, Step, TrainLoss, TrainAccuracy, TestLoss, TestAccuracy, TestSamples, ValLoss, ValAccuracy, ValSamples, BestValEpoch);

    public static EpochSample From(EpochEvaluated e) =>
        new(e.Epoch, e.Step, e.TrainLoss, e.TrainAccuracy, e.TestLoss, e.TestAccuracy, e.TestSamples, e.ValLoss, e.ValAccuracy, e.ValSamples, e.BestValEpoch);
}

/// <summary>A console view of one run. Calls come from the training (or monitor) thread; a view never blocks it for long.</summary>
public interface IRunView : IDisposable
{
    /// <summary>Since the view was made.</summary>
    TimeSpan Elapsed { get; }

    /// <summary>A line of text: printed as is (plain), or shown in the view's log area while it is drawing.</summary>
    void Line(string text);

    /// <summary>The run is about to start (again, for a monitor: a newer shape replaces the old).</summary>
    void Start(RunInfo info);

    void Step(in StepSample step);

    void Epoch(EpochSample epoch);

    /// <summary>The coordinator's workers (the members table).</summary>
    void Members(IReadOnlyList<WorkerStatus> members);

    /// <summary>Stops drawing (the last frame stays); later lines are printed plainly.</summary>
    void Finish();
}

/// <summary>Sums the steps of the current epoch into its mean train loss and accuracy.</summary>
public sealed class EpochAccumulator
{
    private double _loss;
    private double _correct;
    private long _samples;

    public void Add(double loss, double accuracy, int samples)
    {
        _loss += loss * samples;
        _correct += Math.Round(accuracy * samples);
        _samples += samples;
    }

    /// <summary>The epoch's figures, and a fresh start for the next.</summary>
    public (double Loss, double Accuracy) Take()
    {
        var n = Math.Max(1, _samples);
        var r = (_loss / n, _correct / n);
        (_loss, _correct, _samples) = (0, 0, 0);
        return r;
    }
}
