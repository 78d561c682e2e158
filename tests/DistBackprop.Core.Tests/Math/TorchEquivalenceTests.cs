// "PyTorch by hand": a 4-3-2 relu network trained 3 steps (batch 4, file order) by ReferenceTrainer,
// against an independent double-precision transcription of what PyTorch does for
//   model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2));  loss = nn.CrossEntropyLoss()  (mean)
//   opt = torch.optim.SGD([{params: weights, weight_decay: λ}, {params: biases, weight_decay: 0}],
//                         lr, momentum, dampening=0, nesterov)      or   torch.optim.Adam(same groups, lr, betas=(0.9, 0.999), eps=1e-8)
//   for x, t in DataLoader(data, batch_size=4, shuffle=False): opt.zero_grad(); loss(model(x), t).backward(); opt.step()
// The update rules below follow torch/optim/sgd.py (_single_tensor_sgd) and adam.py (_single_tensor_adam).
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.MathChecks;

public class TorchEquivalenceTests(ITestOutputHelper output)
{
    public static TheoryData<OptimizerKind, float, float> Optimizers() => new()
    {
        { OptimizerKind.Sgd, 0.1f, 0f },
        { OptimizerKind.Momentum, 0.1f, 0f },
        { OptimizerKind.Nesterov, 0.1f, 0f },
        { OptimizerKind.Adam, 0.01f, 0f },
        { OptimizerKind.Sgd, 0.1f, 0.05f },
        { OptimizerKind.Momentum, 0.1f, 0.05f },
        { OptimizerKind.Nesterov, 0.1f, 0.05f },
        { OptimizerKind.Adam, 0.01f, 0.05f },
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void Three_steps_match_a_hand_written_pytorch(OptimizerKind kind, float lr, float weightDecay)
    {
        var data = MathAssert.Blobs(12, 4, 2, seed: 5);
        var spec = new ModelSpec([4, 3, 2], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var initial = Initializer.Create(spec, 8);
        for (var i = 0; i < initial.Length; i++)
        {
            initial[i] += 0.05f * ((i % 5) - 2); // non-zero biases too, and no unit dead by accident
        }

        var settings = new OptimizerSettings(kind, lr, Momentum: 0.9f, WeightDecay: weightDecay);
        var config = new TrainingConfig(spec, settings, BatchSize: 4, Epochs: 1, Seed: 1, Shuffle: false, Shards: 2);
        var trainer = new ReferenceTrainer(config, data, (float[])initial.Clone());
        var torch = new TorchNet(initial, settings);

        double worst = 0;
        for (var step = 0; step < 3; step++)
        {
            trainer.RunStep();
            torch.Step(data, [4 * step, (4 * step) + 1, (4 * step) + 2, (4 * step) + 3]);
            var flat = torch.Flat();
            var layout = spec.Layout;
            for (var l = 0; l < 2; l++)
            {
                var pw = layout.Weight<float>(trainer.State.Parameters, l);
                var pb = layout.Bias<float>(trainer.State.Parameters, l);
                var ew = flat.AsSpan(layout.WeightOffset(l), layout.WeightLength(l));
                var eb = flat.AsSpan(layout.BiasOffset(l), layout.BiasLength(l));
                worst = System.Math.Max(worst, MathAssert.Close(pw, ew, 1e-5, $"step {step + 1} {ParameterLayout.WeightName(l)}"));
                worst = System.Math.Max(worst, MathAssert.Close(pb, eb, 1e-5, $"step {step + 1} {ParameterLayout.BiasName(l)}"));
            }
        }

        output.WriteLine($"{kind} lr {lr} weight decay {weightDecay}: max scaled weight error over 3 steps {worst:E2}");
        Assert.True(trainer.State.IsFinished);
    }

    /// <summary>nn.Linear(4,3) → ReLU → nn.Linear(3,2), CrossEntropyLoss(mean), and the torch.optim rules, in double.</summary>
    private sealed class TorchNet
    {
        private readonly OptimizerSettings _s;
        private readonly double[][] _params;      // [W1 (3,4), b1 (3), W2 (2,3), b2 (2)]
        private readonly bool[] _isWeight = [true, false, true, false];
        private readonly double[]?[] _buf = new double[4][];   // momentum_buffer, or Adam's exp_avg
        private readonly double[]?[] _sq = new double[4][];    // Adam's exp_avg_sq
        private int _t;

        public TorchNet(float[] flat, OptimizerSettings settings)
        {
            _s = settings;
            var p = flat.Select(v => (double)v).ToArray();
            _params = [p[0..12], p[12..15], p[15..21], p[21..23]];
        }

        public double[] Flat() => _params.SelectMany(p => p).ToArray();

        public void Step(Dataset data, int[] rows)
        {
            var grads = Backward(data, rows);
            _t++;
            double lr = _s.LearningRate, mu = _s.Momentum, b1 = _s.Beta1, b2 = _s.Beta2, eps = _s.Epsilon;
            for (var p = 0; p < 4; p++)
            {
                var w = _params[p];
                var wd = _isWeight[p] ? (double)_s.WeightDecay : 0;

                // d_p = grad + weight_decay · p
                var d = grads[p].Select((g, i) => g + (wd * w[i])).ToArray();
                if (_s.Kind == OptimizerKind.Adam)
                {
                    // exp_avg.lerp_(grad, 1 − β1); exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1 − β2)
                    var m = _buf[p] ??= new double[w.Length];
                    var v = _sq[p] ??= new double[w.Length];
                    var bc1 = 1 - System.Math.Pow(b1, _t);
                    var bc2 = 1 - System.Math.Pow(b2, _t);
                    var stepSize = lr / bc1;
                    for (var i = 0; i < w.Length; i++)
                    {
                        m[i] += (d[i] - m[i]) * (1 - b1);
                        v[i] = (b2 * v[i]) + ((1 - b2) * d[i] * d[i]);

                        // denom = exp_avg_sq.sqrt() / sqrt(bias_correction2) + eps;  p.addcdiv_(exp_avg, denom, −step_size)
                        var denom = (System.Math.Sqrt(v[i]) / System.Math.Sqrt(bc2)) + eps;
                        w[i] -= stepSize * m[i] / denom;
                    }

                    continue;
                }

                if (_s.Kind is OptimizerKind.Momentum or OptimizerKind.Nesterov)
                {
                    // buf = clone(d_p) on the first step, else buf.mul_(μ).add_(d_p, alpha = 1 − dampening)
                    var buf = _buf[p];
                    if (buf is null)
                    {
                        buf = _buf[p] = (double[])d.Clone();
                    }
                    else
                    {
                        for (var i = 0; i < w.Length; i++)
                        {
                            buf[i] = (mu * buf[i]) + d[i];
                        }
                    }

                    // nesterov: d_p = d_p + μ·buf;  else d_p = buf
                    for (var i = 0; i < w.Length; i++)
                    {
                        d[i] = _s.Kind == OptimizerKind.Nesterov ? d[i] + (mu * buf[i]) : buf[i];
                    }
                }

                // p.add_(d_p, alpha = −lr)
                for (var i = 0; i < w.Length; i++)
                {
                    w[i] -= lr * d[i];
                }
            }
        }

        // autograd of mean cross-entropy over the batch, written as the batched matrix products
        private double[][] Backward(Dataset data, int[] rows)
        {
            var n = rows.Length;
            double[] w1 = _params[0], c1 = _params[1], w2 = _params[2], c2 = _params[3];
            double[] gw1 = new double[12], gc1 = new double[3], gw2 = new double[6], gc2 = new double[2];
            for (var r = 0; r < n; r++)
            {
                var x = data.Row(rows[r]).ToArray().Select(v => (double)v).ToArray();

                // h = relu(x·W1ᵀ + b1);  logits = h·W2ᵀ + b2
                var z1 = new double[3];
                var h = new double[3];
                for (var o = 0; o < 3; o++)
                {
                    z1[o] = c1[o] + Enumerable.Range(0, 4).Sum(i => w1[(o * 4) + i] * x[i]);
                    h[o] = System.Math.Max(z1[o], 0);
                }

                var logits = new double[2];
                for (var o = 0; o < 2; o++)
                {
                    logits[o] = c2[o] + Enumerable.Range(0, 3).Sum(i => w2[(o * 3) + i] * h[i]);
                }

                // CrossEntropyLoss(mean): ∂/∂logits = (softmax − onehot(t)) / N
                var max = logits.Max();
                var e = logits.Select(v => System.Math.Exp(v - max)).ToArray();
                var dl = new double[2];
                for (var o = 0; o < 2; o++)
                {
                    dl[o] = ((e[o] / e.Sum()) - (data.Labels[rows[r]] == o ? 1 : 0)) / n;
                }

                // Linear backward: grad_W += dlᵀ·in, grad_b += dl, grad_in = dl·W;  ReLU backward: × (z > 0)
                var dh = new double[3];
                for (var o = 0; o < 2; o++)
                {
                    gc2[o] += dl[o];
                    for (var i = 0; i < 3; i++)
                    {
                        gw2[(o * 3) + i] += dl[o] * h[i];
                        dh[i] += dl[o] * w2[(o * 3) + i];
                    }
                }

                for (var o = 0; o < 3; o++)
                {
                    var dz = z1[o] > 0 ? dh[o] : 0;
                    gc1[o] += dz;
                    for (var i = 0; i < 4; i++)
                    {
                        gw1[(o * 4) + i] += dz * x[i];
                    }
                }
            }

            return [gw1, gc1, gw2, gc2];
        }
    }
}
