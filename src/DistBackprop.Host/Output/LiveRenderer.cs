// Draws one frame of the live view from a LiveSnapshot with Spectre.Console renderables:
//   title line; epoch and step bars (percent, elapsed, ETA); loss (current and smoothed), accuracy, samples/s, the step's
//   learning rate and gradient norm; a loss sparkline over the whole run (block characters); the last epochs' train/
//   validation/test figures (the best validation epoch marked ★); the members
//   table (worker, address, state, shards, mean shard time, last reply, failures); the last log lines.
// Pure: the same snapshot gives the same frame (tests render it into a StringWriter).
// Leaves out: when to draw (LiveView), gathering the figures (LiveModel).
using System.Globalization;
using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace DistBackprop.Host.Output;

public static class LiveRenderer
{
    private const int BarWidth = 40;
    private const int ChartWidth = 60;
    private const int EpochRows = 5;
    private static readonly char[] Blocks = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static IRenderable Render(LiveSnapshot s)
    {
        var rows = new List<IRenderable>
        {
            new Markup($"[bold]{Markup.Escape(s.Info.Title)}[/]{Detail(s)}"),
            Bars(s),
            new Markup(Figures(s)),
        };

        if (s.LossHistory.Length > 1)
        {
            var (min, max) = (s.LossHistory.Min(), s.LossHistory.Max());
            var header = string.Create(C, $"loss, steps {s.FirstStep}–{s.Last?.Step ?? 0} ({max:F3} … {min:F3})");
            rows.Add(new Panel(new Markup($"[yellow]{Sparkline(s.LossHistory, ChartWidth).PadRight(ChartWidth)}[/]")) { Header = new PanelHeader(header), Border = BoxBorder.Rounded });
        }

        if (s.Epochs.Count > 0)
        {
            rows.Add(EpochTable(s));
        }

        if (s.Members.Count > 0)
        {
            rows.Add(MembersTable(s));
        }

        // once finished the log lines are printed below the last frame (LiveView.Finish): not twice
        foreach (var line in s.Finished ? [] : s.Log)
        {
            rows.Add(new LogLine(line));
        }

        return new Rows(rows);
    }

    /// <summary>Block characters ▁…█ from min (▁) to max (█), <paramref name="width"/> columns at most (points averaged into columns).</summary>
    public static string Sparkline(IReadOnlyList<double> values, int width)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (values.Count == 0)
        {
            return string.Empty;
        }

        var columns = Math.Min(width, values.Count);
        var points = new double[columns];
        for (var c = 0; c < columns; c++)
        {
            // column c averages values [c·n/columns, (c+1)·n/columns)
            int from = c * values.Count / columns, to = Math.Max(from + 1, (c + 1) * values.Count / columns);
            double sum = 0;
            for (var i = from; i < to; i++)
            {
                sum += values[i];
            }

            points[c] = sum / (to - from);
        }

        var (min, max) = (points.Min(), points.Max());
        var sb = new StringBuilder(columns);
        foreach (var p in points)
        {
            var level = max > min ? (int)Math.Round((p - min) / (max - min) * (Blocks.Length - 1)) : 0;
            sb.Append(Blocks[Math.Clamp(level, 0, Blocks.Length - 1)]);
        }

