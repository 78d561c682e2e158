// SPEC §3 in local mode: with the same S, 1, 2 and 4 workers give bit-identical weights equal to the
// reference loop; with S = workers the results agree within 1e-5 relative; a rerun is bit-identical.
// Every message crosses a serializer (serialize-messages on).
using DistBackprop.Cluster.Hosting;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public class LocalDeterminismTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Same_shards_give_bit_identical_weights_for_1_2_4_workers_equal_to_the_reference()
    {
        var data = TestData.Blobs();
        var config = TestData.Config(shards: 4);
        var reference = TestData.Reference(config, data);

        foreach (var workers in new[] { 1, 2, 4 })
        {
            var state = new TrainingState(config, data.Count, Initializer.Create(config.Spec, 5));
            var result = await LocalTraining.RunLocalAsync(state, data, TestData.Local(workers, threads: workers == 2 ? 2 : 1));
            Assert.Equal(40, result.Steps.Count);
            Assert.False(result.Summary.Stopped);
            var diff = TestData.FirstDifference(reference, result.Parameters);
            output.WriteLine($"{workers} worker(s): {diff}; last loss {result.Summary.LastLoss:F5}");
            Assert.True(diff == "identical", $"{workers} worker(s) vs reference: {diff}");
        }
    }

    [Fact]
    public async Task Default_shards_agree_within_tolerance_and_a_rerun_is_bit_identical()
    {
        var data = TestData.Blobs();
        var results = new Dictionary<int, float[]>();
        foreach (var workers in new[] { 1, 2, 4 })
        {
            var config = TestData.Config(shards: workers, steps: 100);
            var r = await LocalTraining.RunLocalAsync(config, data, Initializer.Create(config.Spec, 5), workers, 1);
            results[workers] = r.Parameters;
        }

        foreach (var workers in new[] { 2, 4 })
        {
            var rel = TestData.RelativeDistance(results[1], results[workers]);
            output.WriteLine($"S=1 vs S={workers}: ‖Δw‖/‖w‖ = {rel:E3}");
            Assert.True(rel <= 1e-5, $"S=1 vs S={workers}: ‖Δw‖/‖w‖ = {rel:E3} > 1e-5");
        }

        var again = await LocalTraining.RunLocalAsync(TestData.Config(shards: 4, steps: 100), data, Initializer.Create(TestData.Spec, 5), 4, 1);
        var diff = TestData.FirstDifference(results[4], again.Parameters);
        Assert.True(diff == "identical", $"rerun: {diff}");
    }
}
