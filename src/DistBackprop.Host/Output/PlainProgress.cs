// Plain progress lines for `train`: one line about every second (and on the first and last step),
// one line per epoch with the test figures. CI logs and `docker logs` stay readable.
// Leaves out: the live Spectre view (a later issue; it will sit beside this behind the same calls).
using System.Diagnostics;
using System.Globalization;
using DistBackprop.Core.Training;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Output;

public sealed class PlainProgress
{
    private readonly TextWriter _out;
    private readonly TimeSpan _interval;
    private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
    private readonly Stopwatch _run = Stopwatch.StartNew();
    private double _epochLoss;
    private long _epochCorrectish;
    private long _epochSamples;
    private double _windowMs;
    private long _windowSamples;

    public PlainProgress(TextWriter output, TimeSpan? interval = null)
    {
        _out = output;
        _interval = interval ?? TimeSpan.FromSeconds(1);
    }

    public TimeSpan Elapsed => _run.Elapsed;

    public void Line(string text) => _out.WriteLine(text);

    public void Step(TrainingState state, StepOutcome o, StepTimings t)
    {
        _epochLoss += o.Loss * o.Samples;
        _epochCorrectish += (long)Math.Round(o.Accuracy * o.Samples);
        _epochSamples += o.Samples;
        _windowMs += t.StepMs;
        _windowSamples += o.Samples;
        if (o.Step == 1 || _sinceLine.Elapsed >= _interval || state.IsFinished)
        {
            var rate = _windowMs > 0 ? _windowSamples / (_windowMs / 1000) : 0;
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {o.Step}/{Total(state)}  epoch {o.Epoch + 1}{EpochsText(state)}  loss {o.Loss:F4}  acc {o.Accuracy:F3}  {rate:F0} samples/s"));
            _sinceLine.Restart();
            _windowMs = 0;
            _windowSamples = 0;
        }
    }

    /// <summary>The epoch summary; <paramref name="test"/> is null when there is no test set.</summary>
    public void Epoch(TrainingState state, int epoch, EvaluationResult? test)
    {
        var n = Math.Max(1, _epochSamples);
        var line = string.Create(CultureInfo.InvariantCulture,
            $"epoch {epoch + 1}{EpochsText(state)} done  train loss {_epochLoss / n:F4}  acc {(double)_epochCorrectish / n:F3}");
        if (test is not null)
        {
            line += string.Create(CultureInfo.InvariantCulture, $"  test loss {test.Loss:F4}  acc {test.Accuracy:F4} ({test.Samples} samples)");
        }

        _out.WriteLine(line + string.Create(CultureInfo.InvariantCulture, $"  {_run.Elapsed.TotalSeconds:F1} s"));
        _epochLoss = 0;
        _epochCorrectish = 0;
        _epochSamples = 0;
    }

    private static string Total(TrainingState s) => s.TotalSteps == long.MaxValue ? "?" : s.TotalSteps.ToString(CultureInfo.InvariantCulture);

    private static string EpochsText(TrainingState s)
    {
        if (s.Config.Epochs is not int e)
        {
            return string.Empty;
        }

        // with --max-steps the run may end before the last epoch
        var byStepsEpochs = s.Config.MaxSteps is long m ? (int)Math.Min(e, (m + s.StepsPerEpoch - 1) / s.StepsPerEpoch) : e;
        return "/" + byStepsEpochs.ToString(CultureInfo.InvariantCulture);
    }
}
