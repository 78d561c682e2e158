// A float32 training step allocates nothing in steady state, on one thread and with a kernel pool:
// LoadRows + Forward + LossAndOutputDelta + Backward, then ComputeGradient with a per-layer listener
// (an object, as the worker's streaming one), 5 × 20 times after a warm-up, counted on this thread and on each of
// the pool's threads (KernelPool.HelperAllocatedBytes); also with dropout and label smoothing (masks drawn every step).
// Runs alone, so the timing of other tests stays out.
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
    [Theory]
    [InlineData(1, Activation.Relu, false)]
    [InlineData(2, Activation.Relu, false)]
    [InlineData(2, Activation.Sigmoid, false)]
    [InlineData(3, Activation.Tanh, false)]
    [InlineData(1, Activation.Relu, true)]
    [InlineData(2, Activation.Tanh, true)]
    public void Train_step_allocates_nothing_after_warm_up(int threads, Activation hidden, bool regularized)
    {
        using var pool = new KernelPool(threads);
        var spec = new ModelSpec([230, 96, 64, 10], hidden, LossKind.SoftmaxCrossEntropy)
        {
            Regularization = regularized ? new Regularization(0.2f, 0.1f, Seed: 4) : Regularization.None,
        };
        const int rows = 48;
        Assert.True((long)rows * 230 * 96 >= Gemm.Blocked.MinParallelWork, "the first layer no longer reaches the pool's helpers");
        var data = RandomData(spec.Inputs, spec.Outputs, 200);
        var parameters = Initializer.Create(spec, 3);
        var gradient = new float[spec.ParameterCount];
        var indices = Enumerable.Range(10, rows).ToArray();
        var mlp = new Mlp<float>(spec, rows, pool);
        var listener = new CountingListener();
        long step = 0;

        void Step()
        {
            mlp.LoadRows(data, indices, training: true);
            mlp.ForwardTraining(parameters, rows, step);
            mlp.LossAndOutputDelta(rows);
            mlp.Backward(parameters, gradient, rows);
            mlp.ComputeGradient(parameters, gradient, data, indices, step++, listener);
        }

        for (var i = 0; i < 30; i++)
        {
            Step();
        }

        // Counted on every thread that runs the step: this one, and the pool's helpers (each reads its own counter),
        // not process-wide (under CPU contention the runtime and the test runner allocate on threads of their own).
        // Five windows of 20 steps; the smallest counts: a one-time runtime event (a method tiering up on a helper
        // thread) lands in one window, a per-step allocation in every window.
        long thread = long.MaxValue, helpers = long.MaxValue;
        for (var window = 0; window < 5; window++)
        {
            var thread0 = GC.GetAllocatedBytesForCurrentThread();
            var helpers0 = pool.HelperAllocatedBytes;
            for (var i = 0; i < 20; i++)
            {
                Step();
            }

            thread = Math.Min(thread, GC.GetAllocatedBytesForCurrentThread() - thread0);
            helpers = Math.Min(helpers, pool.HelperAllocatedBytes - helpers0);
        }

        Assert.Equal(130 * spec.LayerCount, listener.Calls);
        output.WriteLine($"threads={threads} {hidden}{(regularized ? " dropout + smoothing" : string.Empty)}: this thread {thread} B, pool threads {helpers} B over 20 steps (least of 5 windows)");
        Assert.Equal(0, thread);
        Assert.Equal(0, helpers);
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
