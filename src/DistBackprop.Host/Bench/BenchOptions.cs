// What `distbackprop bench` was asked to run, checked and expanded into combinations (workload ×
// mode × threads), and how each combination's cores are split between workers and kernel threads.
// Leaves out: parsing the command line (BenchCommand) and running anything (LocalBench, ClusterBench).
namespace DistBackprop.Host.Bench;

public enum BenchMode
{
    /// <summary>Coordinator and worker actors in this process (LocalTraining), like `train`.</summary>
    Local,

    /// <summary>A coordinator process and N worker processes on loopback (`coordinator`/`worker` commands).</summary>
    Cluster,
}

/// <summary>How <see cref="Threads"/> cores are used: <see cref="Workers"/> workers (and shards) × <see cref="ThreadsPerWorker"/> kernel threads.</summary>
public sealed record ThreadSplit(int Threads, int Workers, int ThreadsPerWorker)
{
    /// <summary>
    /// The split for <paramref name="threads"/> cores. Given --workers: that many workers with
    /// max(1, threads / workers) kernel threads each. Otherwise one single-threaded worker per core, in both
    /// modes (S = workers). In local mode the workers and the coordinator share dedicated threads and each
    /// worker computes on its own, so a worker per core pays almost nothing per step for the second shard, and
    /// its GEMMs need no splitting: measured on the 2-core machine (median of 4 interleaved runs, 5 s each)
    /// 2 × 1 against 1 × 2: seed 967k vs 848k samples/s, mnist 127k vs 112k, wide 16.8k vs 17.1k (bimodal, a
    /// tie). (Before the shared dispatcher, every extra worker cost two thread hand-offs a step and 1 × 2 won.)
    /// In cluster mode a process per shard is what the mode is there to measure.
    /// </summary>
    public static ThreadSplit For(BenchMode mode, int threads, int? workers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        var w = workers ?? threads;
        return new ThreadSplit(threads, w, Math.Max(1, threads / w));
    }

    /// <summary>"2 workers × 1 kernel thread".</summary>
    public override string ToString() =>
        $"{Workers} worker{(Workers == 1 ? string.Empty : "s")} × {ThreadsPerWorker} kernel thread{(ThreadsPerWorker == 1 ? string.Empty : "s")}";
}

/// <summary>One measurement to make. <paramref name="Dropout"/> &gt; 0 trains with dropout on the hidden layers (its cost per step);
/// <paramref name="Insecure"/>: cluster mode over plain TCP (`--insecure`) instead of the secure default.</summary>
public sealed record BenchCase(BenchWorkload Workload, BenchMode Mode, ThreadSplit Split, int Batch, TimeSpan Duration, float Dropout = 0, bool Insecure = false);

public sealed record BenchOptions(
    IReadOnlyList<BenchWorkload> Workloads,
    IReadOnlyList<BenchMode> Modes,
    IReadOnlyList<int> Threads,
    int? Workers,
    int? Batch,
    TimeSpan Duration,
    bool Json,
    bool Plain,
    float Dropout = 0,
    bool Insecure = false)
{
    public const double DefaultSeconds = 10;

    /// <summary>Every combination, workloads outermost, in the order given.</summary>
    public IReadOnlyList<BenchCase> Cases() =>
        [.. from w in Workloads
            from m in Modes
            from t in Threads
            select new BenchCase(w, m, ThreadSplit.For(m, t, Workers), Batch ?? w.Batch, Duration, Dropout, Insecure)];

    /// <summary>
    /// Checks and expands the raw option values; every problem is collected and thrown as one
    /// <see cref="UsageException"/> (exit 2) naming the option. Lists may repeat the option or use commas.
    /// </summary>
    public static BenchOptions Parse(IEnumerable<string>? workloads, IEnumerable<string>? modes, IEnumerable<string>? threads,
        int? workers, int? batch, double seconds, bool json, bool plain, int processorCount, double dropout = 0)
    {
        var errors = new List<string>();
        var ws = new List<BenchWorkload>();
        foreach (var name in Items(workloads))
        {
            if (BenchWorkload.Find(name) is { } w)
            {
                ws.Add(w);
            }
            else
            {
                errors.Add($"--workload: unknown workload '{name}' (expected {string.Join(", ", BenchWorkload.All.Select(x => x.Name))})");
            }
        }

        var ms = new List<BenchMode>();
        foreach (var name in Items(modes))
        {
            if (string.Equals(name, "local", StringComparison.OrdinalIgnoreCase))
            {
                ms.Add(BenchMode.Local);
            }
            else if (string.Equals(name, "cluster", StringComparison.OrdinalIgnoreCase))
            {
                ms.Add(BenchMode.Cluster);
            }
            else
            {
                errors.Add($"--mode: unknown mode '{name}' (expected local or cluster)");
            }
        }

        var ts = new List<int>();
        foreach (var text in Items(threads))
        {
            if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var t) && t >= 1)
            {
                ts.Add(t);
            }
            else
            {
                errors.Add($"--threads: '{text}' is not a whole number ≥ 1");
            }
        }

        if (workers is < 1)
        {
            errors.Add($"--workers must be at least 1 (got {workers})");
        }

        if (batch is < 1 or > BenchWorkload.Samples)
        {
            errors.Add($"--batch must be between 1 and {BenchWorkload.Samples} (the random training set) (got {batch})");
        }

        if (!(seconds > 0) || double.IsInfinity(seconds))
        {
            errors.Add($"--seconds must be a positive number (got {seconds})");
        }

        if (!(dropout >= 0 && dropout < 1))
        {
            errors.Add($"--dropout must be in [0, 1) (got {dropout.ToString("R", System.Globalization.CultureInfo.InvariantCulture)})");
        }

        if (errors.Count > 0)
        {
            throw new UsageException(errors);
        }

        return new BenchOptions(
            ws.Count > 0 ? ws.Distinct().ToArray() : BenchWorkload.All,
            ms.Count > 0 ? ms.Distinct().ToArray() : [BenchMode.Local],
            ts.Count > 0 ? ts.Distinct().ToArray() : [Math.Max(1, processorCount)],
            workers,
            batch,
            TimeSpan.FromSeconds(seconds),
            json,
            plain,
            (float)dropout);
    }

    private static IEnumerable<string> Items(IEnumerable<string>? values) =>
        (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
