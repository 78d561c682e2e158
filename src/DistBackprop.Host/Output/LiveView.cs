// The live console view: a Spectre.Console Live display redrawn in place 4 times a second by its own
// thread from the latest LiveModel snapshot. The training thread only updates the model (a short lock),
// never waits for the console. Lines that arrive while drawing go to the view's log area and are printed
// plainly, in order, once the display stops (so nothing is lost when the frame is gone).
// Leaves out: the frame's layout (LiveRenderer), the choice live vs plain (ViewFactory).
using DistBackprop.Cluster.Protocol;
using Spectre.Console;

namespace DistBackprop.Host.Output;

public sealed class LiveView : IRunView
{
    /// <summary>Time between redraws (4 per second).</summary>
    public static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(250);

    private const int KeptLines = 50;

    private readonly IAnsiConsole _console;
    private readonly LiveModel _model = new();
    private readonly List<string> _pending = new();
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _drawing;
    private bool _finished;

    public LiveView(IAnsiConsole console) => _console = console ?? throw new ArgumentNullException(nameof(console));

    public TimeSpan Elapsed => _model.Snapshot().Elapsed;

    /// <summary>The figures being drawn (tests read them).</summary>
    public LiveModel Model => _model;

    public void Line(string text)
    {
        lock (_gate)
        {
            if (_drawing is null || _finished)
            {
                _console.WriteLine(text, Style.Plain);
                return;
            }

            if (!Keep(text))
            {
                return;
            }
        }

        _model.Log(text);
    }

    /// <summary>Shows <paramref name="text"/> in the log area (printed again after the display stops) when drawing; false otherwise.</summary>
    public bool TryLog(string text)
    {
        lock (_gate)
        {
            if (_drawing is null || _finished)
            {
                return false;
            }

            if (!Keep(text))
            {
                return true;
            }
        }

        _model.Log(text);
        return true;
    }

    /// <summary>Keeps a line for printing after the display stops; false for a repeat of a kept line (the same notice
    /// can arrive both as an engine event and through the engine's logger).</summary>
    private bool Keep(string text)
    {
        if (_pending.Contains(text))
        {
            return false;
        }

        if (_pending.Count < KeptLines)
        {
            _pending.Add(text);
        }

        return true;
    }

    public void Start(RunInfo info)
    {
        _model.Start(info);
        lock (_gate)
        {
            if (_drawing is not null || _finished)
            {
                return;
            }

            _drawing = Task.Factory.StartNew(Draw, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    public void Step(in StepSample step) => _model.Step(step);

    public void Epoch(EpochSample epoch) => _model.Epoch(epoch);

    public void Members(IReadOnlyList<WorkerStatus> members) => _model.Members(members);

    public void Finish()
    {
        Task? drawing;
        lock (_gate)
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            drawing = _drawing;
        }

        _model.Finish();
        _stop.Cancel();
        drawing?.Wait();
        lock (_gate)
        {
            foreach (var line in _pending)
            {
                _console.WriteLine(line, Style.Plain);
            }

            _pending.Clear();
        }
    }

    public void Dispose()
    {
        Finish();
        _stop.Dispose();
    }

    private void Draw()
    {
        _console.Live(LiveRenderer.Render(_model.Snapshot()))
            .AutoClear(false)
            .Overflow(VerticalOverflow.Ellipsis)
            .Cropping(VerticalOverflowCropping.Bottom)
            .Start(ctx =>
            {
                // at least once after a stop that came before the first frame: the last frame shows the final figures
                do
                {
                    _stop.Token.WaitHandle.WaitOne(RedrawInterval);
                    ctx.UpdateTarget(LiveRenderer.Render(_model.Snapshot()));
                    ctx.Refresh();
                }
                while (!_stop.IsCancellationRequested);
            });
    }
}
