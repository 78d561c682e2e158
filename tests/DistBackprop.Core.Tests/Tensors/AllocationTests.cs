// A float32 training step allocates nothing in steady state, on one thread and with a kernel pool:
// LoadRows + Forward + LossAndOutputDelta + Backward, then ComputeGradient with a per-layer listener
// (an object, as the worker's streaming one), 20 times after a warm-up. Runs alone (the
// process-wide counter would see other tests' allocations).
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Tensors;

[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationTestsCollection
{
}

[Collection(nameof(AllocationTests))]
public sealed class AllocationTests(ITestOutputHelper output)
{
    private const int Windows = 5;

    [Theory]
    [InlineData(1, Activation.Relu)]
    [InlineData(2, Activation.Relu)]
    [InlineData(2, Activation.Sigmoid)]
    [InlineData(3, Activation.Tanh)]
    public void Train_step_allocates_nothing_after_warm_up(int threads, Activation hidden)
    {
        using var pool = new KernelPool(threads);
        var spec = new ModelSpec([100, 96, 64, 10], hidden, LossKind.SoftmaxCrossEntropy);
        const int rows = 48;
        var data = RandomData(spec.Inputs, spec.Outputs, 200);
        var parameters = Initializer.Create(spec, 3);
        var gradient = new float[spec.ParameterCount];
        var indices = Enumerable.Range(10, rows).ToArray();
        var mlp = new Mlp<float>(spec, rows, pool);
        var listener = new CountingListener();

        void Step()
        {
            mlp.LoadRows(data, indices);
            mlp.Forward(parameters, rows);
            mlp.LossAndOutputDelta(rows);
            mlp.Backward(parameters, gradient, rows);
            mlp.ComputeGradient(parameters, gradient, data, indices, listener);
        }

        for (var i = 0; i < 30; i++)
        {
            Step();
        }

        // Five windows of 20 steps; the smallest counts, so a stray allocation by the test runner's own
        // threads (the process-wide counter sees them) cannot fail the test, but a per-step one would.
        long thread = long.MaxValue, total = long.MaxValue;
        for (var window = 0; window < Windows; window++)
        {
            var thread0 = GC.GetAllocatedBytesForCurrentThread();
            var total0 = GC.GetTotalAllocatedBytes(true);
            for (var i = 0; i < 20; i++)
            {
                Step();
            }

            thread = Math.Min(thread, GC.GetAllocatedBytesForCurrentThread() - thread0);
            total = Math.Min(total, GC.GetTotalAllocatedBytes(true) - total0);
        }

        Assert.Equal((30 + (Windows * 20)) * spec.LayerCount, listener.Calls);
        output.WriteLine($"threads={threads} {hidden}: this thread {thread} B, process {total} B over 20 steps");
        Assert.Equal(0, thread);
        if (threads > 1)
        {
            // the pool's worker threads: the process-wide counter
            Assert.True(total == 0, $"{total} bytes allocated process-wide over 20 steps");
        }
    }

    private sealed class CountingListener : ILayerDone
    {
        public int Calls { get; private set; }

        public void LayerDone(int layer) => Calls++;
    }

    private static Dataset RandomData(int features, int classes, int n)
    {
        var rng = new DeterministicRandom(5);
        var x = new float[n * features];
        var y = new int[n];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (float)rng.NextDouble();
        }

        for (var i = 0; i < n; i++)
        {
            y[i] = rng.NextInt(classes);
        }

        return new Dataset("random", x, y, features, classes);
    }
}
