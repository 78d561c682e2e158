// The scaling model (Scaling/ScalingModel): the tree's depth, the star's 2·N·4P bytes and the tree's ≤ 2·K·4P at the
// coordinator, each term of the step time; the fit (Scaling/ScalingFit): it recovers the constants that generated
// measurements, stays within a few percent of noisy ones, never returns a negative constant and says which constants
// no row constrains; the bed CSV reader names the file, line and column of a bad cell.
// Leaves out: the command line (ScalingCommandTests) and the bed itself (the end-to-end harness test).
using System.Globalization;
using DistBackprop.Host.Scaling;

namespace DistBackprop.Host.Tests.Scaling;

public sealed class ScalingModelTests : IDisposable
{
    private static readonly ScalingConstants Truth = new(FixedSeconds: 4e-3, SecondsPerParameter: 2e-9, SecondsPerWorker: 1.5e-3, LinkPasses: 1.7,
        CopiesOnPath: 0.4, WireOverhead: 1.005, ControlBytesPerWorker: 600, SecondsPerLevel: 2e-3, CpuSecondsPerByte: 0.5e-9, RelaySecondsPerByte: 1e-9);

    private static readonly MachineFigures Machine = new(new Dictionary<string, double> { ["mnist"] = 10e-6, ["wide"] = 90e-6 }, 0.5e-9, 0);

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    // S = N; the shapes AggregationPlanner builds (docs/aggregation.md): N = 6, K = 2 is pieces [0,4) with 4 workers
    // (head, a leaf child, a child with one child) and [4,6) with 2: 3 levels, 2 + 2 + 1 = 5 copies on the critical path
    [Theory]
    [InlineData(1, 2, 1, 1, 1)]
    [InlineData(2, 2, 1, 2, 2)]
    [InlineData(3, 2, 2, 3, 2)]
    [InlineData(4, 2, 2, 3, 2)]
    [InlineData(6, 2, 3, 5, 2)]
    [InlineData(8, 2, 3, 5, 2)]
    [InlineData(8, 4, 2, 5, 4)]
    [InlineData(8, 16, 1, 8, 8)]
    public void The_shape_is_the_planners_tree(int workers, int fanIn, int levels, int copies, int children)
    {
        var shape = TreeShape.Of(workers, workers, fanIn);
        Assert.Equal((levels, copies, children), (shape.Levels, shape.PathCopies, shape.CoordinatorChildren));
    }

    [Fact]
    public void At_256_workers_the_tree_is_shallow_and_its_critical_path_short()
    {
        var star = TreeShape.Of(256, 256, 256);
        Assert.Equal((1, 256), (star.Levels, star.PathCopies));
        foreach (var k in (int[])[2, 4])
        {
            var tree = TreeShape.Of(256, 256, k);
            Assert.Equal(k, tree.CoordinatorChildren);
            Assert.InRange(tree.Levels, 2, 10);
            Assert.InRange(tree.PathCopies, k + 1, 4 * k * tree.Levels);
        }
    }

    [Fact]
    public void The_star_moves_2_N_4P_through_the_coordinator_and_the_tree_at_most_2_K_4P()
    {
        var c = Truth with { WireOverhead = 1, ControlBytesPerWorker = 0 };
        const long p = 235_146;
        foreach (var n in (int[])[1, 2, 6, 8, 64, 256])
        {
            Assert.Equal(2.0 * n * 4 * p, ScalingModel.Predict(Inputs(p, n, Math.Max(2, n)), c).CoordinatorBytes);
            foreach (var k in (int[])[2, 4])
            {
                var tree = ScalingModel.Predict(Inputs(p, n, k), c).CoordinatorBytes;
                Assert.Equal(2.0 * Math.Min(n, k) * 4 * p, tree);
                Assert.True(tree <= 2.0 * k * 4 * p);
            }
        }

        // 6 workers, fan-in 2: a third of the star's bytes (issue 12 asks ≤ 0.5)
        Assert.Equal(1.0 / 3, ScalingModel.Predict(Inputs(p, 6, 2), c).CoordinatorBytes / ScalingModel.Predict(Inputs(p, 6, 6), c).CoordinatorBytes, 12);
    }

