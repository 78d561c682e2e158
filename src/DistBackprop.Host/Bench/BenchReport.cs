// The output of `bench`: --json → exactly one single-line JSON object on standard output
// {"results":[{"workload","mode","threads","workers","batch","samples_per_s","gflops"}…]} (SPEC §6);
// otherwise a table with the same columns plus the split of the cores and of the step time — a
// Spectre.Console table on a terminal, plain aligned text with --plain or when redirected.
// Leaves out: measuring (LocalBench, ClusterBench).
using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace DistBackprop.Host.Bench;

public static class BenchReport
{
    public static string Json(IReadOnlyList<BenchResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            j.WriteStartObject();
            j.WriteStartArray("results");
            foreach (var r in results)
            {
                j.WriteStartObject();
                j.WriteString("workload", r.Case.Workload.Name);
                j.WriteString("mode", ModeName(r.Case.Mode));
                j.WriteNumber("threads", r.Case.Split.Threads);
                j.WriteNumber("workers", r.Case.Split.Workers);
                j.WriteNumber("batch", r.Case.Batch);
                if (r.Case.Dropout > 0)
                {
                    j.WriteNumber("dropout", r.Case.Dropout);
                }

                j.WriteNumber("samples_per_s", Math.Round(r.SamplesPerSecond, 1));
                j.WriteNumber("gflops", Math.Round(r.Gflops, 3));
                j.WriteEndObject();
            }

            j.WriteEndArray();
            j.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The table as Spectre.Console renders it to <paramref name="output"/> (a terminal).</summary>
    public static void WriteTable(IReadOnlyList<BenchResult> results, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        console.Profile.Width = TerminalWidth();
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var (header, right) in Columns)
        {
            var column = new TableColumn(header);
            table.AddColumn(right ? column.RightAligned() : column);
        }

        foreach (var r in results)
        {
            table.AddRow(Cells(r).Select(Markup.Escape).ToArray());
        }

        console.Write(table);
        output.WriteLine(Footnote);
    }

    /// <summary>The same table as plain space-aligned text (CI logs, --plain).</summary>
    public static void WritePlain(IReadOnlyList<BenchResult> results, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(output);
        var rows = new List<string[]> { Columns.Select(c => c.Header).ToArray() };
        rows.AddRange(results.Select(Cells));
        var widths = Enumerable.Range(0, Columns.Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows)
        {
            var line = new StringBuilder();
            for (var i = 0; i < row.Length; i++)
            {
                if (i > 0)
                {
                    line.Append("  ");
                }

                line.Append(Columns[i].Right ? row[i].PadLeft(widths[i]) : row[i].PadRight(widths[i]));
            }

            output.WriteLine(line.ToString().TrimEnd());
        }

        output.WriteLine(Footnote);
    }

    // A TextWriter tells Spectre nothing about the terminal: ask the console, else assume a wide one.
    private static int TerminalWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 160;
        }
        catch (IOException)
        {
            return 160;
        }
    }

    public static string ModeName(BenchMode mode) => mode == BenchMode.Local ? "local" : "cluster";

    private const string Footnote =
        "threads = cores used, split as workers × kernel threads per worker; step time per step in ms, mean over the steady state (warm-up excluded).";

    private static readonly (string Header, bool Right)[] Columns =
    [
        ("workload", false), ("mode", false), ("threads", true), ("workers", true), ("threads/worker", true), ("batch", true),
        ("samples/s", true), ("GFLOP/s", true), ("step ms", true), ("compute", true), ("serialize", true), ("transport", true), ("wait", true),
    ];

    private static string[] Cells(BenchResult r)
    {
        var c = CultureInfo.InvariantCulture;
        return
        [
            r.Case.Workload.Name, ModeName(r.Case.Mode), r.Case.Split.Threads.ToString(c), r.Case.Split.Workers.ToString(c),
            r.Case.Split.ThreadsPerWorker.ToString(c), r.Case.Batch.ToString(c),
            r.SamplesPerSecond.ToString("N0", c), r.Gflops.ToString("F1", c), r.StepMs.ToString("F2", c),
            r.Split.ComputeMs.ToString("F2", c), r.Split.SerializeMs.ToString("F2", c), r.Split.TransportMs.ToString("F2", c), r.Split.WaitMs.ToString("F2", c),
        ];
    }
}
