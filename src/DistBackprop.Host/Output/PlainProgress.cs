// Plain progress lines (not a terminal, or --plain): one line about every second (and on the first and the
// last step), one line per epoch with the validation and test figures. CI logs and `docker logs` stay readable. Formats:
//   step 40/125  epoch 1/1  loss 0.7592  acc 0.828  50272 samples/s
//   epoch 1/1 done  train loss 1.2869  acc 0.672  val loss 0.6702  acc 0.8625 (800 samples, best)  test loss 0.6489  acc 0.8720 (2000 samples)  2.0 s
// ("?" for an unbounded step count, no "/N" for unbounded epochs, no val/test part without a validation/test set;
// "best" marks the epoch with the lowest validation loss so far.)
// The members table is not printed: workers joining and leaving come as notice lines.
// Leaves out: the live view (LiveView), the choice between them (ViewFactory).
using System.Diagnostics;
using System.Globalization;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Host.Output;

public sealed class PlainProgress : IRunView
{
    private readonly TextWriter _out;
    private readonly TimeSpan _interval;
    private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
    private readonly Stopwatch _run = Stopwatch.StartNew();
    private RunInfo _info = new("run", 0, 0, 0);
    private long _lines;
    private double _windowMs;
    private long _windowSamples;

    public PlainProgress(TextWriter output, TimeSpan? interval = null)
    {
        _out = output;
        _interval = interval ?? TimeSpan.FromSeconds(1);
    }

    public TimeSpan Elapsed => _run.Elapsed;

    public void Line(string text) => _out.WriteLine(text);

    public void Start(RunInfo info) => _info = info;

    public void Step(in StepSample s)
    {
        _windowMs += s.StepMs;
        _windowSamples += s.Samples;
        var last = _info.TotalSteps > 0 && s.Step >= _info.TotalSteps;
        if (_lines == 0 || s.Step == 1 || _sinceLine.Elapsed >= _interval || last)
        {
            _out.WriteLine(StepLine(_info, s, _windowMs > 0 ? _windowSamples / (_windowMs / 1000) : 0));
            _lines++;
            _sinceLine.Restart();
            _windowMs = 0;
            _windowSamples = 0;
        }
    }

    public void Epoch(EpochSample e) => _out.WriteLine(EpochLine(_info, e, _run.Elapsed));

    public void Members(IReadOnlyList<WorkerStatus> members)
    {
    }

    public void Finish()
    {
    }

    public void Dispose()
    {
    }

    /// <summary>"step 40/125  epoch 1/1  loss 0.7592  acc 0.828  50272 samples/s".</summary>
    public static string StepLine(RunInfo info, in StepSample s, double samplesPerSecond) => string.Create(CultureInfo.InvariantCulture,
        $"step {s.Step}/{info.TotalText}  epoch {s.Epoch + 1}{info.EpochsText}  loss {s.Loss:F4}  acc {s.Accuracy:F3}  {samplesPerSecond:F0} samples/s");

    /// <summary>"epoch 1/1 done  train loss 1.2869  acc 0.672  test loss 0.6489  acc 0.8720 (2000 samples)  2.0 s".</summary>
    public static string EpochLine(RunInfo info, EpochSample e, TimeSpan elapsed)
    {
        var c = CultureInfo.InvariantCulture;
        var line = string.Create(c, $"epoch {e.Epoch + 1}{info.EpochsText} done  train loss {e.TrainLoss:F4}  acc {e.TrainAccuracy:F3}");
        if (e.HasValidation)
        {
            line += string.Create(c, $"  val loss {e.ValLoss:F4}  acc {e.ValAccuracy:F4} ({e.ValSamples} samples{(e.BestValEpoch == e.Epoch ? ", best" : string.Empty)})");
        }

        if (e.HasTest)
        {
            line += string.Create(c, $"  test loss {e.TestLoss:F4}  acc {e.TestAccuracy:F4} ({e.TestSamples} samples)");
        }

        return line + string.Create(c, $"  {elapsed.TotalSeconds:F1} s");
    }
}
