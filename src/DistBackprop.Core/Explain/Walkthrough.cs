// The numbers behind `distbackprop explain`: one SGD step on one row of a tiny In-H-K network,
// computed twice. The gradients shown are the product's own: Mlp<double>.Forward,
// LossAndOutputDelta and Backward (the same code that trains). Next to them, this file derives the
// chain-rule factors by hand in plain scalar loops, and a central finite difference checks each.
// Dimension letters: In = inputs, H = hidden units (one sigmoid layer), K = outputs.
//   z1 = W1·x + b1,  a1 = σ(z1),  z2 = W2·a1 + b2,  a2 = σ(z2) (sigmoid-ce) or softmax(z2) (softmax-ce)
//   δ2 = ∂J/∂z2 = ∂J/∂a2 · ∂a2/∂z2 = a2 − t,   δ1 = (W2ᵀ·δ2) ⊙ a1(1 − a1)
//   ∂J/∂W2 = δ2·a1ᵀ, ∂J/∂b2 = δ2, ∂J/∂W1 = δ1·xᵀ, ∂J/∂b1 = δ1,   θ_new = θ − α·∂J/∂θ
// Leaves out: wording and formatting (ExplainDocument), other activations/losses and deeper nets.
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Explain;

public static class Walkthrough
{
    /// <summary>h of the central difference (float64, as GradientCheck).</summary>
    public const double FiniteDifferenceStep = 1e-6;

    /// <summary>The learning rate `explain` uses unless --lr says otherwise.</summary>
    public const double DefaultLearningRate = 0.5;

    /// <summary>Runs the walkthrough: forward, deltas, gradients three ways, one update, then <paramref name="steps"/> updates in all.</summary>
    public static WalkthroughResult Run(ExplainExample example, double learningRate = DefaultLearningRate, int steps = 1)
    {
        ArgumentNullException.ThrowIfNull(example);
        Validate(example);
        if (!double.IsFinite(learningRate) || learningRate < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "must be finite and ≥ 0");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);

        var spec = example.Spec;
        var mlp = new Mlp<double>(spec, maxRows: 1);
        var theta = (double[])example.Parameters.Clone();
        var forward = Forward(mlp, example, theta);

        // The product's backward pass: dZ_out = a − t from LossAndOutputDelta (run inside Forward), then Backward.
        var grad = new double[spec.ParameterCount];
        mlp.Backward(theta, grad, 1);
        var delta2 = mlp.Deltas(1, 1).ToArray();
        var delta1 = mlp.Deltas(0, 1).ToArray();

        var output = OutputByHand(example, forward, delta2);
        var hidden = HiddenByHand(example, forward, output.ChainRule, delta1);
        var gradients = Gradients(example, mlp, theta, forward, output.ChainRule, hidden.ChainRule, grad, learningRate);

        // θ_new = θ − α·∂J/∂θ, with Mlp's gradient; then the loss at θ_new, and the further steps.
        var losses = new List<StepLoss> { new(0, forward.Loss) };
        var updated = gradients.Select(g => g.New).ToArray();
        var after = Forward(mlp, example, updated);
        losses.Add(new StepLoss(1, after.Loss));
        theta = updated;
        for (var s = 2; s <= steps; s++)
        {
            Array.Clear(grad);
            Forward(mlp, example, theta);
            mlp.Backward(theta, grad, 1);

            // θ ← θ − α·∂J/∂θ
            for (var p = 0; p < theta.Length; p++)
            {
                theta[p] -= learningRate * grad[p];
            }

            losses.Add(new StepLoss(s, Loss(mlp, example, theta)));
        }

