// `distbackprop scaling fit` and `scaling predict` (docs/scaling.md). fit: the bed's CSV rows (deploy/netns-bench.sh)
// and the machine figures (compute per row from `bench --threads 1 --json`, the add time, measured here unless given)
// → the fitted constants, every run measured vs modelled, the projection to 256 workers as Markdown on standard
// output, optionally --markdown, --json (the constants for predict) and --plot. predict: one configuration's step
// time, its terms and the coordinator's bytes from a --json file of fit. Bad input → exit 2 naming the option.
// Leaves out: the model, the fit and the figure (Scaling/).
using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using DistBackprop.Core.Interchange;
using DistBackprop.Host.Bench;
using DistBackprop.Host.Plotting;
using DistBackprop.Host.Scaling;

namespace DistBackprop.Host.Commands;

public static partial class ScalingFitCommand
{
    public static Command Fit(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var measurements = new Option<string[]>("--measurements") { Description = "deploy/netns-bench.sh's CSV; repeat for several files", AllowMultipleArgumentsPerToken = true };
        var bench = new Option<string>("--bench") { Description = "the output of distbackprop bench --workload mnist,wide --threads 1 --json (compute per row)" };
        var rowUs = new Option<string>("--row-us") { Description = "compute per row instead of --bench, µs: mnist=10.4,wide=95" };
        var addNs = new Option<double?>("--add-ns") { Description = "one float add of the reduction in ns [default: timed here]" };
        var latency = new Option<double>("--latency-us") { Description = "one-way latency per hop of the projected links, µs", DefaultValueFactory = _ => 50 };
        var links = new Option<string>("--links") { Description = "projected link rates", DefaultValueFactory = _ => "1gbit,10gbit" };
        var fanIns = new Option<string>("--fan-in") { Description = "projected tree fan-ins besides the star", DefaultValueFactory = _ => "2,4" };
        var plot = new Option<string>("--plot") { Description = "the figure: file.png or file.svg" };
        var json = new Option<string>("--json") { Description = "the constants and machine figures, for scaling predict --constants" };
        var markdown = new Option<string>("--markdown") { Description = "also write the report (Markdown) to this file" };
        var command = new Command("fit", "Fit the scaling model to bed measurements and project it to 256 workers. Example: distbackprop scaling fit --measurements star.csv --bench bench.json --plot docs/scaling.png")
        {
            measurements, bench, rowUs, addNs, latency, links, fanIns, plot, json, markdown,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var files = parseResult.GetValue(measurements) ?? [];
            if (files.Length == 0)
            {
                throw new UsageException("--measurements is required: the CSV of deploy/netns-bench.sh");
            }

            if (parseResult.GetValue(plot) is { Length: > 0 } picture && PlotRenderer.FormatOf(picture) is null)
            {
                throw new UsageException($"--plot: '{picture}' must end in .png or .svg");
            }

            // the model is of the secure default: rows measured with --security insecure (the TLS cost study) are left out
            var rows = files.SelectMany(f => BedMeasurement.Read(PlotCommand.Resolve(context, f))).Where(r => r.Security == "tls").ToList();
            if (rows.Count == 0)
            {
                throw new UsageException("--measurements: no row of the secure default (security tls); insecure rows are not fitted");
            }

            var figures = Figures(context, parseResult.GetValue(bench), parseResult.GetValue(rowUs), parseResult.GetValue(addNs));
            var latencyUs = parseResult.GetValue(latency);
            if (!(latencyUs >= 0) || !double.IsFinite(latencyUs))
            {
                throw new UsageException($"--latency-us: {latencyUs.ToString(CultureInfo.InvariantCulture)} must be finite and ≥ 0");
            }

            var linkRates = (parseResult.GetValue(links) ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(l => Rate(l, "--links") ?? throw new UsageException("--links: 'none' cannot be projected; give rates such as 1gbit,10gbit")).ToList();
            var topologies = new List<int?> { null };
            foreach (var k in (parseResult.GetValue(fanIns) ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                topologies.Add(int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= 2 ? v : throw new UsageException($"--fan-in: '{k}' is not a whole number ≥ 2"));
            }

            var workloads = rows.Select(r => r.Model).Distinct(StringComparer.OrdinalIgnoreCase)
                .Select(BenchWorkload.Find).OfType<BenchWorkload>()
                .Select(w => new ProjectedWorkload(w.Name, w.Spec.Layout.Count, w.Batch, figures.RowSecondsOf(w.Name))).ToList();
            ScalingFitResult fit;
            try
            {
                fit = ScalingFit.Fit(rows, figures);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"--measurements: {e.Message}");
            }

            var study = new ScalingStudy(fit, figures, workloads, linkRates, topologies, latencyUs * 1e-6);
            var report = ScalingReport.Markdown(study);
            context.Out.Write(report);
            if (parseResult.GetValue(markdown) is { Length: > 0 } md)
            {
                Write(() => AtomicFile.WriteAllBytes(PlotCommand.Resolve(context, md), System.Text.Encoding.UTF8.GetBytes(report)), "--markdown", md);
            }

            if (parseResult.GetValue(json) is { Length: > 0 } j)
            {
                Write(() => ScalingReport.WriteJson(PlotCommand.Resolve(context, j), study), "--json", j);
            }

            if (parseResult.GetValue(plot) is { Length: > 0 } p)
            {
                ScalingFigure.Write(study, PlotCommand.Resolve(context, p));
                context.Err.WriteLine($"wrote {p}");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    public static Command Predict(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var constants = new Option<string>("--constants") { Description = "the --json file of scaling fit" };
        var workload = new Option<string>("--workload") { Description = "mnist | wide | seed (P, batch and compute per row from it)", DefaultValueFactory = _ => "mnist" };
        var parameters = new Option<long?>("--params") { Description = "P instead of the workload's" };
        var workers = new Option<int>("--workers") { Description = "N", DefaultValueFactory = _ => 8 };
        var fanIn = new Option<int?>("--fan-in") { Description = "K [default: the star]" };
        var batch = new Option<int?>("--batch") { Description = "global batch B [default: the workload's batch × N]" };
        var shards = new Option<int?>("--shards") { Description = "S [default: N]" };
        var rate = new Option<string>("--rate") { Description = "each link's rate, e.g. 200mbit, 1gbit, 10gbit", DefaultValueFactory = _ => "1gbit" };
        var bed = new Option<bool>("--bed-link") { Description = "--rate is a bed (tc tbf) rate, counted as the bed's interface counters do, not Ethernet framing" };
        var latency = new Option<double>("--latency-us") { Description = "one-way latency per hop, µs", DefaultValueFactory = _ => 50 };
        var cores = new Option<double?>("--cores") { Description = "cores the workers share [default: one host each]" };
        var rowUs = new Option<double?>("--row-us") { Description = "compute per row, µs [default: the fit's figure for the workload]" };
        var command = new Command("predict", "The model's step time and coordinator bytes for one configuration. Example: distbackprop scaling predict --constants fit.json --workload wide --workers 256 --fan-in 4 --rate 10gbit")
        {
            constants, workload, parameters, workers, fanIn, batch, shards, rate, bed, latency, cores, rowUs,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var path = parseResult.GetValue(constants);
            if (string.IsNullOrWhiteSpace(path))
            {
                throw new UsageException("--constants is required: the --json file written by distbackprop scaling fit");
            }

            var (c, figures) = ScalingReport.ReadJson(PlotCommand.Resolve(context, path));
            var name = parseResult.GetValue(workload) ?? "mnist";
            var w = BenchWorkload.Find(name) ?? throw new UsageException($"--workload: '{name}' is not one of {string.Join(", ", BenchWorkload.All.Select(x => x.Name))}");
            var n = parseResult.GetValue(workers);
            var k = parseResult.GetValue(fanIn) ?? Math.Max(2, n);
            var linkBits = Rate(parseResult.GetValue(rate) ?? "1gbit", "--rate");
            var bytesPerSecond = linkBits is null ? double.PositiveInfinity : parseResult.GetValue(bed) ? linkBits.Value / 8 : linkBits.Value / 8 * ScalingProjection.EthernetPayload;
            var rowSeconds = parseResult.GetValue(rowUs) is { } us ? us * 1e-6 : figures.RowSecondsOf(w.Name);
            var x = new ScalingInputs(parseResult.GetValue(parameters) ?? w.Spec.Layout.Count, n, k, parseResult.GetValue(batch) ?? (w.Batch * Math.Max(1, n)),
                parseResult.GetValue(shards) ?? Math.Max(1, n), rowSeconds, bytesPerSecond, parseResult.GetValue(latency) * 1e-6,
                parseResult.GetValue(cores) ?? double.PositiveInfinity, figures.AddSecondsPerFloat);
            try
            {
                x.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"{Option(e.ParamName)}: {e.Message.Split(" (Parameter", 2)[0]}");
            }

            var p = ScalingModel.Predict(x, c);
            var o = context.Out;
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{w.Name} P={x.Parameters} N={x.Workers} {(x.IsStar ? "star" : $"fan-in {x.FanIn} (depth {x.Depth})")} B={x.Batch} S={x.Shards}: step {p.StepSeconds * 1e3:0.000} ms, {x.Batch / p.StepSeconds:N0} samples/s, coordinator rx+tx {p.CoordinatorBytes / 1e6:0.000} MB per step"));
            foreach (var (term, v) in (IEnumerable<(string, double)>)[("fixed", p.Fixed), ("update", p.Update), ("per worker", p.PerWorker), ("compute", p.Compute),
                ("transfer", p.Transfer), ("latency", p.Latency), ("reduction", p.Reduction), ("relay", p.Relay)])
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {term,-10} {v * 1e3,10:0.000} ms"));
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>"200mbit", "1gbit", "10gbit", "500kbit" → bit/s; "none" → null; UsageException naming <paramref name="option"/>.</summary>
    internal static double? Rate(string text, string option)
    {
        if (string.Equals(text.Trim(), "none", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var m = RatePattern().Match(text.Trim());
        return m.Success && double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v)
            ? v * m.Groups[2].Value.ToLowerInvariant() switch { "kbit" => 1e3, "mbit" => 1e6, _ => 1e9 }
            : throw new UsageException($"{option}: '{text}' is not a rate such as 200mbit, 1gbit or 10gbit");
    }

    private static MachineFigures Figures(CliContext context, string? bench, string? rowUs, double? addNs)
    {
        var rows = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        if (!string.IsNullOrWhiteSpace(bench))
        {
            foreach (var (k, v) in MachineFigures.FromBenchJson(PlotCommand.Resolve(context, bench)))
            {
                rows[k] = v;
            }
        }

        if (!string.IsNullOrWhiteSpace(rowUs))
        {
            foreach (var (k, v) in MachineFigures.ParseRowMicroseconds(rowUs))
            {
                rows[k] = v;
            }
        }

        if (rows.Count == 0)
        {
            throw new UsageException("--bench or --row-us is required: the compute time per row (distbackprop bench --workload mnist,wide --threads 1 --json > bench.json)");
        }

        if (addNs is { } ns && !(ns >= 0 && double.IsFinite(ns)))
        {
            throw new UsageException($"--add-ns: {ns.ToString(CultureInfo.InvariantCulture)} must be finite and ≥ 0");
        }

        return new MachineFigures(rows, addNs is { } a ? a * 1e-9 : MachineFigures.MeasureAddSecondsPerFloat(), 0);
    }

    private static void Write(Action write, string option, string path)
    {
        try
        {
            write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: cannot write '{path}': {e.Message}");
        }
    }

    private static string Option(string? parameter) => parameter switch
    {
        nameof(ScalingInputs.Parameters) => "--params",
        nameof(ScalingInputs.Workers) => "--workers",
        nameof(ScalingInputs.FanIn) => "--fan-in",
        nameof(ScalingInputs.Batch) => "--batch",
        nameof(ScalingInputs.Shards) => "--shards",
        nameof(ScalingInputs.RowSeconds) => "--row-us",
        nameof(ScalingInputs.LatencySeconds) => "--latency-us",
        nameof(ScalingInputs.Cores) => "--cores",
        _ => "--constants",
    };

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)(kbit|mbit|gbit)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex RatePattern();
}
