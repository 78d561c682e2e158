// How many threads a kernel may use. Kernels split work over output rows/columns only, so a
// result never depends on the thread count (SPEC §3). Leaves out: scheduling policy details
// (see Run), which the kernels issue may replace with a persistent pool.
namespace DistBackprop.Core.Tensors;

/// <summary>
/// A fixed set of threads for kernels. <see cref="Run"/> calls <c>body(part, parts)</c> for
/// <c>part = 0 .. parts-1</c>, possibly in parallel, and returns when all are done.
/// With <see cref="Threads"/> = 1 everything runs inline on the caller.
/// </summary>
public sealed class KernelPool : IDisposable
{
    public static readonly KernelPool Single = new(1);

    public KernelPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
    }

    public int Threads { get; }

    /// <summary>Runs <paramref name="body"/> for parts 0..parts-1 and waits.</summary>
    public void Run<TState>(int parts, TState state, Action<int, TState> body)
    {
        if (parts <= 1 || Threads == 1)
        {
            for (var p = 0; p < parts; p++)
            {
                body(p, state);
            }

            return;
        }

        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = Threads }, p => body(p, state));
    }

    public void Dispose()
    {
    }
}
