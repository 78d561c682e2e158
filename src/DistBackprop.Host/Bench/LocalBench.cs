// `bench --mode local`: one combination on the same actor trainer as `train` (LocalTraining: one
// ActorSystem with the coordinator and N worker actors), unbounded epochs over the random set, stopped
// through the coordinator once SteadyState has seen the duration. Each step's completion is timestamped
// in the coordinator's AfterStep hook, so the figure includes the optimizer update and the hand-off
// between steps, not only the gradient round. Leaves out: data generation (BenchWorkload), output.
using System.Diagnostics;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;
using DistBackprop.Host.Output;
using Microsoft.Extensions.Logging;

namespace DistBackprop.Host.Bench;

public static class LocalBench
{
    /// <summary>Runs <paramref name="c"/> (local mode); Akka's warnings go to <paramref name="log"/>.</summary>
    public static async Task<BenchResult> RunAsync(BenchCase c, TextWriter log, bool verbose, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(log);
        var w = c.Workload;
        var spec = c.Dropout > 0 ? w.Spec with { Regularization = new Regularization(c.Dropout, 0, BenchWorkload.Seed) } : w.Spec;
        var train = w.RandomDataset();
        var config = new TrainingConfig(spec, BenchWorkload.Optimizer, c.Batch, Epochs: null, MaxSteps: null, BenchWorkload.Seed, Shuffle: true, Shards: c.Split.Workers);
        if (config.Validate() is { } problem)
        {
            throw new UsageException(problem);
        }

        var state = new TrainingState(config, train.Count, Initializer.Create(spec, BenchWorkload.Seed));
        var meter = new SteadyState(c.Duration);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var loggers = NodeLog.Factory(log, verbose);
        var options = new LocalTrainingOptions
        {
            Workers = c.Split.Workers,
            ThreadsPerWorker = c.Split.ThreadsPerWorker,
            DataSource = train.Name,
            DataSeed = BenchWorkload.Seed,
            LoggerFactory = loggers,
            AfterStep = (_, r) =>
            {
                meter.Step(Stopwatch.GetTimestamp(), r.Samples, new StepSplit(r.ComputeMs, r.SerializeMs, r.TransportMs, r.WaitMs));
                if (meter.Done && !stop.IsCancellationRequested)
                {
                    stop.Cancel();
                }
            },
        };
        try
        {
            await LocalTraining.RunLocalAsync(state, train, options, progress: null, stop.Token).ConfigureAwait(false);
        }
        catch (TrainingFailedException e)
        {
            throw new InvalidOperationException($"{w.Name}: training failed at step {e.Step}: {e.Message}", e);
        }

        cancellation.ThrowIfCancellationRequested();
        return meter.Result(c);
    }
}
