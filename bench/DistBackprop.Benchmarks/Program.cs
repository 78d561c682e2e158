// Entry point. `quick` measures with a Stopwatch (median of runs, a minute in all) and prints
// GFLOP/s and samples/s; anything else goes to BenchmarkDotNet's switcher (see bench/README.md).
using System.Diagnostics;
using BenchmarkDotNet.Running;
using DistBackprop.Benchmarks;
using DistBackprop.Core.Tensors;

if (args.Length > 0 && args[0] == "quick")
{
    Quick(args.Skip(1).ToArray());
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(GemmBenchmarks).Assembly).Run(args);

static void Quick(string[] which)
{
    Console.WriteLine($"kernel path {Gemm.KernelPath}, {Environment.ProcessorCount} cores");
    var all = which.Length == 0;
    if (all || which.Contains("gemm"))
    {
        (string Name, int B, int In, int Out)[] shapes =
            [("n=1024", 1024, 1024, 1024), ("seed L1", 64, 400, 25), ("mnist L1", 128, 784, 256), ("wide L1", 256, 784, 1024), ("wide L2", 256, 1024, 1024)];
        foreach (var (name, b, inputs, outputs) in shapes)
        {
            var c = new GemmCase(b, inputs, outputs);
            foreach (var op in Enum.GetValues<GemmShape>())
            {
                foreach (var threads in new[] { 1, 2 })
                {
                    using var pool = new KernelPool(threads);
                    var seconds = Median(() => c.Run(op, pool), Math.Max(1, (int)(2e8 / c.Flops)));
                    Console.WriteLine($"{name,-9} {op,-5} threads={threads}  {c.Flops / seconds / 1e9,7:F1} GFLOP/s");
                }
            }
        }
    }

    if (which.Contains("shapes"))
    {
        // every product a train step of the seed and wide workloads runs (issue 6)
        (string Name, int B, int In, int Out, GemmShape Op)[] shapes =
        [
            ("wide", 256, 784, 1024, GemmShape.XWt), ("wide", 256, 1024, 1024, GemmShape.XWt), ("wide", 256, 1024, 10, GemmShape.XWt),
            ("wide", 256, 784, 1024, GemmShape.DyTX), ("wide", 256, 1024, 1024, GemmShape.DyTX), ("wide", 256, 1024, 10, GemmShape.DyTX),
            ("wide", 256, 1024, 1024, GemmShape.DyW), ("wide", 256, 1024, 10, GemmShape.DyW),
            ("seed", 64, 400, 25, GemmShape.XWt), ("seed", 64, 25, 10, GemmShape.XWt),
            ("seed", 64, 400, 25, GemmShape.DyTX), ("seed", 64, 25, 10, GemmShape.DyTX), ("seed", 64, 25, 10, GemmShape.DyW),
        ];
        foreach (var (name, b, inputs, outputs, op) in shapes)
        {
            if ((which.Contains("wide") || which.Contains("seed")) && !which.Contains(name))
            {
                continue;
            }

            var c = new GemmCase(b, inputs, outputs);
            foreach (var threads in new[] { 1, 2 })
            {
                if ((which.Contains("t1") && threads != 1) || (which.Contains("t2") && threads != 2))
                {
                    continue;
                }

                using var pool = new KernelPool(threads);
                var seconds = Median(() => c.Run(op, pool), Math.Max(1, (int)(5e6 / c.Flops)), rounds: 101, best: true);
                Console.WriteLine($"{name,-5} {op,-5} B={b,-4} In={inputs,-5} Out={outputs,-5} threads={threads}  {c.Flops / seconds / 1e9,7:F1} GFLOP/s  {seconds * 1e6,9:F2} µs");
            }
        }
    }

    if (which.Contains("phases"))
    {
        // where a train step's time goes: load, forward, loss, backward (µs, medians)
        for (var w = 0; w < TrainStep.Workloads.Length; w++)
        {
            foreach (var threads in new[] { 1, 2 })
            {
                using var pool = new KernelPool(threads);
                var step = new TrainStep(w, pool);
                Median(step.Run, 10);
                var t = step.Phases(200);
                Console.WriteLine($"{TrainStep.Workloads[w].Name,-6} threads={threads}  load {t[0] * 1e6,8:F1}  forward {t[1] * 1e6,8:F1}  loss {t[2] * 1e6,8:F1}  backward {t[3] * 1e6,8:F1} µs");
            }
        }
    }

    if (which.Contains("dropout"))
    {
        // the cost of --dropout 0.2 per train step (masks drawn, applied forward and backward), one thread: the two interleaved,
        // the least of 9 rounds each, in wall time and in this process's CPU time (on a shared machine the CPU time is the
        // steadier figure: time spent preempted does not count)
        for (var w = 0; w < TrainStep.Workloads.Length; w++)
        {
            using var pool = new KernelPool(1);
            var plain = new TrainStep(w, pool);
            var dropped = new TrainStep(w, pool, dropout: 0.2f);
            var inner = Math.Max(3, 20_000_000 / (plain.Weights * plain.Batch / 64)); // rounds of ≥ 0.1 s: CPU time ticks coarsely
            Median(plain.Run, 1);
            Median(dropped.Run, 1);
            (double Wall, double Cpu) a = (double.MaxValue, double.MaxValue), b = a;
            for (var round = 0; round < 9; round++)
            {
                a = Least(a, Timed(plain.Run, inner));
                b = Least(b, Timed(dropped.Run, inner));
            }

            Console.WriteLine($"{TrainStep.Workloads[w].Name,-6} threads=1  step {a.Cpu * 1e6,8:F1} µs CPU ({a.Wall * 1e6,8:F1} wall), with dropout 0.2 " +
                $"{b.Cpu * 1e6,8:F1} µs CPU ({b.Wall * 1e6,8:F1} wall): +{(b.Cpu / a.Cpu) - 1,6:P1} CPU");
        }
    }

    if (which.Contains("n1024"))
    {
        // the headline figure: X·Wᵀ at n = 1024, more rounds
        var c = new GemmCase(1024, 1024, 1024);
        foreach (var threads in new[] { 1, 2, 1, 2 })
        {
            using var pool = new KernelPool(threads);
            var seconds = Median(() => c.Run(GemmShape.XWt, pool), 3, rounds: 15);
            Console.WriteLine($"n=1024    XWt   threads={threads}  {c.Flops / seconds / 1e9,7:F1} GFLOP/s");
        }
    }

    if (all || which.Contains("train"))
    {
        for (var w = 0; w < TrainStep.Workloads.Length; w++)
        {
            foreach (var threads in new[] { 1, 2 })
            {
                using var pool = new KernelPool(threads);
                var step = new TrainStep(w, pool);
                var seconds = Median(step.Run, Math.Max(1, 3_000_000 / (step.Weights * step.Batch / 64)));
                var rate = step.Batch / seconds;
                Console.WriteLine($"{TrainStep.Workloads[w].Name,-6} threads={threads}  {rate,10:F0} samples/s  {6.0 * step.Weights * rate / 1e9,6:F1} GFLOP/s");
            }
        }
    }
}