    [Fact]
    public void Each_term_follows_its_formula()
    {
        // 8 workers on 2 cores, fan-in 2 (3 levels, 5 copies on the critical path), B 128, S 8: 16 rows each, compute shared 4×
        var x = new ScalingInputs(Parameters: 1000, Workers: 8, FanIn: 2, Batch: 128, Shards: 8, RowSeconds: 1e-5, BytesPerSecond: 1e6,
            LatencySeconds: 1e-4, Cores: 2, AddSecondsPerFloat: 1e-9);
        var t = ScalingModel.Predict(x, Truth with { SecondsPerParameter = 1e-8, CpuSecondsPerByte = 0 });
        var relayed = 2 * (5 - 2) * 4000; // Q − Kc = 3 copies each way between workers
        Assert.Equal((3, 5), (x.Depth, x.PathCopies));
        Assert.Equal(4e-3, t.Fixed, 15);
        Assert.Equal(1e-5, t.Update, 15);
        Assert.Equal(8 * 1.5e-3, t.PerWorker, 15);
        Assert.Equal(16 * 1e-5 * 4, t.Compute, 15);
        Assert.Equal(((1.7 * 5) + 0.4) * 4000 * 1.005 / 1e6, t.Transfer, 15);
        Assert.Equal(2 * 3 * 1e-4, t.Latency, 15);
        Assert.Equal(5 * 1000 * 1e-9, t.Reduction, 15);
        Assert.Equal((2 * 2e-3) + (relayed * 1e-9), t.Relay, 15);
        Assert.Equal(t.Fixed + t.Update + t.PerWorker + t.Compute + t.Transfer + t.Latency + t.Reduction + t.Relay, t.StepSeconds, 15);
        Assert.Equal(2 * 2 * ((1.005 * 4000) + 600), t.CoordinatorBytes, 9); // both directions, Kc = 2 children

        // an unlimited link leaves the coordinator's time per byte; more shards than workers load the busiest one
        var cpu = ScalingModel.Predict(x with { BytesPerSecond = double.PositiveInfinity }, Truth with { CpuSecondsPerByte = 2e-9 });
        Assert.Equal(5 * 4000 * 2e-9, cpu.Transfer, 15);
        Assert.Equal(2 * 13 * 1e-5, ScalingModel.Predict(x with { Shards = 10, Batch = 130, Cores = double.PositiveInfinity }, Truth).Compute, 15);
        Assert.Throws<ArgumentException>(() => ScalingModel.Predict(x with { FanIn = 1 }, Truth));
    }

    [Fact]
    public void The_fit_recovers_the_constants_that_made_the_measurements()
    {
        var rows = Synthetic(Truth, noise: 0);
        var fit = ScalingFit.Fit(rows, Machine);
        var c = fit.Constants;
        Assert.Equal(Truth.FixedSeconds, c.FixedSeconds, 9);
        Assert.Equal(Truth.SecondsPerWorker, c.SecondsPerWorker, 9);
        Assert.Equal(Truth.SecondsPerParameter, c.SecondsPerParameter, 12);
        Assert.Equal(Truth.LinkPasses, c.LinkPasses, 6);
        Assert.Equal(Truth.CopiesOnPath, c.CopiesOnPath, 6);
        Assert.Equal(Truth.CpuSecondsPerByte, c.CpuSecondsPerByte, 12);
        Assert.Equal(Truth.SecondsPerLevel, c.SecondsPerLevel, 9);
        Assert.Equal(Truth.RelaySecondsPerByte, c.RelaySecondsPerByte, 12);
        Assert.Equal(Truth.WireOverhead, c.WireOverhead, 6);
        Assert.Equal(Truth.ControlBytesPerWorker, c.ControlBytesPerWorker, 3);
        Assert.True(fit.MaxTimeError < 1e-9 && fit.MaxBytesError < 1e-9, $"{fit.MaxTimeError} {fit.MaxBytesError}");
        Assert.Empty(fit.NotFitted); // two rates, star and tree: every constant is constrained
    }

