// Shared setup for the benchmarks: random operands for the three GEMM shapes and a ready-to-run
// Mlp<float> train step (LoadRows + Forward + LossAndOutputDelta + Backward) for the SPEC §8 workloads.
// Leaves out: the actor trainer (`distbackprop bench` measures that end to end).
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Benchmarks;

public enum GemmShape
{
    /// <summary>Y = X·Wᵀ</summary>
    XWt,

    /// <summary>dW += dYᵀ·X</summary>
    DyTX,

    /// <summary>dX = dY·W</summary>
    DyW,
}

/// <summary>One GEMM with its operands: B rows, In inputs, Out outputs (2·B·In·Out flops).</summary>
public sealed class GemmCase(int rows, int inputs, int outputs)
{
    private readonly float[] _x = Random(rows * inputs, 1);
    private readonly float[] _w = Random(outputs * inputs, 2);
    private readonly float[] _y = Random(rows * outputs, 3);
    private readonly float[] _dx = new float[rows * inputs];
    private readonly float[] _dw = new float[outputs * inputs];

    public double Flops => 2.0 * rows * inputs * outputs;

    public void Run(GemmShape shape, KernelPool pool)
    {
        switch (shape)
        {
            case GemmShape.XWt:
                Gemm.XWt<float>(_x, _w, _y, rows, inputs, outputs, pool);
                break;
            case GemmShape.DyTX:
                Gemm.AccumulateDyTX<float>(_y, _x, _dw, rows, inputs, outputs, pool);
                break;
            default:
                Gemm.DyW<float>(_y, _w, _dx, rows, inputs, outputs, pool);
                break;
        }
    }

    internal static float[] Random(int n, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var v = new float[n];
        for (var i = 0; i < n; i++)
        {
            v[i] = (float)rng.NextDouble(-1, 1);
        }

        return v;
    }
}

/// <summary>A SPEC §8 workload: one Mlp&lt;float&gt; train step over a batch of random data.</summary>
public sealed class TrainStep
{
    public static readonly (string Name, int[] Layers, Activation Hidden, int Batch)[] Workloads =
    [
        ("seed", [400, 25, 10], Activation.Sigmoid, 64),
        ("mnist", [784, 256, 128, 10], Activation.Relu, 128),
        ("wide", [784, 1024, 1024, 10], Activation.Relu, 256),
    ];

    private readonly Mlp<float> _mlp;
    private readonly Dataset _data;
    private readonly float[] _parameters;
    private readonly float[] _gradient;
    private readonly int[] _indices;

    /// <param name="dropout">p &gt; 0: the training forward pass with dropout masks drawn for each step (its cost).</param>
    public TrainStep(int workload, KernelPool pool, float dropout = 0)
    {
        var (_, layers, hidden, batch) = Workloads[workload];
        var spec = new ModelSpec(layers, hidden, LossKind.SoftmaxCrossEntropy)
        {
            Regularization = dropout > 0 ? new Regularization(dropout, 0, 1) : Regularization.None,
        };
        const int samples = 8192;
        var labels = new int[samples];
        var rng = new DeterministicRandom(9);
        for (var i = 0; i < samples; i++)
        {
            labels[i] = rng.NextInt(spec.Outputs);
        }

        _data = new Dataset("random", GemmCase.Random(samples * spec.Inputs, 8), labels, spec.Inputs, spec.Outputs);
        _parameters = Initializer.Create(spec, 1);
        _gradient = new float[spec.ParameterCount];
        _indices = new int[batch];
        _mlp = new Mlp<float>(spec, batch, pool);
        Batch = batch;
        Weights = spec.ParameterCount;
    }

    public int Batch { get; }

    public int Weights { get; }

    private int _step;

    /// <summary>Seconds per call of each phase (load, forward, loss, backward), medians over <paramref name="n"/> steps.</summary>
    public double[] Phases(int n)
    {
        var t = new double[4][];
        for (var p = 0; p < 4; p++)
        {
            t[p] = new double[n];
        }

        for (var i = 0; i < n; i++)
        {
            var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            _mlp.LoadRows(_data, _indices);
            var t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            _mlp.Forward(_parameters, Batch);
            var t2 = System.Diagnostics.Stopwatch.GetTimestamp();
            _mlp.LossAndOutputDelta(Batch);
            var t3 = System.Diagnostics.Stopwatch.GetTimestamp();
            _mlp.Backward(_parameters, _gradient, Batch);
            var t4 = System.Diagnostics.Stopwatch.GetTimestamp();
            t[0][i] = t1 - t0;
            t[1][i] = t2 - t1;
            t[2][i] = t3 - t2;
            t[3][i] = t4 - t3;
        }

        return [.. t.Select(v => v.Order().ElementAt(n / 2) / System.Diagnostics.Stopwatch.Frequency)];
    }

    public void Run()
    {
        // consecutive batches through the data, like an unshuffled epoch
        var start = (_step++ * Batch) % (_data.Count - Batch);
        for (var i = 0; i < _indices.Length; i++)
        {
            _indices[i] = start + i;
        }

        _mlp.LoadRows(_data, _indices, training: true);
        _mlp.ForwardTraining(_parameters, Batch, _step);
        _mlp.LossAndOutputDelta(Batch);
        _mlp.Backward(_parameters, _gradient, Batch);
    }
}
