// The System.Diagnostics.Metrics meter "DistBackprop": the coordinator's events (StepReport, EpochEvaluated,
// ClusterStatus) as counters, gauges and a histogram, so dotnet-counters and OpenTelemetry can read a run.
// One instance per run, fed on the coordinator's side (the host passes every event to Record).
// Leaves out: exporting (a listener's job: dotnet-counters, an OpenTelemetry MeterProvider, MeterListener in tests).
using System.Diagnostics.Metrics;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Monitoring;

/// <summary>Publishes training figures through a <see cref="Meter"/> named <see cref="MeterName"/> (instrument names below).</summary>
public sealed class TrainingMeter : IDisposable
{
    public const string MeterName = "DistBackprop";

    /// <summary>Instrument names, as dotnet-counters and OpenTelemetry show them.</summary>
    public static class Names
    {
        public const string Steps = "distbackprop.steps";
        public const string Samples = "distbackprop.samples";
        public const string Loss = "distbackprop.loss";
        public const string Accuracy = "distbackprop.accuracy";
        public const string TestLoss = "distbackprop.test.loss";
        public const string TestAccuracy = "distbackprop.test.accuracy";
        public const string SamplesPerSecond = "distbackprop.samples_per_second";
        public const string StepDuration = "distbackprop.step.duration";
        public const string Workers = "distbackprop.workers";
        public const string ShardsReassigned = "distbackprop.shards.reassigned";
        public const string ShardsStale = "distbackprop.shards.stale";
        public const string ShardsDuplicate = "distbackprop.shards.duplicate";
        public const string LearningRate = "distbackprop.lr";
        public const string GradNorm = "distbackprop.grad_norm";
        public const string ValLoss = "distbackprop.val.loss";
        public const string ValAccuracy = "distbackprop.val.accuracy";
    }

    private readonly Meter _meter;
    private readonly Counter<long> _steps;
    private readonly Counter<long> _samples;
    private readonly Gauge<double> _loss;
    private readonly Gauge<double> _accuracy;
    private readonly Gauge<double> _testLoss;
    private readonly Gauge<double> _testAccuracy;
    private readonly Gauge<double> _samplesPerSecond;
    private readonly Histogram<double> _stepDuration;
    private readonly Gauge<int> _workers;
    private readonly Counter<long> _reassigned;
    private readonly Counter<long> _stale;
    private readonly Counter<long> _duplicate;
    private readonly Gauge<double> _lr;
    private readonly Gauge<double> _gradNorm;
    private readonly Gauge<double> _valLoss;
    private readonly Gauge<double> _valAccuracy;
    private long _staleSeen;
    private long _duplicateSeen;

    public TrainingMeter()
    {
        _meter = new Meter(MeterName, typeof(TrainingMeter).Assembly.GetName().Version?.ToString());
        _steps = _meter.CreateCounter<long>(Names.Steps, "{step}", "training steps completed");
        _samples = _meter.CreateCounter<long>(Names.Samples, "{sample}", "training samples processed");
        _loss = _meter.CreateGauge<double>(Names.Loss, null, "mean loss of the last step's batch");
        _accuracy = _meter.CreateGauge<double>(Names.Accuracy, null, "accuracy (0..1) of the last step's batch");
        _testLoss = _meter.CreateGauge<double>(Names.TestLoss, null, "test-set loss at the last epoch end");
        _testAccuracy = _meter.CreateGauge<double>(Names.TestAccuracy, null, "test-set accuracy (0..1) at the last epoch end");
        _samplesPerSecond = _meter.CreateGauge<double>(Names.SamplesPerSecond, "{sample}/s", "training throughput of the last step");
        _stepDuration = _meter.CreateHistogram<double>(Names.StepDuration, "ms", "time of a step by phase (tag phase = compute|serialize|transport|wait)");
        _workers = _meter.CreateGauge<int>(Names.Workers, "{worker}", "live workers");
        _reassigned = _meter.CreateCounter<long>(Names.ShardsReassigned, "{shard}", "shards given to another worker (dead, unreachable, past the deadline)");
        _stale = _meter.CreateCounter<long>(Names.ShardsStale, "{shard}", "shard replies for an old step, dropped");
        _duplicate = _meter.CreateCounter<long>(Names.ShardsDuplicate, "{shard}", "second replies for a shard already summed, dropped");
        _lr = _meter.CreateGauge<double>(Names.LearningRate, null, "learning rate of the last step's update (the schedule's lr_t)");
        _gradNorm = _meter.CreateGauge<double>(Names.GradNorm, null, "L2 norm of the last step's mean gradient over all parameters, before clipping");
        _valLoss = _meter.CreateGauge<double>(Names.ValLoss, null, "validation-set loss at the last epoch end (--val-split)");
        _valAccuracy = _meter.CreateGauge<double>(Names.ValAccuracy, null, "validation-set accuracy (0..1) at the last epoch end (--val-split)");
    }

    /// <summary>The meter (tests compare instruments' Meter with it).</summary>
    public Meter Meter => _meter;

    /// <summary>Records one coordinator event; others than StepReport, EpochEvaluated and ClusterStatus are ignored. Not thread-safe
    /// across callers for the stale/duplicate deltas: call it from one thread (the coordinator's).</summary>
    public void Record(ITrainingEvent e)
    {
        switch (e)
        {
            case StepReport r:
                _steps.Add(1);
                _samples.Add(r.Samples);
                _loss.Record(r.Loss);
                _accuracy.Record(r.Accuracy);
                _samplesPerSecond.Record(r.SamplesPerSecond);
                _workers.Record(r.Workers);
                _stepDuration.Record(r.ComputeMs, new KeyValuePair<string, object?>("phase", "compute"));
                _stepDuration.Record(r.SerializeMs, new KeyValuePair<string, object?>("phase", "serialize"));
                _stepDuration.Record(r.TransportMs, new KeyValuePair<string, object?>("phase", "transport"));
                _stepDuration.Record(r.WaitMs, new KeyValuePair<string, object?>("phase", "wait"));
                if (!double.IsNaN(r.LearningRate))
                {
                    _lr.Record(r.LearningRate);
                }

                if (!double.IsNaN(r.GradNorm))
                {
                    _gradNorm.Record(r.GradNorm);
                }

                if (r.ReassignedShards > 0)
                {
                    _reassigned.Add(r.ReassignedShards);
                }

                // the report carries totals since the coordinator started: add what is new
                if (r.StaleReplies > _staleSeen)
                {
                    _stale.Add(r.StaleReplies - _staleSeen);
                    _staleSeen = r.StaleReplies;
                }

                if (r.DuplicateReplies > _duplicateSeen)
                {
                    _duplicate.Add(r.DuplicateReplies - _duplicateSeen);
                    _duplicateSeen = r.DuplicateReplies;
                }

                break;
            case EpochEvaluated ep:
                if (ep.TestSamples > 0)
                {
                    _testLoss.Record(ep.TestLoss);
                    _testAccuracy.Record(ep.TestAccuracy);
                }

                if (ep.ValSamples > 0)
                {
                    _valLoss.Record(ep.ValLoss);
                    _valAccuracy.Record(ep.ValAccuracy);
                }

                break;
            case ClusterStatus s:
                _workers.Record(s.Members.Count(m => m.State == "ready"));
                break;
        }
    }

    public void Dispose() => _meter.Dispose();
}