    [Fact]
    public void With_noise_the_fit_stays_close_and_never_goes_negative()
    {
        var fit = ScalingFit.Fit(Synthetic(Truth, noise: 0.04), Machine);
        Assert.True(fit.MaxTimeError < 0.08, $"largest time error {fit.MaxTimeError}");
        Assert.True(fit.MaxBytesError < 0.08, $"largest bytes error {fit.MaxBytesError}");
        Assert.InRange(fit.Constants.LinkPasses, 1.5, 1.9);

        // measurements that a least-squares line would meet with a negative intercept: the fit holds a at 0 instead
        var steep = Synthetic(Truth with { FixedSeconds = 0 }, noise: 0).Select(r => r with { StepMs = (r.StepMs * 1.1) - 3, MetricsStepMs = (r.MetricsStepMs * 1.1) - 3 }).ToList();
        var c = ScalingFit.Fit(steep, Machine).Constants;
        Assert.All((double[])[c.FixedSeconds, c.SecondsPerParameter, c.SecondsPerWorker, c.LinkPasses, c.CopiesOnPath, c.SecondsPerLevel, c.CpuSecondsPerByte, c.RelaySecondsPerByte], v => Assert.True(v >= 0));
    }

    [Fact]
    public void Star_only_measurements_leave_the_relay_constant_unfitted()
    {
        var fit = ScalingFit.Fit(Synthetic(Truth with { SecondsPerLevel = 0, RelaySecondsPerByte = 0 }, noise: 0).Where(r => r.FanIn is null).ToList(), Machine);
        Assert.Contains("r", fit.NotFitted);
        Assert.Contains("g", fit.NotFitted);
        Assert.Equal(0, fit.Constants.SecondsPerLevel);
        Assert.True(fit.MaxTimeError < 1e-9);
    }

