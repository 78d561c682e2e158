// The coordinator's update on a pool of workers × kernel threads threads, from one weights buffer into the other
// (Core's StepUpdate through TrainingState.CompleteStep): local mode ends bit-identical to the reference loop (one
// thread) for a model big enough to be split over the threads, with the workers reading the state's weights
// buffers directly and through the serializer. Leaves out: the element-wise bits (Core StepUpdateTests).
using DistBackprop.Cluster.Hosting;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public sealed class CoordinatorUpdateTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(OptimizerKind.Momentum, 2, 1, false)]
    [InlineData(OptimizerKind.Adam, 2, 1, true)]
    [InlineData(OptimizerKind.Nesterov, 1, 3, false)]
    public async Task Local_mode_with_a_parallel_update_matches_the_reference_loop_bit_for_bit(OptimizerKind kind, int workers, int threads, bool serialize)
    {
        var spec = new ModelSpec([400, 100, 4], Activation.Relu, LossKind.SoftmaxCrossEntropy); // 40,504 parameters: 5 update chunks
        var data = TestData.Blobs(256, features: 400);
        var config = TestData.Config(shards: 3, steps: 12, kind, spec) with
        {
            Optimizer = new OptimizerSettings(kind, LearningRate: kind == OptimizerKind.Adam ? 1e-3f : 0.05f, WeightDecay: 0.01f),
        };
        var options = TestData.Local(workers, threads);
        var result = await LocalTraining.RunLocalAsync(new TrainingState(config, data.Count, Initializer.Create(spec, 5)), data, new LocalTrainingOptions
        {
            Workers = options.Workers,
            ThreadsPerWorker = options.ThreadsPerWorker,
            Akka = new DistBackpropAkkaOptions { SerializeMessages = serialize },
        });

        var diff = TestData.FirstDifference(TestData.Reference(config, data), result.Parameters);
        output.WriteLine($"{kind}, {workers} workers × {threads} threads (update on {workers * threads}), serialized {serialize}: {diff}");
        Assert.Equal(12, result.Steps.Count);
        Assert.True(diff == "identical", $"vs reference: {diff}");
    }
}