        return sb.ToString();
    }

    /// <summary>A bar of <paramref name="width"/> cells, <paramref name="fraction"/> of them filled (markup).</summary>
    public static string Bar(double fraction, int width)
    {
        var filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * width);
        return $"[green]{new string('█', filled)}[/][grey]{new string('░', width - filled)}[/]";
    }

    /// <summary>"1:02:03" or "2:03".</summary>
    public static string Duration(TimeSpan t) => t.TotalHours >= 1
        ? string.Create(C, $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}")
        : string.Create(C, $"{t.Minutes}:{t.Seconds:D2}");

    private static string Detail(LiveSnapshot s)
    {
        var parts = new List<string>();
        if (s.Info.Model is { } model)
        {
            parts.Add(model);
        }

        if (s.Info.BatchSize > 0)
        {
            parts.Add(string.Create(C, $"batch {s.Info.BatchSize}"));
        }

        if (s.Finished)
        {
            parts.Add("finished");
        }

        return parts.Count == 0 ? string.Empty : $"  [grey]{Markup.Escape(string.Join(" · ", parts))}[/]";
    }

    private static Grid Bars(LiveSnapshot s)
    {
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn(new GridColumn().NoWrap()).AddColumn(new GridColumn().NoWrap());
        var step = s.Last?.Step ?? 0;
        var epoch = s.Last?.Epoch ?? 0;
        var info = s.Info;

        // epoch bar: the share of the current epoch's steps done
        var inEpoch = info.StepsPerEpoch > 0 ? step - ((long)epoch * info.StepsPerEpoch) : 0;
        var epochFraction = info.StepsPerEpoch > 0 ? (double)inEpoch / info.StepsPerEpoch : 0;
        grid.AddRow(
            new Markup(string.Create(C, $"epoch {epoch + 1}{info.EpochsText}")),
            new Markup(Bar(epochFraction, BarWidth)),
            new Markup(string.Create(C, $"{epochFraction * 100,3:F0}%  {inEpoch}/{info.StepsPerEpoch} steps")));

        var eta = s.Eta is { } e ? $"ETA {Duration(e)}" : "ETA ?";
        if (info.TotalSteps > 0)
        {
            var fraction = (double)step / info.TotalSteps;
            grid.AddRow(
                new Markup(string.Create(C, $"step {step}/{info.TotalSteps}")),
                new Markup(Bar(fraction, BarWidth)),
                new Markup(string.Create(C, $"{fraction * 100,3:F0}%  elapsed {Duration(s.Elapsed)}  {eta}")));
        }
        else
        {
            grid.AddRow(new Markup(string.Create(C, $"step {step}")), new Markup("[grey](no step limit)[/]"), new Markup($"elapsed {Duration(s.Elapsed)}"));
        }

        return grid;
    }

    private static string Figures(LiveSnapshot s)
    {
        if (s.Last is not { } last)
        {
            return "[grey]waiting for the first step…[/]";
        }

        var text = string.Create(C,
            $"loss [bold]{last.Loss:F4}[/]  smoothed [bold]{s.SmoothedLoss:F4}[/]  acc [bold]{last.Accuracy:F3}[/]  [bold]{s.SamplesPerSecond:N0}[/] samples/s  workers {last.Workers}");
        if (!double.IsNaN(last.LearningRate))
        {
            text += string.Create(C, $"  lr {(float)last.LearningRate:G4}");
        }

        if (!double.IsNaN(last.GradNorm))
        {
            text += string.Create(C, $"  grad norm {last.GradNorm:G4}");
        }

        return text;
    }

    private static Table EpochTable(LiveSnapshot s)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("epochs");
        var validation = s.Epochs.Any(e => e.HasValidation);
        t.AddColumn("epoch").AddColumn(new TableColumn("step").RightAligned()).AddColumn(new TableColumn("train loss").RightAligned())
            .AddColumn(new TableColumn("train acc").RightAligned());
        if (validation)
        {
            t.AddColumn(new TableColumn("val loss").RightAligned()).AddColumn(new TableColumn("val acc").RightAligned());
        }

        t.AddColumn(new TableColumn("test loss").RightAligned()).AddColumn(new TableColumn("test acc").RightAligned());
        var best = s.Epochs.Count > 0 ? s.Epochs[^1].BestValEpoch : -1;
        foreach (var e in s.Epochs.Skip(Math.Max(0, s.Epochs.Count - EpochRows)))
        {
            var cells = new List<string>
            {
                string.Create(C, $"{e.Epoch + 1}{s.Info.EpochsText}"),
                e.Step.ToString(C),
                e.TrainLoss.ToString("F4", C),
                e.TrainAccuracy.ToString("F3", C),
            };
            if (validation)
            {
                cells.Add(e.HasValidation ? e.ValLoss.ToString("F4", C) + (e.Epoch == best ? " ★" : string.Empty) : "–");
                cells.Add(e.HasValidation ? e.ValAccuracy.ToString("F4", C) : "–");
            }

            cells.Add(e.HasTest ? e.TestLoss.ToString("F4", C) : "–");
            cells.Add(e.HasTest ? $"[bold]{e.TestAccuracy.ToString("F4", C)}[/]" : "–");
            t.AddRow(cells.ToArray());
        }

        return t;
    }

    /// <summary>One log line, cropped to the frame's width with an ellipsis (never wrapped: the frame keeps its height).</summary>
    private sealed class LogLine(string text) : Renderable
    {
        private readonly string _text = text.ReplaceLineEndings(" ");

        protected override Measurement Measure(RenderOptions options, int maxWidth) => new(Math.Min(_text.Length, maxWidth), Math.Min(_text.Length, maxWidth));

        protected override IEnumerable<Segment> Render(RenderOptions options, int maxWidth)
        {
            yield return new Segment(_text.Length <= maxWidth ? _text : string.Concat(_text.AsSpan(0, Math.Max(0, maxWidth - 1)), "…"), new Style(Color.Grey));
            yield return Segment.LineBreak;
        }
    }

    private static Table MembersTable(LiveSnapshot s)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("workers");
        t.AddColumn("worker").AddColumn("address").AddColumn("state").AddColumn(new TableColumn("shards").RightAligned())
            .AddColumn(new TableColumn("mean shard").RightAligned()).AddColumn(new TableColumn("last reply").RightAligned()).AddColumn(new TableColumn("failures").RightAligned());
        foreach (var m in s.Members)
        {
            var state = m.State switch
            {
                "ready" => "[green]ready[/]",
                "unreachable" => "[red]unreachable[/]",
                "dead" => "[red]dead[/]",
                "left" => "[grey]left[/]",
                _ => $"[yellow]{Markup.Escape(m.State)}[/]",
            };
            t.AddRow(
                Markup.Escape(m.WorkerId),
                Markup.Escape(m.Address),
                state,
                m.Shards.ToString(C),
                m.Shards > 0 ? string.Create(C, $"{m.MeanShardMs:F1} ms") : "–",
                m.SecondsSinceReply >= 0 ? string.Create(C, $"{m.SecondsSinceReply:F1} s ago") : "–",
                m.Failures > 0 ? $"[red]{m.Failures.ToString(C)}[/]" : "0");
        }

        return t;
    }
}
