// The measured machine figures the scaling model takes as inputs, not as fitted constants: compute time per row of
// each workload (1 / the samples/s of `distbackprop bench --threads 1`, read from its --json output or given), the
// time of one float addition of the reduction (timed here on TensorPrimitives.Add, the kernel the reduction tree uses),
// and the bed's one-way latency (veth: ~0). Leaves out: the bench itself (Bench/), the fitted constants (ScalingFit).
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;

namespace DistBackprop.Host.Scaling;

/// <param name="RowSeconds">Workload name → forward + backward seconds per row on one core.</param>
public sealed record MachineFigures(IReadOnlyDictionary<string, double> RowSeconds, double AddSecondsPerFloat, double BedLatencySeconds)
{
    public double RowSecondsOf(string workload) => RowSeconds.TryGetValue(workload, out var s)
        ? s
        : throw new UsageException($"no compute time per row for the workload '{workload}': pass --bench (distbackprop bench --threads 1 --json output) or --row-us {workload}=MICROSECONDS");

    /// <summary>
    /// Seconds per row from `distbackprop bench --json` output: the local-mode, one-thread, one-worker result of each
    /// workload (1 / samples_per_s). UsageException naming <paramref name="option"/> when there is none.
    /// </summary>
    public static Dictionary<string, double> FromBenchJson(string path, string option = "--bench")
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: cannot read '{path}': {e.Message}");
        }

        var found = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        try
        {
            using var doc = JsonDocument.Parse(text);
            foreach (var r in doc.RootElement.GetProperty("results").EnumerateArray())
            {
                if (r.GetProperty("mode").GetString() == "local" && r.GetProperty("threads").GetInt32() == 1 && r.GetProperty("workers").GetInt32() == 1
                    && r.GetProperty("samples_per_s").GetDouble() is > 0 and var sps)
                {
                    found[r.GetProperty("workload").GetString() ?? string.Empty] = 1 / sps;
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new UsageException($"{option} '{path}': not the output of distbackprop bench --json ({e.Message})");
        }

        return found.Count > 0
            ? found
            : throw new UsageException($"{option} '{path}': no local-mode result with 1 thread and 1 worker (run: distbackprop bench --workload mnist,wide --threads 1 --json)");
    }

    /// <summary>"mnist=10.4,wide=95" (µs per row) → seconds per row; UsageException naming --row-us.</summary>
    public static Dictionary<string, double> ParseRowMicroseconds(string text)
    {
        var found = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (kv.Length != 2 || kv[0].Length == 0 || !double.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var us) || !double.IsFinite(us) || us < 0)
            {
                throw new UsageException($"--row-us: '{part}' is not WORKLOAD=MICROSECONDS (e.g. mnist=10.4,wide=95)");
            }

            found[kv[0]] = us * 1e-6;
        }

        return found;
    }

    /// <summary>Seconds per float of dst = a + b over 2^20 floats (TensorPrimitives.Add), the median of 15 rounds after a warm-up.</summary>
    public static double MeasureAddSecondsPerFloat()
    {
        const int n = 1 << 20;
        var a = new float[n];
        var b = new float[n];
        var dst = new float[n];
        for (var i = 0; i < n; i++)
        {
            a[i] = i;
            b[i] = 1f / (i + 1);
        }

        var rounds = new double[15];
        TensorPrimitives.Add(a, b, dst);
        for (var r = 0; r < rounds.Length; r++)
        {
            var start = Stopwatch.GetTimestamp();
            TensorPrimitives.Add(a, b, dst);
            rounds[r] = Stopwatch.GetElapsedTime(start).TotalSeconds / n;
        }

        Array.Sort(rounds);
        return rounds[rounds.Length / 2];
    }
}
