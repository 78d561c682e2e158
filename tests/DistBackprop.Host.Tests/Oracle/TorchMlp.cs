// The float64 oracle for `train` runs on a 784-32-10 relu MLP: what PyTorch computes for
//   model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
//   loss = nn.CrossEntropyLoss(label_smoothing=ε)                                  (mean over the batch)
//   opt = SGD([{weights, weight_decay: λ}, {biases, weight_decay: 0}], lr, momentum, nesterov) | Adam(same groups, lr)
//   sched = SequentialLR([LinearLR(f, W), StepLR | CosineAnnealingLR], [W])       (MathChecks.TorchSchedulers)
//   for x, t in DataLoader(data, batch_size=B, shuffle=False):
//       opt.zero_grad(); loss(model(x), t).backward()
//       n = clip_grad_norm_(model.parameters(), X)                                 (when clipping)
//       opt.step(); sched.step()
// written out with loops, independent of DistBackprop's code (no Core call). Leaves out: dropout (random by nature; its
// invariance is tested bit for bit instead) and every other architecture.
using DistBackprop.Core.Tests.MathChecks;

namespace DistBackprop.Host.Tests.Oracle;

/// <summary>Hyperparameters of one oracle run (names as the command-line options).</summary>
public sealed record TorchRun(
    string Optimizer = "sgd",
    double Lr = 0.1,
    double Momentum = 0.9,
    double WeightDecay = 0,
    string Schedule = "constant",
    int StepSize = 0,
    double Gamma = 0.1,
    double LrMin = 0,
    int Warmup = 0,
    double WarmupFactor = 1.0 / 3,
    double? Clip = null,
    double LabelSmoothing = 0);

internal sealed class TorchMlp
{
    private const int In = 784, Hidden = 32, K = 10;
    private readonly TorchRun _run;
    private readonly double[][] _p;                      // W1 [32, 784], b1 [32], W2 [10, 32], b2 [10]: ParameterLayout order
    private readonly bool[] _isWeight = [true, false, true, false];
    private readonly double[][] _buf = new double[4][];  // momentum_buffer, or Adam's exp_avg
    private readonly double[][] _sq = new double[4][];   // Adam's exp_avg_sq
    private readonly TorchSchedulers _schedule;
    private int _t;

    public TorchMlp(float[] flat, TorchRun run, long totalSteps)
    {
        _run = run;
        var p = flat.Select(v => (double)v).ToArray();
        int w1 = Hidden * In, b1 = w1 + Hidden, w2 = b1 + (K * Hidden);
        _p = [p[..w1], p[w1..b1], p[b1..w2], p[w2..]];
        _schedule = new TorchSchedulers(run.Lr, run.Schedule, totalSteps, run.StepSize, run.Gamma, run.LrMin, run.Warmup, run.WarmupFactor);
    }

    /// <summary>Per step: the lr it used and total_norm (before clipping).</summary>
    public List<(double Lr, double Norm)> Steps { get; } = new();

    public int ClippedSteps { get; private set; }

    public double[] Flat() => _p.SelectMany(x => x).ToArray();

    /// <summary>One optimizer step on the samples <paramref name="rows"/> (pixels/255, labels).</summary>
    public void Step(byte[] images, byte[] labels, IReadOnlyList<int> rows)
    {
        var g = Gradients(images, labels, rows);

        // clip_grad_norm_: total_norm = ‖(‖g_p‖)_p‖₂; clip_coef = max_norm / (total_norm + 1e-6), clamped to 1
        var norm = Math.Sqrt(g.Sum(t => t.Sum(v => v * v)));
        if (_run.Clip is double max && max / (norm + 1e-6) < 1)
        {
            ClippedSteps++;
            foreach (var t in g)
            {
                for (var i = 0; i < t.Length; i++)
                {
                    t[i] *= max / (norm + 1e-6);
                }
            }
        }

        var lr = _schedule.Lr;
        Steps.Add((lr, norm));
        _t++;
        for (var p = 0; p < 4; p++)
        {
            Update(p, g[p], lr);
        }

        _schedule.Step();
    }

