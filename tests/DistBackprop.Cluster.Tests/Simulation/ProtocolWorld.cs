// One seeded schedule of the FoundationDB-style protocol simulation: the real CoordinatorMachine, driven through
// its event methods by a seeded scheduler that delivers one message per event in a random order (per-sender FIFO),
// moves a simulated clock, and — in the chaos phase — injects faults: crashes, unreachability and healing, broken
// channels, graceful leaves, silent workers, lost weights (declines), stale, duplicate and forged replies, late and
// refused joiners, a stop request. Then a calm phase: no new faults, partitions heal, enough good workers.
// Invariants, checked as the machine acts: no shard summed twice or from a worker it was not dealt to; every step's
// weights equal the reference loop's bit for bit; in the calm phase every step completes within a bounded number of
// events (so a paused run resumes and the start gate opens); a stop always ends in TrainingCompleted with the
// reference's weights. No sleeps, no sockets, no actors. Leaves out: the worker actor itself (WorkerSpecs).
using System.Text;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Tests.Simulation;

internal sealed partial class ProtocolWorld : ICoordinatorOutbox
{
    public const int MaxEvents = 30_000;
    public const int ProgressBound = 1_500; // events without a completed step, in the calm phase
    public const int StopBound = 2_000; // events from a stop request to the end of the run

    public static readonly Dataset Data = TestData.Blobs(96, features: 6, classes: 3, seed: 21);
    private static readonly ModelSpec Spec = new([6, 5, 3], Activation.Relu, LossKind.SoftmaxCrossEntropy);
    private static readonly ModelDescriptor OtherModel = new([6, 4, 3], "relu", "softmax-ce");

    private readonly int _seed;
    private readonly bool _fullTrace;
    private readonly Random _rng;
    private readonly SimulatedTime _time = new();
    private readonly TrainingConfig _config;
    private readonly TrainingState _state;
    private readonly ReferenceTrainer _reference;
    private readonly CoordinatorMachine _machine;
    private readonly Mlp<float> _mlp;
    private readonly bool _channel;
    private readonly int _minWorkers;
    private readonly int _fanIn;
    private readonly int _chaosEvents;
    private readonly int _stopEvent;
    private readonly List<SimWorker> _workers = new();
    private readonly Queue<(string What, Action Deliver)> _cluster = new(); // membership events: reachability, deaths
    // who computed each gradient array, and to whom each shard was dealt last: workers by identity (a worker that
    // registers again gets a new handle from the shell, but it is the same actor, and its replies are its own)
    private readonly Dictionary<float[], (SimWorker? Worker, long Step, int Shard)> _origins = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<(long Step, int Shard), SimWorker> _dealtTo = new();
    private readonly HashSet<(long Step, int Shard)> _poisoned = new(); // shards a NaN was sent for (once each)
    private readonly List<string> _trace = new();
    private int _nextHandle;
    private int _event;
    private int _lastProgress;
    private bool _calm;
    private int _stoppedAt = -1;
    private TrainingCompleted? _result;
    private string? _violation;

    /// <param name="fullTrace">Keep every event for the report (else the last few hundred).</param>
    public ProtocolWorld(int seed, bool fullTrace = false)
    {
        _seed = seed;
        _fullTrace = fullTrace;
        _rng = new Random(seed);
        var shards = _rng.Next(1, 6);
        var kind = (OptimizerKind)_rng.Next(0, 4);
        _config = new TrainingConfig(Spec, new OptimizerSettings(kind, LearningRate: kind == OptimizerKind.Adam ? 0.01f : 0.1f), BatchSize: _rng.Next(Math.Max(4, shards), 17),
            Epochs: null, MaxSteps: _rng.Next(3, 13), Seed: _rng.Next(1, 1000), Shuffle: true, Shards: shards);
        var init = Initializer.Create(Spec, _config.Seed);
        _state = new TrainingState(_config, Data.Count, init.ToArray());
        _reference = new ReferenceTrainer(_config, Data, init.ToArray());
        _mlp = new Mlp<float>(Spec, _config.BatchSize);
        _channel = _rng.Next(2) == 0;
        _minWorkers = _rng.Next(1, 4);
        _fanIn = _rng.Next(3) == 0 ? 0 : _rng.Next(1, 4); // two thirds of the schedules aggregate when enough workers are live
        _chaosEvents = _rng.Next(0, 500);
        _stopEvent = _rng.Next(3) == 0 ? _rng.Next(0, 250) : -1;
        var settings = new CoordinatorSettings
        {
            State = _state,
            Dataset = new DatasetDescriptor("sim", 21, 0, Data.Fingerprint, Data.Count),
            MinWorkers = _minWorkers,
            ShardDeadline = TimeSpan.FromSeconds(1),
            FanIn = _fanIn,
        };
        _machine = new CoordinatorMachine(settings, this, _time, KernelPool.Single, _channel);
    }

    /// <summary>Events the schedule took (for the test's figures).</summary>
    public int Events => _event;

    public long Steps => _result?.Summary.Steps ?? 0;

    /// <summary>Steps completed as an aggregation tree (--fan-in) rather than the star.</summary>
    public long TreeSteps { get; private set; }

    public bool Stopped => _result?.Summary.Stopped ?? false;

