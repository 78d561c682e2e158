// Dropout and label smoothing in Mlp<double>, checked in float64 (STYLE 7): backprop with a fixed dropout mask against central
// differences of the loss with that same mask (every hidden activation, one and two hidden layers, and through chunked shards);
// the label-smoothed softmax-ce loss and gradient against torch's CrossEntropyLoss(label_smoothing = ε) written out by hand;
// and evaluation (Forward, Evaluate) never dropping anything. Leaves out: the mask generator (Tensors/PhiloxTests).
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.MathChecks;

public class RegularizationGradientTests(ITestOutputHelper output)
{
    public static TheoryData<Activation, int, float> DropoutCases()
    {
        var data = new TheoryData<Activation, int, float>();
        foreach (var a in Enum.GetValues<Activation>())
        {
            data.Add(a, 1, 0.5f);
            data.Add(a, 2, 0.3f);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(DropoutCases))]
    public void Dropout_backprop_with_a_fixed_mask_matches_central_differences(Activation activation, int hiddenLayers, float p)
    {
        int[] sizes = hiddenLayers == 1 ? [5, 7, 3] : [5, 7, 6, 3];
        var spec = new ModelSpec(sizes, activation, LossKind.SoftmaxCrossEntropy) { Regularization = new Regularization(p, 0, Seed: 4) };
        const int rows = 6;
        var data = Blobs(rows);
        var mlp = new Mlp<double>(spec, rows);
        var theta = Parameters(spec, 3);
        mlp.LoadRows(data, Enumerable.Range(0, rows).ToArray(), training: true);

        // a fixed mask, drawn once (as a step would) and then held while the loss is differentiated numerically
        mlp.ForwardTraining(theta, rows, step: 7);
        var dropped = 0;
        for (var l = 0; l < hiddenLayers; l++)
        {
            dropped += mlp.DropoutMask(l)[..(rows * sizes[l + 1])].ToArray().Count(m => m == 0);
            Assert.All(mlp.DropoutMask(l)[..(rows * sizes[l + 1])].ToArray(), m => Assert.True(m == 0 || m == 1 / (1 - (double)p)));
        }

        Assert.True(dropped > 0, "the mask must drop something for the check to mean anything");
        var analytic = new double[spec.ParameterCount];
        mlp.LossAndOutputDelta(rows);
        mlp.Backward(theta, analytic, rows);

        double Loss(double[] t)
        {
            mlp.ForwardWithMasks(t, rows);
            return mlp.LossAndOutputDelta(rows).LossSum;
        }

        var (worst, checkedCount) = CompareWithDifferences(theta, analytic, Loss);
        output.WriteLine($"{activation}, {hiddenLayers} hidden, p = {p}: {dropped} units dropped, max relative error {worst:E2} over {checkedCount} parameters");
        Assert.True(checkedCount >= spec.ParameterCount * 9 / 10, $"only {checkedCount} of {spec.ParameterCount} checked");
        Assert.True(worst < 1e-6, $"max relative error {worst:E3}");
    }

