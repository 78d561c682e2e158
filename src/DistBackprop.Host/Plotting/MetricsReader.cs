// Reads a --metrics file (CSV with a header, or JSON Lines; see MetricsSeries for the columns) into
// a MetricsSeries. Required: step, epoch, loss, accuracy; other columns are ignored. The per-epoch test
// figures come from the sidecar <name>.epochs.csv (epoch,step,test_loss,test_accuracy; Output/EpochsFile)
// when it is there; test_loss/test_accuracy columns in the metrics file itself are still read (files of
// earlier versions), the sidecar wins where both exist. "nan", empty and null read as NaN (not drawn). Format: .csv → CSV,
// .jsonl/.ndjson/.json → JSON Lines, anything else by the first character ('{' → JSON Lines).
// Every problem is a UsageException (exit 2) naming the file and the line.
// Leaves out: writing metrics (Output/MetricsWriter) and drawing.
using System.Globalization;
using System.Text.Json;

namespace DistBackprop.Host.Plotting;

public static class MetricsReader
{
    private static readonly string[] Required = ["step", "epoch", "loss", "accuracy"];

    public static MetricsSeries Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new UsageException($"metrics file '{path}': cannot read it: {e.Message}");
        }

        var json = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".csv" => false,
            ".jsonl" or ".ndjson" or ".json" => true,
            _ => lines.FirstOrDefault(l => l.Trim().Length > 0)?.TrimStart().StartsWith('{') ?? false,
        };
        var rows = json ? ReadJsonLines(path, lines) : ReadCsv(path, lines);
        if (rows.Count == 0)
        {
            throw new UsageException($"metrics file '{path}': has no data rows");
        }

        return new MetricsSeries(Path.GetFileName(path), ReadEpochs(Output.EpochsFile.PathFor(path), rows));
    }

    /// <summary>Puts the sidecar's test figures on the rows of the steps it names (rows of steps it does not name keep theirs).</summary>
    private static List<MetricsRow> ReadEpochs(string path, List<MetricsRow> rows)
    {
        if (!File.Exists(path))
        {
            return rows;
        }

        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"epochs file '{path}': cannot read it: {e.Message}");
        }

        var headerLine = Array.FindIndex(lines, l => l.Trim().Length > 0);
        if (headerLine < 0)
        {
            return rows;
        }

        var header = lines[headerLine].Split(',').Select(h => h.Trim().ToLowerInvariant()).ToArray();
        int step = Array.IndexOf(header, "step"), testLoss = Array.IndexOf(header, "test_loss"), testAccuracy = Array.IndexOf(header, "test_accuracy");
        if (step < 0 || testLoss < 0 || testAccuracy < 0)
        {
            throw new UsageException($"epochs file '{path}', line {headerLine + 1}: expected the header {Output.EpochsFile.Header}");
        }

        var byStep = new Dictionary<long, int>();
        for (var i = 0; i < rows.Count; i++)
        {
            byStep[rows[i].Step] = i;
        }

        for (var i = headerLine + 1; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0)
            {
                continue;
            }

            var f = lines[i].Split(',');
            var where = $"epochs file '{path}', line {i + 1}";
            if (f.Length != header.Length)
            {
                throw new UsageException($"{where}: has {f.Length} fields, the header {header.Length}");
            }

            if (byStep.TryGetValue(Integer(f[step], where, "step"), out var row))
            {
                rows[row] = rows[row] with { TestLoss = Number(f[testLoss], where, "test_loss"), TestAccuracy = Number(f[testAccuracy], where, "test_accuracy") };
            }
        }

        return rows;
    }

    private static List<MetricsRow> ReadCsv(string path, string[] lines)
    {
        var rows = new List<MetricsRow>();
        var headerLine = Array.FindIndex(lines, l => l.Trim().Length > 0);
        if (headerLine < 0)
        {
            throw new UsageException($"metrics file '{path}': is empty (expected the header {Output.MetricsWriter.CsvHeader})");
        }

        var header = lines[headerLine].Split(',').Select(h => h.Trim().ToLowerInvariant()).ToArray();
        var missing = Required.Where(r => !header.Contains(r)).ToList();
        if (missing.Count > 0)
        {
            throw new UsageException(
                $"metrics file '{path}', line {headerLine + 1}: the header lacks {string.Join(", ", missing)} (expected {Output.MetricsWriter.CsvHeader})");
        }

        int Col(string name) => Array.IndexOf(header, name);
        int step = Col("step"), epoch = Col("epoch"), loss = Col("loss"), accuracy = Col("accuracy");
        int testLoss = Col("test_loss"), testAccuracy = Col("test_accuracy");
        for (var i = headerLine + 1; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0)
            {
                continue;
            }

            var f = lines[i].Split(',');
            var where = $"metrics file '{path}', line {i + 1}";
            if (f.Length != header.Length)
            {
                throw new UsageException($"{where}: has {f.Length} fields, the header {header.Length}");
            }

            rows.Add(new MetricsRow(
                Integer(f[step], where, "step"),
                (int)Integer(f[epoch], where, "epoch", int.MaxValue),
                Number(f[loss], where, "loss"),
                Number(f[accuracy], where, "accuracy"),
                testLoss >= 0 ? Number(f[testLoss], where, "test_loss") : double.NaN,
                testAccuracy >= 0 ? Number(f[testAccuracy], where, "test_accuracy") : double.NaN));
        }

        return rows;
    }

    private static List<MetricsRow> ReadJsonLines(string path, string[] lines)
    {
        var rows = new List<MetricsRow>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0)
            {
                continue;
            }

            var where = $"metrics file '{path}', line {i + 1}";
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(lines[i]);
            }
            catch (JsonException e)
            {
                throw new UsageException($"{where}: is not JSON: {e.Message}");
            }

            using (doc)
            {
                var o = doc.RootElement;
                if (o.ValueKind != JsonValueKind.Object)
                {
                    throw new UsageException($"{where}: is not a JSON object");
                }

                var missing = Required.Where(r => !o.TryGetProperty(r, out _)).ToList();
                if (missing.Count > 0)
                {
                    throw new UsageException($"{where}: lacks {string.Join(", ", missing)}");
                }

                rows.Add(new MetricsRow(
                    Integer(Text(o, "step"), where, "step"),
                    (int)Integer(Text(o, "epoch"), where, "epoch", int.MaxValue),
                    Number(Text(o, "loss"), where, "loss"),
                    Number(Text(o, "accuracy"), where, "accuracy"),
                    Number(Text(o, "test_loss"), where, "test_loss"),
                    Number(Text(o, "test_accuracy"), where, "test_accuracy")));
            }
        }

        return rows;
    }

    /// <summary>A JSON value as the text a CSV field would hold: numbers and strings as is, null/absent as "".</summary>
    private static string Text(JsonElement o, string key) =>
        !o.TryGetProperty(key, out var v) ? string.Empty : v.ValueKind switch
        {
            JsonValueKind.Null => string.Empty,
            JsonValueKind.String => v.GetString() ?? string.Empty,
            JsonValueKind.Number => v.GetRawText(),
            _ => v.GetRawText(),
        };

    private static long Integer(string s, string where, string column, long max = long.MaxValue)
    {
        if (!long.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) || v < 0 || v > max)
        {
            throw new UsageException($"{where}: {column} '{s.Trim()}' is not a non-negative integer");
        }

        return v;
    }

    private static double Number(string s, string where, string column)
    {
        var t = s.Trim();
        if (t.Length == 0 || t.Equals("nan", StringComparison.OrdinalIgnoreCase) || t == "null")
        {
            return double.NaN;
        }

        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
        {
            throw new UsageException($"{where}: {column} '{t}' is not a number");
        }

        return v;
    }
}
