// `distbackprop bench` in process: --json prints exactly one JSON line with the SPEC §6 keys and
// positive figures, one entry per combination the flags select; bad options exit 2 naming the option;
// the plain table; the core split; the random data and the IDX folder the cluster mode writes.
// No timing assertions: only that the figures exist and are positive.
using System.Text.Json;
using DistBackprop.Core.Data;
using DistBackprop.Host.Bench;

namespace DistBackprop.Host.Tests.Bench;

public sealed class BenchCommandTests : IDisposable
{
    private static readonly string[] Keys = ["workload", "mode", "threads", "workers", "batch", "samples_per_s", "gflops"];
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Json_seed_for_one_second_prints_one_line_with_the_spec_keys_and_positive_numbers()
    {
        var r = Cli.Run(_dir.Path, "bench", "--json", "--workload", "seed", "--seconds", "1");
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, r.ToString());
        using var doc = JsonDocument.Parse(lines[0]);
        Assert.Equal(["results"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        var e = Assert.Single(doc.RootElement.GetProperty("results").EnumerateArray());
        Assert.Equal(Keys, e.EnumerateObject().Select(p => p.Name));
        Assert.Equal("seed", e.GetProperty("workload").GetString());
        Assert.Equal("local", e.GetProperty("mode").GetString());
        Assert.Equal(2, e.GetProperty("threads").GetInt32()); // Cli assumes two cores
        Assert.Equal(64, e.GetProperty("batch").GetInt32());
        Assert.True(e.GetProperty("workers").GetInt32() >= 1);
        var samples = e.GetProperty("samples_per_s").GetDouble();
        var gflops = e.GetProperty("gflops").GetDouble();
        Assert.True(samples > 0, r.ToString());
        Assert.True(gflops > 0, r.ToString());

        // GFLOP/s = 6 × weights × samples/s; seed has 400·25 + 25·10 = 10250 weights (both figures rounded).
        Assert.Equal(6.0 * 10250 * samples / 1e9, gflops, 0.001 + (1e-6 * gflops));
    }

    [Fact]
    public void One_entry_per_combination_the_flags_select()
    {
        var r = Cli.Run(_dir.Path, "bench", "--json", "--workload", "seed", "--threads", "1,2", "--workers", "2", "--batch", "32", "--seconds", "0.5");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal([1, 2], results.Select(e => e.GetProperty("threads").GetInt32()));
        Assert.All(results, e =>
        {
            Assert.Equal("seed", e.GetProperty("workload").GetString());
            Assert.Equal(2, e.GetProperty("workers").GetInt32());
            Assert.Equal(32, e.GetProperty("batch").GetInt32());
            Assert.True(e.GetProperty("samples_per_s").GetDouble() > 0);
        });
    }

    [Fact]
    public void Combinations_are_workloads_times_modes_times_threads()
    {
        var o = BenchOptions.Parse(["seed,wide", "mnist"], ["local", "cluster"], ["1", "2,4"], null, null, 1, json: true, plain: false, processorCount: 2);
        var cases = o.Cases();
        Assert.Equal(3 * 2 * 3, cases.Count);
        Assert.Equal(["seed", "wide", "mnist"], cases.Select(c => c.Workload.Name).Distinct());
        Assert.Equal([128, 256], cases.Where(c => c.Workload.Name != "seed").Select(c => c.Batch).Distinct().Order());

        var defaults = BenchOptions.Parse(null, null, null, null, null, BenchOptions.DefaultSeconds, false, false, processorCount: 2).Cases();
        Assert.Equal(["seed", "mnist", "wide"], defaults.Select(c => c.Workload.Name));
        Assert.All(defaults, c => Assert.Equal((BenchMode.Local, 2), (c.Mode, c.Split.Threads)));
        Assert.Equal([64, 128, 256], defaults.Select(c => c.Batch));
    }

    [Theory]
    [InlineData(BenchMode.Local, 2, null, 2, 1)]
    [InlineData(BenchMode.Local, 1, null, 1, 1)]
    [InlineData(BenchMode.Local, 4, 2, 2, 2)]
    [InlineData(BenchMode.Local, 1, 2, 2, 1)]
    [InlineData(BenchMode.Cluster, 2, null, 2, 1)]
    [InlineData(BenchMode.Cluster, 2, 1, 1, 2)]
    public void Threads_split_between_workers_and_kernel_threads(BenchMode mode, int threads, int? workers, int expectWorkers, int expectPerWorker)
    {
        var s = ThreadSplit.For(mode, threads, workers);
        Assert.Equal((threads, expectWorkers, expectPerWorker), (s.Threads, s.Workers, s.ThreadsPerWorker));
    }

    [Theory]
    [InlineData("--workload", "resnet", "--workload")]
    [InlineData("--mode", "distributed", "--mode")]
    [InlineData("--threads", "0", "--threads")]
    [InlineData("--workers", "0", "--workers")]
    [InlineData("--batch", "0", "--batch")]
    [InlineData("--seconds", "0", "--seconds")]
    public void Bad_option_exits_2_naming_it(string option, string value, string named)
    {
        string[] args = option == "--seconds" ? ["bench", "--json", option, value] : ["bench", "--json", "--seconds", "1", option, value];
        var r = Cli.Run(_dir.Path, args);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(named, r.Err, StringComparison.Ordinal);
        Assert.Contains(value, r.Err, StringComparison.Ordinal);
        Assert.Equal(string.Empty, r.Out);
        Assert.DoesNotContain("   at ", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Cluster_mode_runs_coordinator_and_worker_processes_or_says_the_commands_are_missing()
    {
        var hasCommands = DistBackprop.Host.Commands.DistBackpropCli.BuildRoot(new Commands.CliContext(TextWriter.Null, TextWriter.Null, new Configuration.CliEnvironment(new System.Collections.Hashtable(), _dir.Path, null)))
            .Subcommands.Any(c => c.Name == "coordinator");
        var r = Cli.Run(_dir.Path, "bench", "--json", "--mode", "cluster", "--workers", "1", "--workload", "seed", "--seconds", "1");
        if (!hasCommands)
        {
            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.Contains("coordinator", r.Err, StringComparison.Ordinal);
            Assert.Equal(string.Empty, r.Out);
            return;
        }

        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var e = Assert.Single(doc.RootElement.GetProperty("results").EnumerateArray());
        Assert.Equal("cluster", e.GetProperty("mode").GetString());
        Assert.Equal(1, e.GetProperty("workers").GetInt32());
        Assert.True(e.GetProperty("samples_per_s").GetDouble() > 0, r.ToString());
    }

    [Fact]
    public void Plain_table_has_a_header_and_one_row_with_the_time_split()
    {
        var r = Cli.Run(_dir.Path, "bench", "--plain", "--workload", "seed", "--seconds", "0.5");
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length); // header, row, footnote
        foreach (var column in (string[])["workload", "samples/s", "GFLOP/s", "compute", "serialize", "transport", "wait"])
        {
            Assert.Contains(column, lines[0], StringComparison.Ordinal);
        }

        Assert.StartsWith("seed ", lines[1], StringComparison.Ordinal);
        var cores = Environment.ProcessorCount; // the default --threads
        Assert.Contains($"{cores} worker{(cores == 1 ? "" : "s")} × 1 kernel thread", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_data_is_seeded_and_the_idx_folder_reads_back_as_the_same_rows()
    {
        var w = BenchWorkload.SeedNet;
        var a = w.RandomDataset();
        var b = w.RandomDataset();
        Assert.Equal(BenchWorkload.Samples, a.Count);
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        var folder = ClusterBench.WriteIdx(_dir.File("idx"), w);
        var read = DatasetLoader.Load(folder, new DataOptions()).Train;
        Assert.Equal((400, 10, BenchWorkload.Samples), (read.FeatureCount, read.Classes, read.Count));
        Assert.Equal(a.Features, read.Features);
        Assert.Equal(a.Labels, read.Labels);
    }

    [Theory]
    [InlineData(1, 128, 128)]
    [InlineData(64, 128, 128)]
    [InlineData(65, 128, 128)]
    [InlineData(82, 100, 92)] // 8192 = 81·100 + 92: the last step of an epoch is short
    [InlineData(83, 100, 100)]
    public void Cluster_rows_count_the_samples_of_each_step(long step, int batch, int expected) =>
        Assert.Equal(expected, ClusterBench.SamplesOf(step, batch));
}