    // torch/optim/sgd.py _single_tensor_sgd and adam.py _single_tensor_adam, for one parameter tensor
    private void Update(int p, double[] grad, double lr)
    {
        var w = _p[p];
        var wd = _isWeight[p] ? _run.WeightDecay : 0;
        var d = grad.Select((x, i) => x + (wd * w[i])).ToArray(); // grad = grad.add(param, alpha = weight_decay)
        if (_run.Optimizer == "adam")
        {
            const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
            var m = _buf[p] ??= new double[w.Length];
            var v = _sq[p] ??= new double[w.Length];
            var bc1 = 1 - Math.Pow(b1, _t);
            var bc2 = 1 - Math.Pow(b2, _t);
            for (var i = 0; i < w.Length; i++)
            {
                m[i] += (d[i] - m[i]) * (1 - b1);
                v[i] = (b2 * v[i]) + ((1 - b2) * d[i] * d[i]);
                w[i] -= lr / bc1 * m[i] / ((Math.Sqrt(v[i]) / Math.Sqrt(bc2)) + eps);
            }

            return;
        }

        if (_run.Optimizer is "momentum" or "nesterov")
        {
            var buf = _buf[p];
            if (buf is null)
            {
                buf = _buf[p] = (double[])d.Clone(); // first step: buf = clone(grad)
            }
            else
            {
                for (var i = 0; i < w.Length; i++)
                {
                    buf[i] = (_run.Momentum * buf[i]) + d[i];
                }
            }

            for (var i = 0; i < w.Length; i++)
            {
                d[i] = _run.Optimizer == "nesterov" ? d[i] + (_run.Momentum * buf[i]) : buf[i];
            }
        }

        for (var i = 0; i < w.Length; i++)
        {
            w[i] -= lr * d[i];
        }
    }

    // autograd of the mean label-smoothed cross-entropy: ∂/∂logits = (softmax − ((1 − ε)·onehot + ε/K)) / N
    private double[][] Gradients(byte[] images, byte[] labels, IReadOnlyList<int> rows)
    {
        double[] w1 = _p[0], c1 = _p[1], w2 = _p[2], c2 = _p[3];
        double[] gw1 = new double[w1.Length], gc1 = new double[Hidden], gw2 = new double[w2.Length], gc2 = new double[K];
        var eps = _run.LabelSmoothing;
        foreach (var s in rows)
        {
            var x = new double[In];
            for (var i = 0; i < In; i++)
            {
                x[i] = images[(s * In) + i] / 255.0;
            }

            // h = relu(x·W1ᵀ + b1);  logits = h·W2ᵀ + b2
            var z1 = new double[Hidden];
            var h = new double[Hidden];
            for (var j = 0; j < Hidden; j++)
            {
                z1[j] = c1[j];
                for (var i = 0; i < In; i++)
                {
                    z1[j] += w1[(j * In) + i] * x[i];
                }

                h[j] = Math.Max(0, z1[j]);
            }

            var z2 = new double[K];
            for (var k = 0; k < K; k++)
            {
                z2[k] = c2[k];
                for (var j = 0; j < Hidden; j++)
                {
                    z2[k] += w2[(k * Hidden) + j] * h[j];
                }
            }

            var max = z2.Max();
            var sum = z2.Sum(z => Math.Exp(z - max));
            var dh = new double[Hidden];
            for (var k = 0; k < K; k++)
            {
                var target = ((1 - eps) * (labels[s] == k ? 1 : 0)) + (eps / K);
                var dz = ((Math.Exp(z2[k] - max) / sum) - target) / rows.Count;
                gc2[k] += dz;
                for (var j = 0; j < Hidden; j++)
                {
                    gw2[(k * Hidden) + j] += dz * h[j];
                    dh[j] += dz * w2[(k * Hidden) + j];
                }
            }

            for (var j = 0; j < Hidden; j++)
            {
                var dz = z1[j] > 0 ? dh[j] : 0;
                gc1[j] += dz;
                for (var i = 0; i < In; i++)
                {
                    gw1[(j * In) + i] += dz * x[i];
                }
            }
        }

        return [gw1, gc1, gw2, gc2];
    }
}