    [Fact]
    public void A_shard_in_chunks_draws_the_same_masks_as_in_one_piece()
    {
        // MaxRows 2 (three chunks) against MaxRows 6 (one): the masks are keyed by the sample, so only the order of
        // additions differs (float64: agree to rounding)
        var spec = new ModelSpec([5, 7, 3], Activation.Tanh, LossKind.SoftmaxCrossEntropy) { Regularization = new Regularization(0.4f, 0.1f, Seed: 2) };
        var data = Blobs(6);
        var theta = Parameters(spec, 1);
        int[] rows = [5, 0, 3, 2, 4, 1];
        var whole = new double[spec.ParameterCount];
        var chunked = new double[spec.ParameterCount];
        var a = new Mlp<double>(spec, 6).ComputeGradient(theta, whole, data, rows, step: 3, default(NoLayerDone));
        var b = new Mlp<double>(spec, 2).ComputeGradient(theta, chunked, data, rows, step: 3, default(NoLayerDone));
        Assert.Equal(a.LossSum, b.LossSum, 1e-12);
        Assert.Equal(a.Correct, b.Correct);
        for (var i = 0; i < whole.Length; i++)
        {
            Assert.Equal(whole[i], chunked[i], 1e-12);
        }

        var other = new double[spec.ParameterCount];
        new Mlp<double>(spec, 6).ComputeGradient(theta, other, data, rows, step: 4, default(NoLayerDone));
        Assert.NotEqual(whole, other); // another step, other masks
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.25f)]
    public void Label_smoothing_matches_torch_cross_entropy_with_label_smoothing(float epsilon)
    {
        // torch: loss_i = (1 − ε)·(−log p_{i,y_i}) + (ε/K)·Σ_k (−log p_{i,k});  ∂loss_i/∂z_i = p_i − ((1 − ε)·onehot(y_i) + ε/K)
        var spec = new ModelSpec([5, 6, 4], Activation.Relu, LossKind.SoftmaxCrossEntropy) { Regularization = new Regularization(0, epsilon) };
        const int rows = 5, k = 4;
        var data = Blobs(rows, classes: k);
        var theta = Parameters(spec, 8);
        var mlp = new Mlp<double>(spec, rows);
        mlp.LoadRows(data, Enumerable.Range(0, rows).ToArray(), training: true);
        mlp.ForwardTraining(theta, rows, step: 0);
        var logits = mlp.Activations(1, rows).ToArray();
        var stats = mlp.LossAndOutputDelta(rows);
        var delta = mlp.Deltas(1, rows).ToArray();

        double expectedLoss = 0, plainLoss = 0;
        for (var r = 0; r < rows; r++)
        {
            var z = logits.AsSpan(r * k, k).ToArray();
            var max = z.Max();
            var logSum = max + Math.Log(z.Sum(v => Math.Exp(v - max)));
            var y = data.Labels[r];
            expectedLoss += ((1 - (double)epsilon) * (logSum - z[y])) + (epsilon / (double)k * z.Sum(v => logSum - v));
            plainLoss += logSum - z[y];
            for (var j = 0; j < k; j++)
            {
                var target = ((1 - (double)epsilon) * (j == y ? 1 : 0)) + (epsilon / (double)k);
                Assert.Equal(Math.Exp(z[j] - logSum) - target, delta[(r * k) + j], 1e-7); // the targets are stored as T: ε/K rounds in float
            }
        }

        output.WriteLine($"ε = {epsilon}: loss {stats.LossSum:R} vs torch {expectedLoss:R}");
        Assert.Equal(expectedLoss, stats.LossSum, 1e-7);

        // and the gradient of that loss, end to end
        var analytic = new double[spec.ParameterCount];
        mlp.Backward(theta, analytic, rows);
        double Loss(double[] t)
        {
            mlp.Forward(t, rows); // the targets stay smoothed: LoadRows set them
            return mlp.LossAndOutputDelta(rows).LossSum;
        }

        var (worst, _) = CompareWithDifferences(theta, analytic, Loss);
        Assert.True(worst < 1e-6, $"max relative error {worst:E3}");

        // evaluation loads hard targets: plain cross-entropy, accuracy by label
        mlp.LoadRows(data, Enumerable.Range(0, rows).ToArray());
        mlp.Forward(theta, rows);
        var hard = mlp.LossAndOutputDelta(rows);
        Assert.Equal(plainLoss, hard.LossSum, 1e-9);
        Assert.Equal(stats.Correct, hard.Correct);
    }

    [Fact]
    public void Evaluation_never_drops_units()
    {
        var plain = new ModelSpec([5, 7, 6, 3], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var dropped = plain with { Regularization = new Regularization(0.5f, 0.2f) };
        var data = Blobs(9);
        var theta = Initializer.Create(plain, 2);
        var indices = Enumerable.Range(0, 9).ToArray();
        var a = new Mlp<float>(plain, 4).Evaluate(theta, data, indices);
        var b = new Mlp<float>(dropped, 4).Evaluate(theta, data, indices);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Label_smoothing_with_another_loss_is_refused()
    {
        var spec = new ModelSpec([5, 7, 3], Activation.Relu, LossKind.Mse) { Regularization = new Regularization(0, 0.1f) };
        var e = Assert.Throws<ArgumentException>(() => new Mlp<float>(spec, 2));
        Assert.Contains("--label-smoothing needs --loss softmax-ce", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Central differences of <paramref name="loss"/> (a sum over rows) against <paramref name="analytic"/> (the same sum's gradient);
    /// parameters whose two one-sided slopes disagree (a relu kink inside ±h) are skipped.</summary>
    private static (double Worst, int Checked) CompareWithDifferences(double[] theta, double[] analytic, Func<double[], double> loss)
    {
        const double h = 1e-6;
        var probe = theta.ToArray();
        double worst = 0;
        var count = 0;
        var center = loss(probe);
        for (var i = 0; i < theta.Length; i++)
        {
            probe[i] = theta[i] + h;
            var up = loss(probe);
            probe[i] = theta[i] - h;
            var down = loss(probe);
            probe[i] = theta[i];
            double right = (up - center) / h, left = (center - down) / h;
            if (Math.Abs(right - left) > 1e-3 * Math.Max(1, Math.Abs(right)))
            {
                continue; // a kink
            }

            var numeric = (up - down) / (2 * h);
            worst = Math.Max(worst, Math.Abs(numeric - analytic[i]) / Math.Max(1e-3, Math.Abs(numeric) + Math.Abs(analytic[i])));
            count++;
        }

        return (worst, count);
    }

    private static double[] Parameters(ModelSpec spec, int seed)
    {
        var p = Initializer.Create(spec, seed).Select(v => (double)v).ToArray();
        var rng = new DeterministicRandom((ulong)seed);
        for (var i = 0; i < p.Length; i++)
        {
            p[i] += 0.1 * rng.NextGaussian(); // non-zero biases, no unit dead by accident
        }

        return p;
    }

    private static Dataset Blobs(int n, int classes = 3) => MathAssert.Blobs(n, 5, classes, seed: 7);
}