        return new WalkthroughResult(example, learningRate, FiniteDifferenceStep, forward, output, hidden, gradients, after, losses);
    }

    private static void Validate(ExplainExample e)
    {
        var spec = e.Spec;
        if (spec.LayerCount != 2 || spec.Hidden != Activation.Sigmoid ||
            spec.Loss is not (LossKind.SigmoidCrossEntropy or LossKind.SoftmaxCrossEntropy))
        {
            throw new ArgumentException($"the walkthrough needs In,H,K with a sigmoid hidden layer and sigmoid-ce or softmax-ce (got {spec})", nameof(e));
        }

        if (e.Input.Length != spec.Inputs || e.Target.Length != spec.Outputs || e.Parameters.Length != spec.ParameterCount)
        {
            throw new ArgumentException(
                $"x has {e.Input.Length} (want {spec.Inputs}), t {e.Target.Length} (want {spec.Outputs}), θ {e.Parameters.Length} (want {spec.ParameterCount}) values",
                nameof(e));
        }
    }

    /// <summary>Mlp's forward + loss on the one row, plus the hand-written forward to compare and to supply z1.</summary>
    private static ForwardValues Forward(Mlp<double> mlp, ExplainExample e, double[] theta)
    {
        var spec = e.Spec;
        var layout = spec.Layout;
        int inputs = spec.Inputs, hidden = spec.Sizes[1], k = spec.Outputs;

        // The product's path: X and Y into the workspace, Forward, then LossAndOutputDelta (z2 → a2, J, dZ = a2 − t).
        e.Input.CopyTo(mlp.Input);
        e.Target.CopyTo(mlp.Target);
        mlp.Forward(theta, 1);
        var z2 = mlp.Activations(1, 1).ToArray();
        var stats = mlp.LossAndOutputDelta(1);
        var a1 = mlp.Activations(0, 1).ToArray();
        var a2 = mlp.Activations(1, 1).ToArray();

        // By hand.  z1_j = Σ_i W1[j,i]·x_i + b1_j,  a1_j = σ(z1_j)
        var w1 = layout.Weight<double>(theta, 0);
        var b1 = layout.Bias<double>(theta, 0);
        var z1 = new double[hidden];
        var handA1 = new double[hidden];
        for (var j = 0; j < hidden; j++)
        {
            var s = b1[j];
            for (var i = 0; i < inputs; i++)
            {
                s += w1[(j * inputs) + i] * e.Input[i];
            }

            z1[j] = s;
            handA1[j] = Sigmoid(s);
        }

        // z2_k = Σ_j W2[k,j]·a1_j + b2_k
        var w2 = layout.Weight<double>(theta, 1);
        var b2 = layout.Bias<double>(theta, 1);
        var handZ2 = new double[k];
        for (var o = 0; o < k; o++)
        {
            var s = b2[o];
            for (var j = 0; j < hidden; j++)
            {
                s += w2[(o * hidden) + j] * handA1[j];
            }

            handZ2[o] = s;
        }

        var handA2 = OutputActivation(spec.Loss, handZ2);

        // J = −Σ_k [t_k log a_k + (1 − t_k) log(1 − a_k)]  (sigmoid-ce)   or   −Σ_k y_k log a_k  (softmax-ce)
        var handLoss = 0.0;
        for (var o = 0; o < k; o++)
        {
            double t = e.Target[o], a = handA2[o];
            handLoss -= spec.Loss == LossKind.SigmoidCrossEntropy
                ? (t * Math.Log(a)) + ((1 - t) * Math.Log(1 - a))
                : t == 0 ? 0 : t * Math.Log(a);
        }

        var diff = Math.Max(
            Math.Max(WalkthroughResult.MaxAbs(a1, handA1), WalkthroughResult.MaxAbs(z2, handZ2)),
            Math.Max(WalkthroughResult.MaxAbs(a2, handA2), Math.Abs(stats.LossSum - handLoss)));
        return new ForwardValues(z1, a1, z2, a2, stats.LossSum, handLoss, diff);
    }

    private static double Loss(Mlp<double> mlp, ExplainExample e, double[] theta)
    {
        e.Input.CopyTo(mlp.Input);
        e.Target.CopyTo(mlp.Target);
        mlp.Forward(theta, 1);
        return mlp.LossAndOutputDelta(1).LossSum;
    }

    /// <summary>δ2 by the chain rule, from a2 and t only (not from Mlp's dZ).</summary>
    private static OutputDelta OutputByHand(ExplainExample e, ForwardValues f, double[] backprop)
    {
        var k = e.Spec.Outputs;
        var a = f.A2;
        var t = e.Target;
        var dJdA = new double[k];
        var jacobian = new double[k * k];
        for (var o = 0; o < k; o++)
        {
            if (e.Spec.Loss == LossKind.SigmoidCrossEntropy)
            {
                // ∂J/∂a = −t/a + (1 − t)/(1 − a) = (a − t)/(a(1 − a));   ∂a/∂z = a(1 − a) (diagonal)
                dJdA[o] = (a[o] - t[o]) / (a[o] * (1 - a[o]));
                jacobian[(o * k) + o] = a[o] * (1 - a[o]);
            }
            else
            {
                // ∂J/∂a_k = −y_k/a_k;   ∂a_k/∂z_j = a_k(1[k=j] − a_j)
                dJdA[o] = -t[o] / a[o];
                for (var j = 0; j < k; j++)
                {
                    jacobian[(o * k) + j] = a[o] * ((o == j ? 1 : 0) - a[j]);
                }
            }
        }

        // δ2_j = Σ_k ∂J/∂a_k · ∂a_k/∂z_j
        var chain = new double[k];
        for (var j = 0; j < k; j++)
        {
            for (var o = 0; o < k; o++)
            {
                chain[j] += dJdA[o] * jacobian[(o * k) + j];
            }
        }

        var aMinusT = new double[k];
        for (var o = 0; o < k; o++)
        {
            aMinusT[o] = a[o] - t[o];
        }

        return new OutputDelta(dJdA, jacobian, chain, aMinusT, backprop);
    }

    /// <summary>δ1 = (W2ᵀ·δ2) ⊙ a1(1 − a1), from the hand-derived δ2.</summary>
    private static HiddenDelta HiddenByHand(ExplainExample e, ForwardValues f, double[] delta2, double[] backprop)
    {
        int hidden = e.Spec.Sizes[1], k = e.Spec.Outputs;
        var w2 = e.Spec.Layout.Weight<double>(e.Parameters, 1);
        var back = new double[hidden];
        var prime = new double[hidden];
        var chain = new double[hidden];
        for (var j = 0; j < hidden; j++)
        {
            // (W2ᵀ·δ2)_j = Σ_k W2[k,j]·δ2_k
            for (var o = 0; o < k; o++)
            {
                back[j] += w2[(o * hidden) + j] * delta2[o];
            }

            prime[j] = f.A1[j] * (1 - f.A1[j]);
            chain[j] = back[j] * prime[j];
        }

        return new HiddenDelta(back, prime, chain, backprop);
    }

    /// <summary>One row per parameter, in flat order: the chain-rule product, Mlp's gradient, the finite difference, the update.</summary>
    private static List<GradientEntry> Gradients(
        ExplainExample e, Mlp<double> mlp, double[] theta, ForwardValues f, double[] delta2, double[] delta1, double[] grad, double alpha)
    {
        var spec = e.Spec;
        var layout = spec.Layout;
        var rows = new List<GradientEntry>(spec.ParameterCount);
        var probe = (double[])theta.Clone();
        for (var layer = 0; layer < 2; layer++)
        {
            int inputs = layout.InputsOf(layer), outputs = layout.OutputsOf(layer);
            var delta = layer == 0 ? delta1 : delta2;
            var source = layer == 0 ? e.Input : f.A1;
            var sourceName = layer == 0 ? "x" : "a1";

            // ∂J/∂W[o,i] = δ[o]·in[i]   (δ·inᵀ)
            for (var o = 0; o < outputs; o++)
            {
                for (var i = 0; i < inputs; i++)
                {
                    var p = layout.WeightOffset(layer) + (o * inputs) + i;
                    rows.Add(Entry($"W{layer + 1}[{o},{i}]", ParameterLayout.WeightName(layer), p,
                        $"δ{layer + 1}[{o}]", delta[o], $"{sourceName}[{i}]", source[i]));
                }
            }

            // ∂J/∂b[o] = δ[o]
            for (var o = 0; o < outputs; o++)
            {
                var p = layout.BiasOffset(layer) + o;
                rows.Add(Entry($"b{layer + 1}[{o}]", ParameterLayout.BiasName(layer), p, $"δ{layer + 1}[{o}]", delta[o], "1", 1.0));
            }
        }

        return rows;

        GradientEntry Entry(string name, string tensor, int p, string deltaName, double d, string inputName, double input)
        {
            // ∂J/∂θ_p ≈ (J(θ + h·e_p) − J(θ − h·e_p)) / 2h
            var h = FiniteDifferenceStep;
            probe[p] = theta[p] + h;
            var plus = Loss(mlp, e, probe);
            probe[p] = theta[p] - h;
            var minus = Loss(mlp, e, probe);
            probe[p] = theta[p];
            var numeric = (plus - minus) / (2 * h);
            var analytic = grad[p];
            var rel = Math.Abs(analytic - numeric) / Math.Max(Math.Max(Math.Abs(analytic), Math.Abs(numeric)), 1e-12);
            return new GradientEntry(name, tensor, p, deltaName, d, inputName, input, d * input, analytic, numeric, rel,
                theta[p], theta[p] - (alpha * analytic));
        }
    }

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    /// <summary>a = σ(z) per output (sigmoid-ce) or softmax(z) = e^(z_k − max) / Σ_j e^(z_j − max) (softmax-ce).</summary>
    private static double[] OutputActivation(LossKind loss, double[] z)
    {
        var a = new double[z.Length];
        if (loss == LossKind.SigmoidCrossEntropy)
        {
            for (var k = 0; k < z.Length; k++)
            {
                a[k] = Sigmoid(z[k]);
            }

            return a;
        }

        var max = z.Max();
        var sum = 0.0;
        for (var k = 0; k < z.Length; k++)
        {
            a[k] = Math.Exp(z[k] - max);
            sum += a[k];
        }

        for (var k = 0; k < z.Length; k++)
        {
            a[k] /= sum;
        }

        return a;
    }
}
