// The output layer's per-row work (Mlp.LossAndOutputDelta) on hand-made rows: softmax values, loss and dZ = A − Y
// against float64 formulas, and the prediction rule for the correct count (largest output, first on ties; a NaN row
// counts as predicting its NaN). Leaves out: gradients (GradientCheckTests).
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Tests.MathChecks;

public class OutputRowTests
{
    private static readonly ModelSpec Spec = new([2, 4], Activation.Relu, LossKind.SoftmaxCrossEntropy);

    [Fact]
    public void Softmax_loss_and_delta_match_the_float64_formulas()
    {
        float[] logits = [1.5f, -2.25f, 0.5f, 3f, -40f, 0f, 0f, 88f];
        int[] labels = [2, 3];
        var (stats, a, d) = Run(logits, labels);
        double expectedLoss = 0;
        for (var r = 0; r < 2; r++)
        {
            var row = logits.AsSpan(r * 4, 4).ToArray().Select(v => (double)v).ToArray();
            var max = row.Max();
            var sum = row.Sum(v => Math.Exp(v - max));
            expectedLoss += max + Math.Log(sum) - row[labels[r]];
            for (var k = 0; k < 4; k++)
            {
                var p = Math.Exp(row[k] - max) / sum;
                Assert.Equal(p, a[(r * 4) + k], 1e-6);
                Assert.Equal(p - (k == labels[r] ? 1 : 0), d[(r * 4) + k], 1e-6);
            }
        }

        Assert.Equal(expectedLoss, stats.LossSum, 1e-5);
        Assert.Equal(1, stats.Correct); // row 0 predicts 3 (label 2), row 1 predicts 3 (label 3)
    }

    [Theory]
    [InlineData(0, 1)] // all four outputs tie: the first is the prediction
    [InlineData(1, 0)]
    public void Ties_predict_the_first_largest_output(int label, int correct)
    {
        var (stats, _, _) = Run([0.25f, 0.25f, 0.25f, 0.25f], [label]);
        Assert.Equal(correct, stats.Correct);
    }

    [Fact]
    public void A_row_with_NaN_gives_a_NaN_loss()
    {
        var (stats, _, _) = Run([0f, float.NaN, 1f, 2f], [3]);
        Assert.True(double.IsNaN(stats.LossSum));
        Assert.Equal(0, stats.Correct); // predicts the NaN output, as TensorPrimitives.IndexOfMax would
    }

    /// <summary>Runs forward + LossAndOutputDelta on rows whose output Z are <paramref name="logits"/> (at most 2 rows).</summary>
    private static (ShardStats Stats, float[] A, float[] D) Run(float[] logits, int[] labels)
    {
        var rows = labels.Length;
        var mlp = new Mlp<float>(Spec, rows);

        // Z = X·Wᵀ + b with X row r = the unit vector e_r, W[:, r] = row r's logits and b = 0 gives Z row r = its logits
        var p = new float[Spec.ParameterCount];
        var w = p.AsSpan(Spec.Layout.WeightOffset(0), Spec.Layout.WeightLength(0));
        for (var r = 0; r < rows; r++)
        {
            mlp.Input[(r * 2) + r] = 1;
            for (var k = 0; k < 4; k++)
            {
                w[(k * 2) + r] = logits[(r * 4) + k];
            }

            mlp.Target[(r * 4) + labels[r]] = 1;
        }

        mlp.Forward(p, rows);
        var stats = mlp.LossAndOutputDelta(rows);
        return (stats, mlp.Activations(0, rows).ToArray(), mlp.Deltas(0, rows).ToArray());
    }
}
