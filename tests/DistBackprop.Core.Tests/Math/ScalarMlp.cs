// An independent oracle for the MLP: per-sample scalar loops in double, written straight from
// SPEC §2 without Mlp, Gemm, ParameterLayout or TensorPrimitives. Parameter order is the flat
// layout's definition (layer by layer: W (Out, In) row-major, then b (Out)), re-derived here.
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Tests.MathChecks;

internal sealed class ScalarMlp
{
    private readonly int[] _sizes;
    private readonly Activation _hidden;
    private readonly LossKind _loss;

    public ScalarMlp(int[] sizes, Activation hidden, LossKind loss)
    {
        _sizes = sizes;
        _hidden = hidden;
        _loss = loss;
    }

    public ScalarMlp(ModelSpec spec)
        : this(spec.Sizes, spec.Hidden, spec.Loss)
    {
    }

    private int Layers => _sizes.Length - 1;

    /// <summary>The mean gradient ∂J/∂θ over <paramref name="rows"/>, J = (1/B) Σ loss; returns J too.</summary>
    public (double[] Gradient, double Loss) Gradient(double[] theta, Dataset data, IReadOnlyList<int> rows)
    {
        var grad = new double[theta.Length];
        double loss = 0;
        var batch = rows.Count;
        var k = _sizes[^1];
        foreach (var row in rows)
        {
            // forward: z_l[o] = b_l[o] + Σ_i W_l[o, i]·a_{l−1}[i];  a_l = g(z_l)
            var z = new double[Layers][];
            var a = new double[Layers + 1][];
            a[0] = new double[_sizes[0]];
            for (var i = 0; i < _sizes[0]; i++)
            {
                a[0][i] = data.Features[(row * _sizes[0]) + i];
            }

            var offset = 0;
            var wOffset = new int[Layers];
            for (var l = 0; l < Layers; l++)
            {
                int inputs = _sizes[l], outputs = _sizes[l + 1];
                wOffset[l] = offset;
                z[l] = new double[outputs];
                a[l + 1] = new double[outputs];
                for (var o = 0; o < outputs; o++)
                {
                    var sum = theta[offset + (outputs * inputs) + o];
                    for (var i = 0; i < inputs; i++)
                    {
                        sum += theta[offset + (o * inputs) + i] * a[l][i];
                    }

                    z[l][o] = sum;
                    a[l + 1][o] = l < Layers - 1 ? G(sum) : sum;
                }

                offset += (outputs * inputs) + outputs;
            }

            // output activation and loss
            var y = new double[k];
            if (k == 1)
            {
                y[0] = data.Labels[row];
            }
            else
            {
                y[data.Labels[row]] = 1;
            }

            var zo = z[Layers - 1];
            var ao = a[Layers];
            switch (_loss)
            {
                case LossKind.SoftmaxCrossEntropy:
                    {
                        var max = zo.Max();
                        var sum = zo.Sum(v => System.Math.Exp(v - max));
                        for (var j = 0; j < k; j++)
                        {
                            ao[j] = System.Math.Exp(zo[j] - max) / sum;
                            loss -= y[j] * System.Math.Log(ao[j]);
                        }

                        break;
                    }

                case LossKind.SigmoidCrossEntropy:
                    for (var j = 0; j < k; j++)
                    {
                        ao[j] = 1 / (1 + System.Math.Exp(-zo[j]));
                        loss -= (y[j] * System.Math.Log(ao[j])) + ((1 - y[j]) * System.Math.Log(1 - ao[j]));
                    }

                    break;
                default:
                    for (var j = 0; j < k; j++)
                    {
                        loss += 0.5 * (ao[j] - y[j]) * (ao[j] - y[j]);
                    }

                    break;
            }

            // backward: δ_L = (a − y)/B;  ∂W_l[o,i] += δ_l[o]·a_{l−1}[i];  ∂b_l[o] += δ_l[o];  δ_{l−1}[i] = g′(z_{l−1}[i])·Σ_o δ_l[o]·W_l[o,i]
            var delta = new double[k];
            for (var j = 0; j < k; j++)
            {
                delta[j] = (ao[j] - y[j]) / batch;
            }

            for (var l = Layers - 1; l >= 0; l--)
            {
                int inputs = _sizes[l], outputs = _sizes[l + 1];
                var w = wOffset[l];
                var previous = new double[inputs];
                for (var o = 0; o < outputs; o++)
                {
                    for (var i = 0; i < inputs; i++)
                    {
                        grad[w + (o * inputs) + i] += delta[o] * a[l][i];
                        previous[i] += delta[o] * theta[w + (o * inputs) + i];
                    }

                    grad[w + (outputs * inputs) + o] += delta[o];
                }

                if (l > 0)
                {
                    for (var i = 0; i < inputs; i++)
                    {
                        previous[i] *= GPrime(z[l - 1][i]);
                    }
                }

                delta = previous;
            }
        }

        return (grad, loss / batch);
    }

    private double G(double z) => _hidden switch
    {
        Activation.Relu => z > 0 ? z : 0,
        Activation.LeakyRelu => z > 0 ? z : 0.01 * z,
        Activation.Sigmoid => 1 / (1 + System.Math.Exp(-z)),
        _ => System.Math.Tanh(z),
    };

    private double GPrime(double z) => _hidden switch
    {
        Activation.Relu => z > 0 ? 1 : 0,
        Activation.LeakyRelu => z > 0 ? 1 : 0.01,
        Activation.Sigmoid => G(z) * (1 - G(z)),
        _ => 1 - (System.Math.Tanh(z) * System.Math.Tanh(z)),
    };
}