// Seconds per call of `inner` calls: wall clock and process CPU time.
static (double Wall, double Cpu) Timed(Action run, int inner)
{
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < inner; i++)
    {
        run();
    }

    var wall = sw.Elapsed.TotalSeconds;
    process.Refresh();
    return (wall / inner, (process.TotalProcessorTime - cpu).TotalSeconds / inner);
}

static (double Wall, double Cpu) Least((double Wall, double Cpu) a, (double Wall, double Cpu) b) => (Math.Min(a.Wall, b.Wall), Math.Min(a.Cpu, b.Cpu));

// Median over `rounds` timed rounds of `inner` calls each, after a warm-up; returns seconds per call.
static double Median(Action run, int inner, int rounds = 7, bool best = false)
{
    // warm up for a second, so tiered JIT (tier 0 → instrumented → tier 1 with PGO) has promoted
    // the hot methods before timing; the background compiler is slow on a busy 2-core machine
    var warm = Stopwatch.StartNew();
    while (warm.ElapsedMilliseconds < (best ? 500 : 1000))
    {
        run();
    }

    var times = new double[rounds];
    for (var r = 0; r < times.Length; r++)
    {
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < inner; i++)
        {
            run();
        }

        times[r] = sw.Elapsed.TotalSeconds / inner;
    }

    Array.Sort(times);
    return best ? times[0] : times[times.Length / 2];
}
