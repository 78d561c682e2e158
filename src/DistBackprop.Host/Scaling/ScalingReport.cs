// What `distbackprop scaling fit` prints and saves: Markdown tables (the machine figures, the fitted constants, every
// bed run measured vs modelled, the projection to 256 workers on 1 and 10 Gbit/s links, star vs fan-in 2 and 4) and a
// JSON file of the constants and figures that `scaling predict --constants` reads back. Invariant culture throughout.
// Leaves out: the computation (ScalingFit, ScalingProjection) and the figure (ScalingFigure).
using System.Globalization;
using System.Text;
using System.Text.Json;
using DistBackprop.Core.Interchange;

namespace DistBackprop.Host.Scaling;

/// <summary>Everything a report shows: the fit, the machine figures and the projections' settings.</summary>
public sealed record ScalingStudy(
    ScalingFitResult Fit,
    MachineFigures Figures,
    IReadOnlyList<ProjectedWorkload> Workloads,
    IReadOnlyList<double> LinkBitsPerSecond,
    IReadOnlyList<int?> Topologies,
    double LatencySeconds)
{
    public ProjectedPoint Point(ProjectedWorkload w, int workers, int? fanIn, double link) =>
        ScalingProjection.Point(w, workers, fanIn, link, LatencySeconds, Figures.AddSecondsPerFloat, Fit.Constants);

    public static string TopologyName(int? fanIn) => fanIn is { } k ? $"fan-in {k.ToString(CultureInfo.InvariantCulture)}" : "star";

    public static string LinkName(double bits) => bits >= 1e9 ? $"{(bits / 1e9).ToString("0.##", CultureInfo.InvariantCulture)} Gbit/s" : $"{(bits / 1e6).ToString("0.##", CultureInfo.InvariantCulture)} Mbit/s";
}

