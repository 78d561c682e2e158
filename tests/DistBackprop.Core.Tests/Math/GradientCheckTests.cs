// GradientCheck on every hidden activation × loss × depth: backprop (float64) against central
// differences, and float32 backprop against float64 backprop; plus the one-neuron textbook case.
using DistBackprop.Core.Model;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.MathChecks;

public class GradientCheckTests(ITestOutputHelper output)
{
    public static TheoryData<Activation, LossKind, int> Cases()
    {
        var data = new TheoryData<Activation, LossKind, int>();
        foreach (var a in Enum.GetValues<Activation>())
        {
            foreach (var l in Enum.GetValues<LossKind>())
            {
                for (var hidden = 1; hidden <= 3; hidden++)
                {
                    data.Add(a, l, hidden);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Backprop_matches_central_differences(Activation activation, LossKind loss, int hiddenLayers)
    {
        // 5 inputs → hidden widths 6, 4, 5 (as many as asked) → 3 outputs
        int[] widths = [6, 4, 5];
        var sizes = new List<int> { 5 };
        sizes.AddRange(widths.Take(hiddenLayers));
        sizes.Add(3);
        var spec = new ModelSpec(sizes, activation, loss);

        var report = GradientCheck.Run(spec, seed: 11, rows: 7);

        output.WriteLine(report.ToString());
        Assert.Equal(spec.ParameterCount, report.Checked + report.SkippedAtKink);
        Assert.True(report.SkippedAtKink <= spec.ParameterCount / 20, $"{report.SkippedAtKink} parameters skipped at kinks");
        Assert.True(report.MaxRelativeError < 1e-6, report.ToString());
        Assert.True(report.MaxFloat32Error < 1e-4, report.ToString());
        Assert.True(report.Passed, report.ToString());
    }

    [Fact]
    public void A_relu_unit_sitting_on_its_kink_is_skipped_and_counted()
    {
        // 2 → 2 relu → 2 softmax-ce, one row x = (0, 0.5). Unit 0 of layer 0 has Z = 1·0 + 0·0.5 + 0 = 0 exactly:
        // nudging its bias or W[0,1] by +h turns it on, so those two central differences straddle the kink
        // (backprop says 0, the difference says half the one-sided slope) and must be skipped, not failed.
        var spec = new ModelSpec([2, 2, 2], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        float[] parameters =
        [
            1, 0, 0, 1,         // layers.0.weight
            0, 0.3f,            // layers.0.bias
            0.7f, -0.4f, 0.2f, 0.9f, // layers.1.weight
            0.1f, -0.1f,        // layers.1.bias
        ];
        float[] x = [0, 0.5f];
        float[] y = [0, 1];

        var report = GradientCheck.Run(spec, 1, parameters, x, y, rows: 1, new GradientCheckOptions());

        output.WriteLine(report.ToString());
        Assert.Equal(2, report.SkippedAtKink);
        Assert.Equal(2, report.Tensors.Single(t => t.Name == "layers.0.weight").SkippedAtKink + report.Tensors.Single(t => t.Name == "layers.0.bias").SkippedAtKink);
        Assert.Equal(spec.ParameterCount - 2, report.Checked);
        Assert.True(report.Passed, report.ToString());
    }

    [Fact]
    public void Big_models_check_a_seeded_sample_and_the_report_names_every_tensor()
    {
        var spec = new ModelSpec([30, 20, 10], Activation.Tanh, LossKind.SoftmaxCrossEntropy);
        var options = new GradientCheckOptions(MaxParameters: 60);

        var a = GradientCheck.Run(spec, seed: 3, rows: 4, options);
        var b = GradientCheck.Run(spec, seed: 3, rows: 4, options);

        output.WriteLine(a.ToString());
        Assert.Equal(60, a.Checked + a.SkippedAtKink);
        Assert.Equal(a.Tensors.Select(t => t.Checked), b.Tensors.Select(t => t.Checked));
        Assert.Equal(a.MaxRelativeError, b.MaxRelativeError);
        Assert.Equal(["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"], a.Tensors.Select(t => t.Name));
        Assert.Equal([600, 20, 200, 10], a.Tensors.Select(t => t.Count));
        var text = a.ToString();
        Assert.Contains("layers.1.bias", text, StringComparison.Ordinal);
        Assert.Contains("PASS", text, StringComparison.Ordinal);
        Assert.True(a.Passed, text);
    }

    [Fact]
    public void A_wrong_gradient_fails_the_check()
    {
        // The check must be able to fail: targets that are not one-hot break the softmax-ce identity dZ = A − Y
        // (true only when Σ_k y_k = 1), so backprop no longer matches the loss it differentiates.
        var spec = new ModelSpec([3, 4, 2], Activation.Sigmoid, LossKind.SoftmaxCrossEntropy);
        var parameters = Initializer.Create(spec, 5);
        float[] x = [0.1f, -0.4f, 0.9f, 0.5f, 0.2f, -0.3f];
        float[] y = [1, 1, 0, 1];

        var report = GradientCheck.Run(spec, 1, parameters, x, y, rows: 2, new GradientCheckOptions());

        output.WriteLine(report.ToString());
        Assert.False(report.Passed);
        Assert.True(report.MaxRelativeError > 1e-2, report.ToString());
        Assert.StartsWith("FAIL", report.Summary, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void One_sigmoid_neuron_with_cross_entropy_has_the_textbook_gradient(int rows)
    {
        // J = (1/B) Σ_i −[t log a + (1−t) log(1−a)],  a = σ(w·x + b)  ⇒  ∂J/∂w = (1/B) Σ_i (a − t)·x,  ∂J/∂b = (1/B) Σ_i (a − t)
        const int n = 4;
        var spec = new ModelSpec([n, 1], Activation.Relu, LossKind.SigmoidCrossEntropy);
        double[] w = [0.3, -0.8, 0.5, 0.1, /* b */ -0.2];
        double[,] x = { { 1.0, 0.5, -1.5, 2.0 }, { -0.3, 0.2, 0.7, -1.1 }, { 0.9, -0.6, 0.4, 0.05 } };
        double[] t = [1, 0, 1];

        var mlp = new Mlp<double>(spec, rows);
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < n; i++)
            {
                mlp.Input[(r * n) + i] = x[r, i];
            }

            mlp.Target[r] = t[r];
        }

        var grad = new double[spec.ParameterCount];
        mlp.Forward(w, rows);
        var stats = mlp.LossAndOutputDelta(rows);
        mlp.Backward(w, grad, rows);

        var expected = new double[n + 1];
        double loss = 0;
        for (var r = 0; r < rows; r++)
        {
            var z = w[n];
            for (var i = 0; i < n; i++)
            {
                z += w[i] * x[r, i];
            }

            var a = 1 / (1 + System.Math.Exp(-z));
            loss += -((t[r] * System.Math.Log(a)) + ((1 - t[r]) * System.Math.Log(1 - a)));
            for (var i = 0; i < n; i++)
            {
                expected[i] += (a - t[r]) * x[r, i] / rows;
            }

            expected[n] += (a - t[r]) / rows;
        }

        double maxDiff = 0;
        for (var i = 0; i <= n; i++)
        {
            maxDiff = System.Math.Max(maxDiff, System.Math.Abs((grad[i] / rows) - expected[i]));
        }

        output.WriteLine($"max |∂J/∂θ − (a − t)·x| = {maxDiff:E3}");
        Assert.True(maxDiff <= 1e-15, $"max diff {maxDiff:E3}");
        Assert.Equal(loss / rows, stats.LossSum / rows, 1e-14);
    }
}