    [Fact]
    public void The_reader_takes_the_scripts_csv_and_names_the_line_and_column_of_a_bad_cell()
    {
        var path = _dir.File("bench.csv");
        File.WriteAllText(path, Header + "\n" + Row("mnist", 235146, 2, null, 134.9, 1.9e6) + "\n" + Row("wide", 1863690, 4, 2, 2215.8, 1.5e7) + "\n");
        var rows = BedMeasurement.Read(path);
        Assert.Equal(2, rows.Count);
        Assert.Equal("star", rows[0].Topology);
        Assert.Equal("fan-in 2", rows[1].Topology);
        Assert.Equal("--fan-in 2", File.ReadAllLines(path)[2].Split(',')[^1].Trim('"'));

        File.WriteAllText(path, Header + "\n" + Row("mnist", 235146, 2, null, 134.9, 1.9e6).Replace(",134.9,", ",fast,", StringComparison.Ordinal) + "\n");
        var e = Assert.Throws<UsageException>(() => BedMeasurement.Read(path));
        Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("'step_ms' is 'fast'", e.Message, StringComparison.Ordinal);

        File.WriteAllText(path, "model,params\nmnist,1\n");
        Assert.Contains("no 'workers' column", Assert.Throws<UsageException>(() => BedMeasurement.Read(path)).Message, StringComparison.Ordinal);
        Assert.Contains("cannot read", Assert.Throws<UsageException>(() => BedMeasurement.Read(_dir.File("none.csv"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_reader_takes_the_security_and_cpu_columns_and_old_files_read_as_the_secure_default()
    {
        var path = _dir.File("tls.csv");
        var header = Header + ",security,coordinator_cpu_ms_per_step,worker_cpu_ms_per_step";
        File.WriteAllText(path, header + "\n" + Row("mnist", 235146, 2, null, 23.9, 1.9e6) + ",tls,17.963,13.519\n"
            + Row("mnist", 235146, 2, null, 21.7, 1.9e6).Replace("\"\"", "\"--insecure\"", StringComparison.Ordinal) + ",insecure,14.954,12.477\n");
        var rows = BedMeasurement.Read(path);
        Assert.Equal(["tls", "insecure"], rows.Select(r => r.Security));
        Assert.Equal([17.963, 14.954], rows.Select(r => r.CoordinatorCpuMsPerStep!.Value));
        Assert.Equal(12.477, rows[1].WorkerCpuMsPerStep);

        File.WriteAllText(path, Header + "\n" + Row("mnist", 235146, 2, null, 23.9, 1.9e6) + "\n"); // before the columns
        var old = Assert.Single(BedMeasurement.Read(path));
        Assert.Equal("tls", old.Security);
        Assert.Null(old.CoordinatorCpuMsPerStep);

        File.WriteAllText(path, header + "\n" + Row("mnist", 235146, 2, null, 23.9, 1.9e6) + ",plain,1,1\n");
        Assert.Contains("'security' is 'plain'", Assert.Throws<UsageException>(() => BedMeasurement.Read(path)).Message, StringComparison.Ordinal);
    }

    internal const string Header = "model,layers,params,workers,fan_in,shards,batch,threads,rate,rate_bytes_per_s,cores,window_steps,rx_bytes_per_step,tx_bytes_per_step,run_rx_bytes_per_step,run_tx_bytes_per_step,step_ms,metrics_step_ms,samples_per_s,min_workers,star_bytes_per_step,coordinator_args";

    /// <summary>A CSV row as deploy/netns-bench.sh writes it.</summary>
    internal static string Row(string model, long p, int n, int? k, double stepMs, double bytesPerDirection, int batch = 128, double rate = 25e6) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{model},x,{p},{n},{k},{n},{batch},1,200mbit,{rate},2,60,{bytesPerDirection},{bytesPerDirection},{bytesPerDirection},{bytesPerDirection},{stepMs},{stepMs},{batch * 1000 / stepMs},{n},{8.0 * n * p},\"{(k is null ? string.Empty : $"--fan-in {k}")}\"");

    /// <summary>Bed-like runs (mnist and wide, N = 2…8, star and fan-in 2, 200 Mbit/s and 1 Gbit/s, 2 cores) as <paramref name="c"/> predicts them, times 1 ± noise (a fixed pattern).</summary>
    internal static List<BedMeasurement> Synthetic(ScalingConstants c, double noise)
    {
        var rows = new List<BedMeasurement>();
        var i = 0;
        foreach (var (model, p, batch) in new[] { ("mnist", 235_146L, 128), ("wide", 1_863_690L, 256) })
        {
            foreach (var (k, rate) in new (int?, double)[] { (null, 25e6), (2, 25e6), (null, 125e6), (2, 125e6) })
            {
                foreach (var n in (int[])[2, 4, 6, 8])
                {
                    var m = new BedMeasurement(model, p, n, k, n, batch, rate, 2, 60, 0, 0, 1, 1, 1, n);
                    var t = ScalingModel.Predict(ScalingFit.InputsOf(m, Machine), c);
                    var wiggle = 1 + (noise * (i++ % 3 - 1)); // −noise, 0, +noise in turn
                    rows.Add(m with
                    {
                        StepMs = t.StepSeconds * 1000 * wiggle,
                        MetricsStepMs = t.StepSeconds * 1000 * wiggle,
                        RxBytesPerStep = t.CoordinatorBytesPerDirection * (2 - wiggle),
                        TxBytesPerStep = t.CoordinatorBytesPerDirection * (2 - wiggle),
                    });
                }
            }
        }

        return rows;
    }

    private static ScalingInputs Inputs(long p, int n, int k) => new(p, n, k, 128, n, 1e-5, 25e6, 0, double.PositiveInfinity, 0);
}
