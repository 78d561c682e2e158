// BenchmarkDotNet classes: the three GEMM shapes at n = 1024 and at the SPEC §8 workload shapes,
// and a whole Mlp<float> train step, each at 1 and 2 kernel threads.
using BenchmarkDotNet.Attributes;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Benchmarks;

[MemoryDiagnoser]
public class GemmBenchmarks
{
    private GemmCase _case = null!;
    private KernelPool _pool = null!;

    // (B, In, Out): square 1024; mnist layer 1; wide layers 1 and 2
    [Params("1024x1024x1024", "128x784x256", "256x784x1024", "256x1024x1024")]
    public string Shape { get; set; } = "";

    [Params(GemmShape.XWt, GemmShape.DyTX, GemmShape.DyW)]
    public GemmShape Op { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var d = Shape.Split('x').Select(int.Parse).ToArray();
        _case = new GemmCase(d[0], d[1], d[2]);
        _pool = new KernelPool(Threads);
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    [Benchmark]
    public void Gemm() => _case.Run(Op, _pool);
}

[MemoryDiagnoser]
public class TrainStepBenchmarks
{
    private TrainStep _step = null!;
    private KernelPool _pool = null!;

    [Params(0, 1, 2)]
    public int Workload { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = new KernelPool(Threads);
        _step = new TrainStep(Workload, _pool);
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    [Benchmark]
    public void Step() => _step.Run();
}