public static class ScalingReport
{
    public static string Markdown(ScalingStudy s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var c = s.Fit.Constants;
        var b = new StringBuilder();
        void Line(FormattableString text) => b.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');

        Line($"## Inputs (measured, not fitted)");
        Line($"");
        Line($"| input | value |");
        Line($"| --- | --- |");
        foreach (var (name, seconds) in s.Figures.RowSeconds.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Line($"| compute per row, {name} (1 / bench samples/s, 1 thread) | {seconds * 1e6:0.00} µs |");
        }

        Line($"| one float add of the reduction (TensorPrimitives.Add) | {s.Figures.AddSecondsPerFloat * 1e9:0.000} ns |");
        Line($"| one-way latency: bed / projection | {s.Figures.BedLatencySeconds * 1e6:0} µs / {s.LatencySeconds * 1e6:0} µs |");
        Line($"");
        Line($"## Fitted constants");
        Line($"");
        Line($"| constant | value |");
        Line($"| --- | --- |");
        Line($"| a, fixed per step | {c.FixedSeconds * 1e3:0.000} ms |");
        Line($"| u, per parameter and step (coordinator) | {c.SecondsPerParameter * 1e9:0.000} ns |");
        Line($"| e, per worker and step | {c.SecondsPerWorker * 1e3:0.000} ms |");
        Line($"| b, link passes per tensor byte and child | {c.LinkPasses:0.000} |");
        Line($"| c, copies' link time per step whatever N | {c.CopiesOnPath:0.000} |");
        Line($"| h, counter bytes per tensor byte | {c.WireOverhead:0.0000} |");
        Line($"| m, control bytes per child, step and direction | {c.ControlBytesPerWorker:0} B |");
        Line($"| r, per relay level | {c.SecondsPerLevel * 1e3:0.000} ms |");
        Line($"| k, coordinator time per tensor byte, whatever the rate | {c.CpuSecondsPerByte * 1e9:0.000} ns |");
        Line($"| g, per byte relayed between workers on the critical path | {c.RelaySecondsPerByte * 1e9:0.000} ns |");
        if (s.Fit.NotFitted.Count > 0)
        {
            Line($"");
            Line($"Not constrained by these measurements (0): {string.Join(", ", s.Fit.NotFitted)}.");
        }

        Line($"");
        Line($"## The bed: measured vs model");
        Line($"");
        Line($"| model | N | topology | link | step measured: median (mean) | step model | error | coordinator rx+tx measured | model | error | 2·N·4P |");
        Line($"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in s.Fit.Rows.OrderBy(r => r.Measured.Model, StringComparer.Ordinal).ThenBy(r => r.Measured.Topology, StringComparer.Ordinal).ThenBy(r => r.Measured.Workers))
        {
            var m = r.Measured;
            var link = m.RateBytesPerSecond > 0 ? ScalingStudy.LinkName(m.RateBytesPerSecond * 8) : "unlimited";
            Line($"| {m.Model} | {m.Workers} | {m.Topology} | {link} | {m.FitStepMs:0.0} ms ({m.StepMs:0.0}) | {r.Model.StepSeconds * 1e3:0.0} ms | {Signed(r.TimeError)} | {(m.RxBytesPerStep + m.TxBytesPerStep) / 1e6:0.00} MB | {r.Model.CoordinatorBytes / 1e6:0.00} MB | {Signed(r.BytesError)} | {8.0 * m.Workers * m.Parameters / 1e6:0.00} MB |");
        }

        Line($"");
        Line($"Largest error: step time {s.Fit.MaxTimeError * 100:0.0} %, coordinator bytes {s.Fit.MaxBytesError * 100:0.0} % ({s.Fit.Rows.Count} runs).");
        foreach (var w in s.Workloads)
        {
            Line($"");
            Line($"## Projection: {w.Name} ({w.Parameters} parameters, {w.BatchPerWorker} rows per worker, S = N), samples/s (compute share of the step)");
            Line($"");
            b.Append("| N |");
            foreach (var link in s.LinkBitsPerSecond)
            {
                foreach (var k in s.Topologies)
                {
                    b.Append(CultureInfo.InvariantCulture, $" {ScalingStudy.TopologyName(k)}, {ScalingStudy.LinkName(link)} |");
                }
            }

            b.Append('\n').Append("| ---").Append(string.Concat(Enumerable.Repeat(" | ---", s.LinkBitsPerSecond.Count * s.Topologies.Count))).Append(" |\n");
            foreach (var n in ScalingProjection.TableWorkers)
            {
                b.Append(CultureInfo.InvariantCulture, $"| {n} |");
                foreach (var link in s.LinkBitsPerSecond)
                {
                    foreach (var k in s.Topologies)
                    {
                        var p = s.Point(w, n, k, link);
                        b.Append(CultureInfo.InvariantCulture, $" {p.SamplesPerSecond:N0} ({p.Efficiency * 100:0} %) |");
                    }
                }

                b.Append('\n');
            }
        }

        Line($"");
        Line($"## At 256 workers");
        Line($"");
        Line($"| model | link | topology | step | samples/s | compute share | coordinator rx+tx per step |");
        Line($"| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var w in s.Workloads)
        {
            foreach (var link in s.LinkBitsPerSecond)
            {
                foreach (var k in s.Topologies)
                {
                    var p = s.Point(w, 256, k, link);
                    Line($"| {w.Name} | {ScalingStudy.LinkName(link)} | {ScalingStudy.TopologyName(k)} | {p.Step.StepSeconds * 1e3:0.0} ms | {p.SamplesPerSecond:N0} | {p.Efficiency * 100:0.0} % | {p.Step.CoordinatorBytes / 1e6:0.0} MB |");
                }
            }
        }

        return b.ToString();
    }

    /// <summary>A relative error as "+4.2 %", "-0.7 %" or "0.0 %".</summary>
    public static string Signed(double fraction)
    {
        var pct = Math.Round(fraction * 100, 1);
        return pct == 0 ? "0.0 %" : pct.ToString("+0.0;-0.0", CultureInfo.InvariantCulture) + " %";
    }

    /// <summary>The constants and machine figures as JSON (what `scaling predict --constants` reads), written atomically.</summary>
    public static void WriteJson(string path, ScalingStudy s)
    {
        ArgumentNullException.ThrowIfNull(s);
        AtomicFile.Write(path, stream =>
        {
            using var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            var c = s.Fit.Constants;
            j.WriteStartObject();
            j.WriteStartObject("constants");
            j.WriteNumber("fixed_s", c.FixedSeconds);
            j.WriteNumber("per_parameter_s", c.SecondsPerParameter);
            j.WriteNumber("per_worker_s", c.SecondsPerWorker);
            j.WriteNumber("link_passes", c.LinkPasses);
            j.WriteNumber("copies_on_path", c.CopiesOnPath);
            j.WriteNumber("wire_overhead", c.WireOverhead);
            j.WriteNumber("control_bytes_per_worker", c.ControlBytesPerWorker);
            j.WriteNumber("per_level_s", c.SecondsPerLevel);
            j.WriteNumber("cpu_s_per_byte", c.CpuSecondsPerByte);
            j.WriteNumber("relay_s_per_byte", c.RelaySecondsPerByte);
            j.WriteEndObject();
            j.WriteStartArray("not_fitted");
            foreach (var n in s.Fit.NotFitted)
            {
                j.WriteStringValue(n);
            }

            j.WriteEndArray();
            j.WriteStartObject("row_s");
            foreach (var (name, seconds) in s.Figures.RowSeconds)
            {
                j.WriteNumber(name, seconds);
            }

            j.WriteEndObject();
            j.WriteNumber("add_s_per_float", s.Figures.AddSecondsPerFloat);
            j.WriteNumber("max_time_error", s.Fit.MaxTimeError);
            j.WriteNumber("max_bytes_error", s.Fit.MaxBytesError);
            j.WriteEndObject();
        });
    }

    /// <summary>Reads the constants and machine figures of <see cref="WriteJson"/>; UsageException naming <paramref name="option"/>.</summary>
    public static (ScalingConstants Constants, MachineFigures Figures) ReadJson(string path, string option = "--constants")
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var c = doc.RootElement.GetProperty("constants");
            double N(string name) => c.GetProperty(name).GetDouble();
            var constants = new ScalingConstants(N("fixed_s"), N("per_parameter_s"), N("per_worker_s"), N("link_passes"), N("copies_on_path"), N("wire_overhead"),
                N("control_bytes_per_worker"), N("per_level_s"), N("cpu_s_per_byte"),
                c.TryGetProperty("relay_s_per_byte", out var g) ? g.GetDouble() : 0);
            var rows = doc.RootElement.GetProperty("row_s").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble(), StringComparer.OrdinalIgnoreCase);
            return (constants, new MachineFigures(rows, doc.RootElement.GetProperty("add_s_per_float").GetDouble(), 0));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: cannot read '{path}': {e.Message}");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new UsageException($"{option} '{path}': not a file written by distbackprop scaling fit --json ({e.Message})");
        }
    }
}
