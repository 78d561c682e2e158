// The "DistBackprop" meter, read the way dotnet-counters and OpenTelemetry read it (a MeterListener):
// every instrument is published under its documented name, and step reports become the right measurements
// (counters add, totals become deltas, the step time is split by phase).
using System.Diagnostics.Metrics;
using DistBackprop.Cluster.Monitoring;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Tests.Monitoring;

public class TrainingMeterTests
{
    private static StepReport Report(long step, long stale, long duplicates, int reassigned) =>
        new(step, 0, 2.0 / step, 0.25 * step, 1000 * step, 2, 4.0, 1.0, 0.5, 0.25, 64, reassigned, stale, duplicates, LearningRate: 0.1 / step, GradNorm: 3.0 * step);

    [Fact]
    public void A_meter_listener_sees_every_instrument_and_the_step_figures()
    {
        using var meter = new TrainingMeter();
        var names = new List<string>();
        var measurements = new List<(string Name, double Value, string? Phase)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter.Meter))
            {
                names.Add(instrument.Name);
                l.EnableMeasurementEvents(instrument);
            }
        };
        void OnMeasurement<T>(Instrument i, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            string? phase = null;
            foreach (var t in tags)
            {
                phase = t.Key == "phase" ? (string?)t.Value : phase;
            }

            measurements.Add((i.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), phase));
        }

        listener.SetMeasurementEventCallback<long>(OnMeasurement);
        listener.SetMeasurementEventCallback<double>(OnMeasurement);
        listener.SetMeasurementEventCallback<int>(OnMeasurement);
        listener.Start();

        Assert.Equal("DistBackprop", meter.Meter.Name);
        Assert.Equal(
            new[]
            {
                "distbackprop.accuracy", "distbackprop.grad_norm", "distbackprop.loss", "distbackprop.lr", "distbackprop.samples", "distbackprop.samples_per_second",
                "distbackprop.shards.duplicate", "distbackprop.shards.reassigned", "distbackprop.shards.stale", "distbackprop.step.duration",
                "distbackprop.steps", "distbackprop.test.accuracy", "distbackprop.test.loss", "distbackprop.val.accuracy", "distbackprop.val.loss", "distbackprop.workers",
            },
            names.Order(StringComparer.Ordinal));

        meter.Record(Report(1, stale: 0, duplicates: 0, reassigned: 0));
        meter.Record(Report(2, stale: 3, duplicates: 1, reassigned: 2));
        meter.Record(Report(3, stale: 3, duplicates: 4, reassigned: 0));
        meter.Record(new EpochEvaluated(0, 3, 0.7, 0.8, 0.6, 0.9, 100));
        meter.Record(new EpochEvaluated(1, 6, 0.7, 0.8, double.NaN, double.NaN, 0, ValLoss: 0.55, ValAccuracy: 0.85, ValSamples: 80, BestValEpoch: 1));
        meter.Record(new ClusterStatus(3, 0, 10, 5, 2, 64, "m", [new WorkerStatus("a", "x", "ready", 1, 1, 0, 0), new WorkerStatus("b", "y", "left", 1, 1, 0, 0)]));

        double Sum(string name) => measurements.Where(m => m.Name == name).Sum(m => m.Value);
        double Last(string name) => measurements.Last(m => m.Name == name).Value;
        Assert.Equal(3, Sum("distbackprop.steps"));
        Assert.Equal(192, Sum("distbackprop.samples"));
        Assert.Equal(2.0 / 3, Last("distbackprop.loss"));
        Assert.Equal(0.75, Last("distbackprop.accuracy"));
        Assert.Equal(3000, Last("distbackprop.samples_per_second"));
        Assert.Equal(3, Sum("distbackprop.shards.stale"));
        Assert.Equal(4, Sum("distbackprop.shards.duplicate"));
        Assert.Equal(2, Sum("distbackprop.shards.reassigned"));
        Assert.Equal(0.9, Last("distbackprop.test.accuracy"));
        Assert.Equal(0.6, Last("distbackprop.test.loss")); // an epoch without a test set leaves the test gauges alone
        Assert.Equal(0.55, Last("distbackprop.val.loss"));
        Assert.Equal(0.85, Last("distbackprop.val.accuracy"));
        Assert.Single(measurements, m => m.Name == "distbackprop.val.loss");
        Assert.Equal(0.1 / 3, Last("distbackprop.lr"));
        Assert.Equal(9.0, Last("distbackprop.grad_norm"));
        Assert.Equal(1, Last("distbackprop.workers")); // the status counts ready workers only
        var phases = measurements.Where(m => m.Name == "distbackprop.step.duration").ToList();
        Assert.Equal(12, phases.Count);
        Assert.Equal(3 * 4.0, phases.Where(p => p.Phase == "compute").Sum(p => p.Value));
        Assert.Equal(3 * 0.25, phases.Where(p => p.Phase == "wait").Sum(p => p.Value));
        Assert.Equal(["compute", "serialize", "transport", "wait"], phases.Select(p => p.Phase!).Distinct().Order(StringComparer.Ordinal));
    }
}
