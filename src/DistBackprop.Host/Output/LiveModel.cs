// What the live view shows, updated by the training (or monitor) thread and read by the drawing thread:
// the latest step, a smoothed loss, a bounded loss history for the chart, epoch results, the members table
// and the last log lines. Every update takes a lock for a few field writes; the drawing thread takes it only
// to copy a Snapshot, so training never waits for the console.
// Leaves out: drawing (LiveRenderer), timing of redraws (LiveView).
using System.Diagnostics;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Host.Output;

/// <summary>One frame's worth of figures (copies: safe to read on any thread).</summary>
public sealed record LiveSnapshot(
    RunInfo Info,
    StepSample? Last,
    long FirstStep,
    double SmoothedLoss,
    double SamplesPerSecond,
    TimeSpan Elapsed,
    TimeSpan? Eta,
    double[] LossHistory,
    long HistoryStepsPerPoint,
    IReadOnlyList<EpochSample> Epochs,
    IReadOnlyList<WorkerStatus> Members,
    IReadOnlyList<string> Log,
    bool Finished);

public sealed class LiveModel
{
    /// <summary>Points the loss history keeps at most (pairs are averaged when it is full, so it covers any run length).</summary>
    public const int HistoryPoints = 240;

    private const double SmoothingAlpha = 0.05;
    private const int LogLines = 4;

    private readonly object _gate = new();
    private readonly Stopwatch _clock;
    private readonly List<double> _history = new(HistoryPoints + 1);
    private readonly List<EpochSample> _epochs = new();
    private readonly Queue<string> _log = new();
    private readonly Queue<(long Ticks, int Samples)> _rate = new();
    private RunInfo _info = new("run", 0, 0, 0);
    private StepSample? _last;
    private long _firstStep;
    private long _firstTicks;
    private double _ema;
    private double _emaWeight;
    private long _perPoint = 1;
    private double _bucketSum;
    private int _bucketCount;
    private IReadOnlyList<WorkerStatus> _members = [];
    private bool _finished;

    public LiveModel(Stopwatch? clock = null) => _clock = clock ?? Stopwatch.StartNew();

    public void Start(RunInfo info)
    {
        lock (_gate)
        {
            _info = info;
        }
    }

    public void Step(in StepSample s)
    {
        var now = _clock.ElapsedTicks;
        lock (_gate)
        {
            if (_last is null)
            {
                _firstStep = s.Step;
                _firstTicks = now;
            }

            _last = s;
            if (double.IsFinite(s.Loss))
            {
                // bias-corrected exponential moving average (as Adam corrects its moments)
                _ema = ((1 - SmoothingAlpha) * _ema) + (SmoothingAlpha * s.Loss);
                _emaWeight = ((1 - SmoothingAlpha) * _emaWeight) + SmoothingAlpha;
            }

            _rate.Enqueue((now, s.Samples));
            while (_rate.Count > 2 && now - _rate.Peek().Ticks > Stopwatch.Frequency * 2)
            {
                _rate.Dequeue();
            }

            AddToHistory(s.Loss);
        }
    }

    public void Epoch(EpochSample e)
    {
        lock (_gate)
        {
            _epochs.Add(e);
        }
    }

    public void Members(IReadOnlyList<WorkerStatus> members)
    {
        lock (_gate)
        {
            _members = members.ToArray();
        }
    }

    public void Log(string line)
    {
        lock (_gate)
        {
            _log.Enqueue(line);
            while (_log.Count > LogLines)
            {
                _log.Dequeue();
            }
        }
    }

    public void Finish()
    {
        lock (_gate)
        {
            _finished = true;
        }
    }

    public LiveSnapshot Snapshot()
    {
        var now = _clock.ElapsedTicks;
        lock (_gate)
        {
            TimeSpan? eta = null;
            if (_last is { } last && _info.TotalSteps > 0 && last.Step > _firstStep)
            {
                var perStep = (double)(now - _firstTicks) / (last.Step - _firstStep);
                eta = TimeSpan.FromSeconds(Math.Max(0, _info.TotalSteps - last.Step) * perStep / Stopwatch.Frequency);
            }

            double rate = 0;
            if (_rate.Count >= 2)
            {
                var span = (double)(_rate.Last().Ticks - _rate.Peek().Ticks) / Stopwatch.Frequency;
                var samples = _rate.Sum(r => (long)r.Samples) - _rate.Peek().Samples;
                rate = span > 0 ? samples / span : 0;
            }

            var history = _bucketCount > 0 ? [.. _history, _bucketSum / _bucketCount] : _history.ToArray();
            return new LiveSnapshot(_info, _last, _firstStep, _emaWeight > 0 ? _ema / _emaWeight : double.NaN, rate, _clock.Elapsed, eta,
                history, _perPoint, _epochs.ToArray(), _members, _log.ToArray(), _finished);
        }
    }

    // Each point is the mean of _perPoint steps; when the list is full, neighbours are averaged and _perPoint doubles.
    private void AddToHistory(double loss)
    {
        if (!double.IsFinite(loss))
        {
            return;
        }

        _bucketSum += loss;
        if (++_bucketCount < _perPoint)
        {
            return;
        }

        _history.Add(_bucketSum / _bucketCount);
        (_bucketSum, _bucketCount) = (0, 0);
        if (_history.Count >= HistoryPoints)
        {
            for (var i = 0; i < _history.Count / 2; i++)
            {
                _history[i] = (_history[2 * i] + _history[(2 * i) + 1]) / 2;
            }

            _history.RemoveRange(_history.Count / 2, _history.Count - (_history.Count / 2));
            _perPoint *= 2;
        }
    }
}
