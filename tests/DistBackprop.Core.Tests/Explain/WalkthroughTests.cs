// The numbers `distbackprop explain` prints: Mlp's gradients equal the finite differences and the
// hand-derived chain rule, δ_out = a − t, one update lowers the loss, --steps lowers it every step,
// and the Markdown/plain renderings carry the equations and numbers.
using DistBackprop.Core.Explain;
using DistBackprop.Core.Model;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Explain;

public sealed class WalkthroughTests(ITestOutputHelper output)
{
    public static TheoryData<string> Parts => new() { "sigmoid", "softmax" };

    private static ExplainExample Example(string part) =>
        part == "sigmoid" ? ExplainExample.SigmoidOutput : ExplainExample.SoftmaxOutput;

    [Theory]
    [MemberData(nameof(Parts))]
    public void Backprop_gradients_equal_finite_differences_and_the_chain_rule(string part)
    {
        var r = Walkthrough.Run(Example(part));
        output.WriteLine($"max rel error {r.MaxRelativeError:E2}, max chain-rule diff {r.MaxChainRuleDifference:E2}");
        Assert.Equal(r.Example.Spec.ParameterCount, r.Gradients.Count);
        Assert.True(r.MaxRelativeError < 1e-6, $"max relative error {r.MaxRelativeError:E3}");
        Assert.True(r.MaxChainRuleDifference < 1e-12, $"hand vs Mlp {r.MaxChainRuleDifference:E3}");
        Assert.True(r.Forward.MaxForwardDifference < 1e-12, $"forward hand vs Mlp {r.Forward.MaxForwardDifference:E3}");

        // The example is chosen so every gradient is far from zero (the relative error means something).
        Assert.All(r.Gradients, g => Assert.True(System.Math.Abs(g.Backprop) > 1e-3, $"{g.Name} = {g.Backprop}"));
    }

    [Theory]
    [MemberData(nameof(Parts))]
    public void Output_delta_is_a_minus_t(string part)
    {
        var r = Walkthrough.Run(Example(part));
        var t = r.Example.Target;
        for (var k = 0; k < t.Length; k++)
        {
            var expected = r.Forward.A2[k] - t[k];
            Assert.Equal(expected, r.Output.AMinusT[k], 15);
            Assert.Equal(expected, r.Output.Backprop[k], 15);
            Assert.Equal(expected, r.Output.ChainRule[k], 12);
        }
    }

    [Fact]
    public void Sigmoid_factors_are_the_textbook_ones()
    {
        var r = Walkthrough.Run(ExplainExample.SigmoidOutput);
        double a = r.Forward.A2[0], t = 1.0;
        Assert.Equal((a - t) / (a * (1 - a)), r.Output.DJDA[0], 12);
        Assert.Equal(a * (1 - a), r.Output.Jacobian[0], 15);

        // ∂J/∂W2[0,j] = δ2·a1[j]  and  ∂J/∂W1[j,i] = δ1[j]·x[i]
        var w2 = r.Gradients.Single(g => g.Name == "W2[0,1]");
        Assert.Equal((a - t) * r.Forward.A1[1], w2.Backprop, 12);
        var w1 = r.Gradients.Single(g => g.Name == "W1[1,0]");
        Assert.Equal(r.Hidden.ChainRule[1] * r.Example.Input[0], w1.Backprop, 12);
        Assert.Equal(w1.Old - (r.LearningRate * w1.Backprop), w1.New, 15);
    }

    [Theory]
    [MemberData(nameof(Parts))]
    public void One_update_lowers_the_loss(string part)
    {
        var r = Walkthrough.Run(Example(part));
        output.WriteLine($"J {r.LossBefore:F6} → {r.LossAfter:F6}");
        Assert.True(r.LossAfter < r.LossBefore, $"{r.LossAfter} ≥ {r.LossBefore}");
        Assert.Equal(r.LossAfter, r.Steps[1].Loss);
    }

    [Theory]
    [MemberData(nameof(Parts))]
    public void Steps_make_the_loss_fall_every_step(string part)
    {
        var r = Walkthrough.Run(Example(part), Walkthrough.DefaultLearningRate, steps: 50);
        output.WriteLine(string.Join(", ", r.Steps.Select(s => s.Loss.ToString("F5"))));
        Assert.Equal(51, r.Steps.Count);
        Assert.True(r.LossFallsEveryStep);
        Assert.True(r.Steps[^1].Loss < 0.5 * r.Steps[0].Loss, $"{r.Steps[^1].Loss} vs {r.Steps[0].Loss}");

        // The same first step as the one-step run.
        Assert.Equal(Walkthrough.Run(Example(part)).LossAfter, r.Steps[1].Loss);
    }

    [Fact]
    public void Zero_learning_rate_leaves_the_loss_unchanged()
    {
        var r = Walkthrough.Run(ExplainExample.SoftmaxOutput, 0, steps: 3);
        Assert.All(r.Steps, s => Assert.Equal(r.LossBefore, s.Loss));
    }

    [Fact]
    public void Rejects_what_it_cannot_explain()
    {
        var relu = ExplainExample.SigmoidOutput with { Spec = new ModelSpec([2, 2, 1], Activation.Relu, LossKind.SigmoidCrossEntropy) };
        Assert.Throws<ArgumentException>(() => Walkthrough.Run(relu));
        var shortInput = ExplainExample.SigmoidOutput with { Input = [1.0] };
        Assert.Throws<ArgumentException>(() => Walkthrough.Run(shortInput));
        Assert.Throws<ArgumentOutOfRangeException>(() => Walkthrough.Run(ExplainExample.SigmoidOutput, -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Walkthrough.Run(ExplainExample.SigmoidOutput, 0.5, 0));
    }

    [Fact]
    public void Markdown_and_plain_text_carry_the_equations_and_numbers()
    {
        var a = Walkthrough.Run(ExplainExample.SigmoidOutput, 0.5, steps: 5);
        var b = Walkthrough.Run(ExplainExample.SoftmaxOutput, 0.5, steps: 5);
        var blocks = ExplainDocument.Build([a, b]);
        var md = DocumentRendering.ToMarkdown(blocks);
        var plain = DocumentRendering.ToPlainText(blocks);
        output.WriteLine(plain);
        foreach (var text in new[] { md, plain })
        {
            Assert.Contains("= ∂J/∂a · ∂a/∂z", text);
            Assert.Contains("∂J/∂W2 = δ2·a1ᵀ", text);
            Assert.Contains("∂J/∂W1 = δ1·xᵀ", text);
            Assert.Contains("θ_new = θ_old − α·∂J/∂θ", text);
            Assert.Contains("a2 − y", text);
            Assert.Contains($"J before = {ExplainDocument.N(a.LossBefore)}", text);
            Assert.Contains($"J after  = {ExplainDocument.N(a.LossAfter)}", text);
            Assert.Contains(ExplainDocument.N(a.Gradients[0].Backprop), text);
            Assert.Contains(ExplainDocument.N(b.Steps[^1].Loss), text);
            Assert.Contains("Part A", text);
            Assert.Contains("Part B", text);
        }

        Assert.StartsWith("# How are the new weights calculated?", md);
        Assert.Contains("```text", md);
        Assert.Contains("| θ | ∂J/∂θ = | by hand | Mlp backprop | finite diff. | rel. error |", md);
        Assert.Contains("| ---: |", md);
    }
}