    /// <summary>Runs the schedule; null when every invariant held, else the violation with the seed and the event trace.</summary>
    public string? Run()
    {
        Trace($"config: S={_config.Shards} B={_config.BatchSize} steps={_config.MaxSteps} {_config.Optimizer.Kind} minWorkers={_minWorkers} fanIn={_fanIn} channel={_channel} chaos={_chaosEvents} stop@{_stopEvent}");
        _machine.Start();
        for (int i = 0, n = _rng.Next(0, 5); i < n; i++)
        {
            Join(bad: false);
        }

        for (_event = 0; _event < MaxEvents && _violation is null && !_machine.IsOver; _event++)
        {
            if (!_calm && _event >= _chaosEvents)
            {
                EnterCalm();
            }

            try
            {
                if (_event == _stopEvent)
                {
                    Trace("host: stop");
                    _stoppedAt = _event;
                    _machine.Stop();
                }
                else
                {
                    NextEvent();
                }
            }
            catch (Exception e)
            {
                Violate($"an exception escaped: {e}");
                break;
            }

            if (_calm && _stoppedAt < 0 && _event - _lastProgress > ProgressBound)
            {
                Violate($"liveness: no step completed in {ProgressBound} calm events (live {_machine.LiveCount}, min {_minWorkers}, step {_machine.CurrentStep}, round {(_machine.Round is { } r ? $"{r.Filled}/{r.Shards} filled" : "none")})");
            }

            if (_stoppedAt >= 0 && !_machine.IsOver && _event - _stoppedAt > StopBound)
            {
                Violate($"stop: the run is not over {StopBound} events after the stop request");
            }
        }

        if (_violation is null && !_machine.IsOver)
        {
            Violate($"the run is not over after {MaxEvents} events");
        }

        if (_violation is null && _result is null)
        {
            Violate("the run ended without TrainingCompleted");
        }

        if (_violation is null && _stoppedAt < 0 && _result!.Summary.Steps != _config.MaxSteps)
        {
            Violate($"completed after {_result.Summary.Steps} steps, the run has {_config.MaxSteps}");
        }

        return _violation is null ? null : Report();
    }

    /// <summary>One event: a delivery, a clock tick, or (in the chaos phase) a fault.</summary>
    private void NextEvent()
    {
        var choices = new List<(int Weight, Action Act)>();
        if (_cluster.Count > 0)
        {
            choices.Add((3, () => Deliver("cluster", _cluster)));
        }

        foreach (var w in _workers)
        {
            if (w.ToCoordinator.Count > 0 && !w.Unreachable)
            {
                choices.Add((8, () => Deliver($"{w} →", w.ToCoordinator)));
            }

            if (w.ToWorker.Count > 0)
            {
                choices.Add((8, () => DeliverToWorker(w)));
            }
        }

        choices.Add((2, Tick));
        if (!_calm)
        {
            choices.Add((3, Fault));
        }

        var total = choices.Sum(c => c.Weight);
        var pick = _rng.Next(total);
        foreach (var (weight, act) in choices)
        {
            if ((pick -= weight) < 0)
            {
                act();
                return;
            }
        }
    }

    private void Deliver(string from, Queue<(string What, Action Deliver)> queue)
    {
        var (what, deliver) = queue.Dequeue();
        Trace($"{from} {what}");
        deliver();
    }

    private void DeliverToWorker(SimWorker w)
    {
        var (what, deliver) = w.ToWorker.Dequeue();
        if (w.Unreachable && _rng.Next(2) == 0)
        {
            Trace($"→ {w} {what} LOST (unreachable)");
            return;
        }

        Trace($"→ {w} {what}");
        deliver();
    }

    private void Tick()
    {
        _time.Advance(TimeSpan.FromMilliseconds(_rng.Next(0, 400)));
        foreach (var w in _workers.Where(w => w.Good && !w.Registered && !w.Forgotten && _rng.Next(2) == 0))
        {
            SendRegister(w); // a real worker retries its registration every couple of seconds until accepted
        }

        Trace("tick");
        _machine.Tick();
    }

    private void EnterCalm()
    {
        _calm = true;
        _lastProgress = _event;
        Trace("--- calm: no more faults");
        foreach (var w in _workers.Where(w => w.Alive && w.Unreachable))
        {
            Heal(w);
        }

        foreach (var w in _workers.Where(w => w.Good && w.Silent))
        {
            Resume(w);
        }

        var need = (_machine.Round is null && _machine.CurrentStep == 0 ? _minWorkers : 1) - _workers.Count(w => w.Good);
        for (var i = 0; i < need; i++)
        {
            Join(bad: false);
        }
    }

    private void Violate(string what) => _violation ??= $"event {_event}: {what}";

    private void Trace(string line)
    {
        _trace.Add($"{_event,6} {line}");
        if (_trace.Count > 400 && !_fullTrace)
        {
            _trace.RemoveRange(0, 100);
        }
    }

    private string Report()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"schedule seed {_seed} (re-run: DISTBACKPROP_SIM_SEED={_seed}): {_violation}");
        sb.AppendLine("last events:");
        foreach (var line in _trace)
        {
            sb.AppendLine(line);
        }

        return sb.ToString();
    }
}
