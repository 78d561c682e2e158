// A persistent set of kernel threads: Threads − 1 workers plus the calling thread. Kernels split
// work over output rows/columns only, so a result never depends on the thread count or on which
// thread ran which part (SPEC §3). Steady-state Run allocates nothing: no closures, no Tasks.
// Leaves out: choosing the partition (each kernel decides by shape) and nested or concurrent Run
// on one pool (a pool serves one caller at a time; Run throws if entered twice).
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace DistBackprop.Core.Tensors;

/// <summary>
/// A fixed set of threads for kernels. <see cref="Run"/> calls <c>body(part, state)</c> for
/// <c>part = 0 .. parts-1</c>, possibly in parallel, and returns when all are done.
/// With <see cref="Threads"/> = 1 everything runs inline on the caller.
/// </summary>
/// <remarks>
/// Workers spin briefly after a job (kernels come in quick succession during a training step), then
/// block on an event, so an idle pool costs no CPU. Parts are handed out first come, first served;
/// a kernel must therefore make each part's result independent of which thread runs it.
/// </remarks>
public sealed class KernelPool : IDisposable
{
    /// <summary>A pool of one thread: every Run executes inline. Safe to share between callers.</summary>
    public static readonly KernelPool Single = new(1);

    private static readonly long SpinTicks = Stopwatch.Frequency / 20_000; // ~50 µs before blocking

    private readonly Worker[] _workers;
    private readonly ManualResetEventSlim _done = new(false);
    private JobBase? _job;
    private int _parts;
    private int _next;
    private int _pending;
    private int _busy;
    private volatile bool _disposed;
    private Exception? _failure;

    public KernelPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _workers = new Worker[threads - 1];
        for (var i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Worker(this, i);
        }
    }

    /// <summary>Threads that run parts, the caller included.</summary>
    public int Threads { get; }

    /// <summary>Bytes allocated so far by the pool's own threads (each reads its counter after its share of a Run): lets a
    /// test check that the kernels allocate nothing on any thread, without the process-wide counter's noise.</summary>
    internal long HelperAllocatedBytes
    {
        get
        {
            long sum = 0;
            foreach (var w in _workers)
            {
                sum += w.AllocatedBytes;
            }

            return sum;
        }
    }

    /// <summary>Runs <paramref name="body"/> for parts 0..parts-1 and waits. Pass a static lambda.</summary>
    public void Run<TState>(int parts, TState state, Action<int, TState> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (parts <= 1 || Threads == 1)
        {
            for (var p = 0; p < parts; p++)
            {
                body(p, state);
            }

            return;
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            throw new InvalidOperationException("KernelPool.Run is already running: a pool serves one caller at a time.");
        }

        // One cached job object per state type and calling thread: no allocation after the first call.
        var job = JobCache<TState>.Job ??= new Job<TState>();
        job.State = state;
        job.Body = body;
        try
        {
            var helpers = Math.Min(parts - 1, _workers.Length);
            _job = job;
            _parts = parts;
            _next = 0;
            _failure = null;
            Volatile.Write(ref _pending, helpers);
            for (var i = 0; i < helpers; i++)
            {
                _workers[i].Wake();
            }

            RunParts(job);
            WaitForHelpers();
            if (_failure is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }
        }
        finally
        {
            job.State = default!;
            job.Body = null;
            _job = null;
            Volatile.Write(ref _busy, 0);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var w in _workers)
        {
            w.Wake();
        }

        foreach (var w in _workers)
        {
            w.Join();
        }

        _done.Dispose();
    }

    private void RunParts(JobBase job)
    {
        try
        {
            int p;
            while ((p = Interlocked.Increment(ref _next) - 1) < _parts)
            {
                job.Execute(p);
            }
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, e, null);
            Volatile.Write(ref _next, int.MaxValue / 2); // stop handing out parts
        }
    }

    private void WaitForHelpers()
    {
        var start = Stopwatch.GetTimestamp();
        var spins = 0;
        while (Volatile.Read(ref _pending) != 0)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks)
            {
                Pause(ref spins);
                continue;
            }

            // The last helper sets _done after its decrement; a stale set from an earlier Run only
            // makes this loop check _pending once more.
            _done.Wait();
            _done.Reset();
        }
    }

    // Spin, but let another ready thread have the core now and then: with more kernel threads than
    // free cores, pure spinning would keep the thread we wait for off the CPU.
    private static void Pause(ref int spins)
    {
        if ((++spins & 7) == 0)
        {
            Thread.Yield();
        }
        else
        {
            Thread.SpinWait(8);
        }
    }

    private void HelperFinished()
    {
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            _done.Set();
        }
    }

    private abstract class JobBase
    {
        public abstract void Execute(int part);
    }

    private sealed class Job<TState> : JobBase
    {
        public TState State = default!;
        public Action<int, TState>? Body;

        public override void Execute(int part) => Body!(part, State);
    }

    private static class JobCache<TState>
    {
        [ThreadStatic]
        public static Job<TState>? Job;
    }

    private sealed class Worker
    {
        private readonly KernelPool _pool;
        private readonly Thread _thread;
        private readonly ManualResetEventSlim _wake = new(false);
        private int _generation;
        private long _allocated;

        public Worker(KernelPool pool, int index)
        {
            _pool = pool;
            _thread = new Thread(Loop) { IsBackground = true, Name = $"KernelPool worker {index + 1}" };
            _thread.Start();
        }

        public long AllocatedBytes => Volatile.Read(ref _allocated);

        public void Wake()
        {
            Interlocked.Increment(ref _generation);
            _wake.Set();
        }

        public void Join()
        {
            _thread.Join();
            _wake.Dispose();
        }

        private void Loop()
        {
            var seen = 0;
            while (true)
            {
                var start = Stopwatch.GetTimestamp();
                var spins = 0;
                while (Volatile.Read(ref _generation) == seen)
                {
                    if (Stopwatch.GetTimestamp() - start < SpinTicks)
                    {
                        Pause(ref spins);
                        continue;
                    }

                    // Only this worker resets its event, and it re-checks the generation afterwards,
                    // so a wake-up is never lost.
                    _wake.Wait();
                    _wake.Reset();
                }

                seen = Volatile.Read(ref _generation);
                if (_pool._disposed)
                {
                    return;
                }

                _pool.RunParts(_pool._job!);
                Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread()); // before the caller can return
                _pool.HelperFinished();
            }
        }
    }
}
