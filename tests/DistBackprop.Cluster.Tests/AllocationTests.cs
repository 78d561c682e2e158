// Issue 6 / issue 4 item 8: a training step must not allocate a gradient (or weights) array per shard. Measured as
// GC.GetTotalAllocatedBytes over 60 steps of local mode (every thread: coordinator, workers, Akka), divided by
// the steps, for a ~100k-parameter model whose gradient (407 KB) is a large-object-heap allocation. Before the
// buffer pools a step allocated (1 + S) such arrays. Runs alone (no parallel tests allocating meanwhile).
// Leaves out: timing of any kind.
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationCollection;

[Collection(nameof(AllocationTests))]
public class AllocationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_local_step_allocates_far_less_than_one_gradient()
    {
        var spec = new ModelSpec([784, 128, 10], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var data = TestData.Blobs(512, features: 784, classes: 10);
        var gradientBytes = 4L * spec.ParameterCount;
        var local = await BytesPerStep(spec, data, serializeMessages: false);
        var serialized = await BytesPerStep(spec, data, serializeMessages: true);
        output.WriteLine($"{spec.ParameterCount} parameters, gradient {gradientBytes / 1024.0:F0} KiB, S = 4, 2 workers");
        output.WriteLine($"local mode: {local / 1024.0:F1} KiB allocated per step ({(double)local / gradientBytes:F3} gradients)");
        output.WriteLine($"every message through the serializers (as over TCP): {serialized / 1024.0:F1} KiB per step ({(double)serialized / gradientBytes:F2} gradients)");
        Assert.True(local < gradientBytes / 4, $"local mode allocates {local} bytes per step, a gradient is {gradientBytes}");
    }

    private static async Task<long> BytesPerStep(ModelSpec spec, Core.Data.Dataset data, bool serializeMessages)
    {
        const int first = 20, last = 80;
        long at20 = 0, at80 = 0;
        var config = new TrainingConfig(spec, new OptimizerSettings(OptimizerKind.Sgd, LearningRate: 0.01f), BatchSize: 64, Epochs: null, MaxSteps: last,
            Seed: 3, Shuffle: true, Shards: 4);
        await LocalTraining.RunLocalAsync(new TrainingState(config, data.Count, Initializer.Create(spec, 5)), data, new LocalTrainingOptions
        {
            Workers = 2,
            Akka = new DistBackpropAkkaOptions { SerializeMessages = serializeMessages },
            Events = e =>
            {
                if (e is StepReport { Step: first })
                {
                    at20 = GC.GetTotalAllocatedBytes(precise: true);
                }
                else if (e is StepReport { Step: last })
                {
                    at80 = GC.GetTotalAllocatedBytes(precise: true);
                }
            },
        });
        return (at80 - at20) / (last - first);
    }
}
