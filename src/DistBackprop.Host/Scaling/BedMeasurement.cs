// One row of deploy/netns-bench.sh's CSV (a run on the multi-host bed) and the reader of that file: columns by name,
// so added columns do not break it; the last column (the coordinator's extra options) may be quoted. A malformed file
// is a UsageException naming the file, the line and the column.
// Leaves out: measuring (the script) and what the rows are used for (ScalingFit).
using System.Globalization;

namespace DistBackprop.Host.Scaling;

/// <summary>One bed run: the configuration and the measured figures per step.</summary>
/// <param name="FanIn">--fan-in K given to the coordinator, or null (the star).</param>
/// <param name="RateBytesPerSecond">Every link's tbf rate in bytes/s; 0 = unlimited.</param>
/// <param name="RxBytesPerStep">The coordinator's interface, received, over the measured window.</param>
/// <param name="StepMs">Wall-clock time per step over the window.</param>
public sealed record BedMeasurement(
    string Model,
    long Parameters,
    int Workers,
    int? FanIn,
    int Shards,
    int Batch,
    double RateBytesPerSecond,
    int Cores,
    int WindowSteps,
    double RxBytesPerStep,
    double TxBytesPerStep,
    double StepMs,
    double MetricsStepMs,
    double SamplesPerSecond,
    int MinWorkers)
{
    /// <summary>"tls" (the secure default; also every row of a file from before the column) or "insecure" (`--security insecure`).</summary>
    public string Security { get; init; } = "tls";

    /// <summary>CPU time (user + system) per step of the coordinator's process over the window; null in files from before the column.</summary>
    public double? CoordinatorCpuMsPerStep { get; init; }

    /// <summary>CPU time per step of one worker's process (the mean over the workers) over the window; null when not measured.</summary>
    public double? WorkerCpuMsPerStep { get; init; }

    /// <summary>The topology's name: "star" or "fan-in K" (K ≥ N is the star too).</summary>
    public string Topology => FanIn is { } k && k < Workers ? $"fan-in {k.ToString(CultureInfo.InvariantCulture)}" : "star";

    /// <summary>
    /// The step time the fit and the tables use: the median of the window's steps (the --metrics rows) when there is one,
    /// else the wall clock over the window. The median, because the bed shares its 2 cores with whatever else runs: a
    /// burst of another process's load stretches a few steps and moves the mean, hardly the median.
    /// </summary>
    public double FitStepMs => MetricsStepMs > 0 ? MetricsStepMs : StepMs;

    /// <summary>K for the model: the given fan-in, or N (the star).</summary>
    public int EffectiveFanIn => FanIn is { } k && k < Workers ? k : Math.Max(2, Workers);

    /// <summary>Reads every row of <paramref name="path"/> (UsageException when it is missing or malformed).</summary>
    public static IReadOnlyList<BedMeasurement> Read(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--measurements: cannot read '{path}': {e.Message}");
        }

        if (lines.Length == 0)
        {
            throw new UsageException($"--measurements '{path}': the file is empty (expected deploy/netns-bench.sh's CSV)");
        }

        var columns = Split(lines[0]).Select((name, i) => (name, i)).ToDictionary(x => x.name, x => x.i, StringComparer.Ordinal);
        string[] needed = ["model", "params", "workers", "fan_in", "shards", "batch", "rate_bytes_per_s", "cores", "window_steps",
            "rx_bytes_per_step", "tx_bytes_per_step", "step_ms", "metrics_step_ms", "samples_per_s", "min_workers"];
        if (needed.FirstOrDefault(n => !columns.ContainsKey(n)) is { } missing)
        {
            throw new UsageException($"--measurements '{path}': no '{missing}' column in the header (expected deploy/netns-bench.sh's CSV)");
        }

        var rows = new List<BedMeasurement>();
        for (var i = 1; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
            {
                continue;
            }

            var cells = Split(lines[i]);
            var line = i + 1;
            string Cell(string name) => columns[name] < cells.Count
                ? cells[columns[name]]
                : throw new UsageException($"--measurements '{path}' line {line}: no value for '{name}'");
            double Number(string name) => double.TryParse(Cell(name), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) && v >= 0
                ? v
                : throw new UsageException($"--measurements '{path}' line {line}: '{name}' is '{Cell(name)}', not a number ≥ 0");
            string? Present(string name) => columns.TryGetValue(name, out var c) && c < cells.Count && cells[c].Length > 0 ? cells[c] : null; // a later column
            double? Optional(string name) => Present(name) is null ? null : Number(name);
            int Whole(string name) => int.TryParse(Cell(name), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= 0
                ? v
                : throw new UsageException($"--measurements '{path}' line {line}: '{name}' is '{Cell(name)}', not a whole number ≥ 0");
            var fanIn = Cell("fan_in").Length == 0 ? (int?)null : Whole("fan_in");
            var row = new BedMeasurement(Cell("model"), (long)Number("params"), Whole("workers"), fanIn, Whole("shards"), Whole("batch"),
                Number("rate_bytes_per_s"), Whole("cores"), Whole("window_steps"), Number("rx_bytes_per_step"), Number("tx_bytes_per_step"),
                Number("step_ms"), Number("metrics_step_ms"), Number("samples_per_s"), Whole("min_workers"))
            {
                Security = Present("security") ?? "tls",
                CoordinatorCpuMsPerStep = Optional("coordinator_cpu_ms_per_step"),
                WorkerCpuMsPerStep = Optional("worker_cpu_ms_per_step"),
            };
            if (row.Security is not ("tls" or "insecure"))
            {
                throw new UsageException($"--measurements '{path}' line {line}: 'security' is '{row.Security}', not tls or insecure");
            }

            if (row.Workers < 1 || row.Parameters < 1 || row.Batch < 1 || row.Shards < 1 || row.WindowSteps < 1 || row.StepMs <= 0 || fanIn is < 2)
            {
                throw new UsageException($"--measurements '{path}' line {line}: workers, params, batch, shards, window_steps and step_ms must be positive, fan_in ≥ 2 when given");
            }

            rows.Add(row);
        }

        if (rows.Count == 0)
        {
            throw new UsageException($"--measurements '{path}': no rows after the header");
        }

        return rows;
    }

    // comma-separated; a cell may be double-quoted (commas inside, "" for a quote)
    private static List<string> Split(string line)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    cell.Append('"');
                    i++;
                }
                else if (ch == '"')
                {
                    quoted = false;
                }
                else
                {
                    cell.Append(ch);
                }
            }
            else if (ch == '"')
            {
                quoted = true;
            }
            else if (ch == ',')
            {
                cells.Add(cell.ToString());
                cell.Clear();
            }
            else
            {
                cell.Append(ch);
            }
        }

        cells.Add(cell.ToString().TrimEnd('\r'));
        return cells;
    }
}
