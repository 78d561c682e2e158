// The persistent kernel pool: every part runs exactly once, on up to Threads threads, failures reach
// the caller, a pool serves one caller at a time, and Dispose stops the workers.
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Tests.Tensors;

public sealed class KernelPoolTests
{
    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(3, 17)]
    public void Every_part_runs_exactly_once(int threads, int parts)
    {
        using var pool = new KernelPool(threads);
        for (var round = 0; round < 50; round++)
        {
            var counts = new int[parts];
            pool.Run(parts, counts, static (p, c) => Interlocked.Increment(ref c[p]));
            Assert.All(counts, c => Assert.Equal(1, c));
        }
    }

    [Fact]
    public void Parts_run_on_several_threads()
    {
        using var pool = new KernelPool(3);
        var seen = new int[3];
        var ids = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        for (var round = 0; round < 200 && ids.Count < 2; round++)
        {
            pool.Run(3, ids, static (_, d) =>
            {
                d[Environment.CurrentManagedThreadId] = true;
                Thread.Sleep(1);
            });
        }

        Assert.True(ids.Count >= 2, $"only {ids.Count} thread(s) ran parts");
    }

    [Fact]
    public void A_failing_part_throws_on_the_caller_and_the_pool_still_works()
    {
        using var pool = new KernelPool(2);
        var e = Assert.Throws<InvalidOperationException>(() => pool.Run(4, 3, static (p, bad) =>
        {
            if (p == bad)
            {
                throw new InvalidOperationException("part 3 failed");
            }
        }));
        Assert.Equal("part 3 failed", e.Message);

        var counts = new int[4];
        pool.Run(4, counts, static (p, c) => Interlocked.Increment(ref c[p]));
        Assert.All(counts, c => Assert.Equal(1, c));
    }

    [Fact]
    public void Nested_run_on_the_same_pool_is_refused()
    {
        using var pool = new KernelPool(2);
        Assert.Throws<InvalidOperationException>(() => pool.Run(2, pool, static (_, p) => p.Run(2, 0, static (_, _) => { })));
    }

    [Fact]
    public void Dispose_stops_the_workers_and_later_runs_fail()
    {
        var pool = new KernelPool(3);
        pool.Run(3, 0, static (_, _) => { });
        pool.Dispose();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Run(2, 0, static (_, _) => { }));
    }

    [Fact]
    public void Threads_below_one_are_rejected()
    {
        Assert.Equal("threads", Assert.Throws<ArgumentOutOfRangeException>(() => new KernelPool(0)).ParamName);
    }
}
