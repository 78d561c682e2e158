// `distbackprop bench`: the standard workloads of SPEC §8 on the actor trainer, local mode or a
// loopback cluster of this program's own processes; steady-state samples/s and GFLOP/s per
// combination (workload × mode × threads), as a table or, with --json, one JSON line on standard
// output (every log line on standard error). Ctrl+C stops after the combination in progress and still
// prints what was measured. Leaves out: the measuring (Bench/LocalBench, Bench/ClusterBench).
using System.CommandLine;
using System.Globalization;
using DistBackprop.Host.Bench;
using DistBackprop.Host.Output;

namespace DistBackprop.Host.Commands;

public static class BenchCommand
{
    public static Command Create(CliContext context)
    {
        var workload = new Option<string[]>("--workload")
        {
            Description = "seed (400-25-10 sigmoid, batch 64) | mnist (784-256-128-10 relu, 128) | wide (784-1024-1024-10 relu, 256); repeat or comma list [default: all three]",
        };
        var mode = new Option<string[]>("--mode") { Description = "local (actors in this process) | cluster (coordinator + --workers processes on loopback) [default: local]" };
        var threads = new Option<string[]>("--threads") { Description = "cores used; repeat or comma list, e.g. 1,2 [default: all cores]" };
        var workers = TrainingCommandLine.Value<int>("--workers",
            "workers (and shards); each gets threads / workers kernel threads [default: local 1 worker with all the threads, cluster one process per thread]");
        var batch = TrainingCommandLine.Value<int>("--batch", "global batch, overriding the workload's");
        var seconds = TrainingCommandLine.Value("--seconds", "measuring time per combination, warm-up included", BenchOptions.DefaultSeconds);
        var json = TrainingCommandLine.Flag("--json", "one JSON line on standard output: {\"results\":[{workload,mode,threads,workers,batch,samples_per_s,gflops}…]}");
        var dropout = TrainingCommandLine.Value("--dropout", "train with dropout p on the hidden layers (to measure its cost per step)", 0.0);
        var insecure = TrainingCommandLine.Flag("--insecure", "cluster mode over plain TCP instead of mutual TLS (to measure what TLS costs)");
        var command = new Command("bench", "Measure training throughput on the standard workloads (SPEC §8). Example: distbackprop bench --workload mnist --threads 1,2 --json")
        {
            workload, mode, threads, workers, batch, seconds, json, dropout, insecure,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            context.Verbose = parseResult.GetValue<bool>("--verbose");
            var options = BenchOptions.Parse(parseResult.GetValue(workload), parseResult.GetValue(mode), parseResult.GetValue(threads),
                parseResult.GetValue(workers), parseResult.GetValue(batch), parseResult.GetValue(seconds),
                parseResult.GetValue(json), parseResult.GetValue<bool>("--plain"), context.ProcessorCount, parseResult.GetValue(dropout)) with
            { Insecure = parseResult.GetValue(insecure) };
            return Execute(context, options);
        }));
        return command;
    }

    private static int Execute(CliContext context, BenchOptions options)
    {
        var cases = options.Cases();
        var log = context.Err;
        if (cases.Any(c => c.Mode == BenchMode.Cluster) && !HasClusterCommands(context))
        {
            log.WriteLine("error: bench --mode cluster starts `distbackprop coordinator` and `distbackprop worker` processes, " +
                "and this build of distbackprop has no such commands yet; use --mode local");
            return ExitCodes.RuntimeFailure;
        }

        log.WriteLine($"distbackprop bench: kernels {KernelInfo.Describe()}, {cases.Count} combination{(cases.Count == 1 ? string.Empty : "s")} of about {options.Duration.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s each");
        var results = new List<BenchResult>();
        try
        {
            foreach (var c in cases)
            {
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"bench {c.Workload.Name} ({string.Join('-', c.Workload.Sizes)} {Core.Model.Names.Of(c.Workload.Hidden)}, {c.Workload.WeightCount} weights{(c.Dropout > 0 ? $", dropout {c.Dropout}" : string.Empty)}), {BenchReport.ModeName(c.Mode)} mode, batch {c.Batch}: {c.Split.Threads} thread{(c.Split.Threads == 1 ? string.Empty : "s")} = {c.Split}"));
                var r = c.Mode == BenchMode.Local
                    ? LocalBench.RunAsync(c, log, context.Verbose, context.Cancellation).GetAwaiter().GetResult()
                    : ClusterBench.RunAsync(c, log, context.Cancellation).GetAwaiter().GetResult();
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {r.SamplesPerSecond:N0} samples/s, {r.Gflops:F1} GFLOP/s over {r.MeasuredSteps} steps ({r.StepMs:F2} ms per step)"));
                results.Add(r);
            }
        }
        catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
        {
            log.WriteLine($"stopped (Ctrl+C / SIGTERM) after {results.Count} of {cases.Count} combinations");
        }
        catch (BenchFailedException e)
        {
            log.WriteLine($"error: {e.Message}");
            return ExitCodes.RuntimeFailure;
        }

        if (options.Json)
        {
            context.Out.WriteLine(BenchReport.Json(results));
        }
        else if (!options.Plain && context.IsTerminal)
        {
            BenchReport.WriteTable(results, context.Out);
        }
        else
        {
            BenchReport.WritePlain(results, context.Out);
        }

        return ExitCodes.Ok;
    }



    /// <summary>True when this build has the `coordinator` and `worker` commands the cluster bench spawns.</summary>
    private static bool HasClusterCommands(CliContext context)
    {
        var names = DistBackpropCli.BuildRoot(context).Subcommands.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        return names.Contains("coordinator") && names.Contains("worker");
    }
}
