// The vectorised optimizer update against the plain scalar rules (the torch.optim formulas written
// out per element, same operation order): bit-identical for every kind, with weight decay, on a
// layout whose tensors are not multiples of the vector width, over several steps.
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.MathChecks;

public class OptimizerVectorTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Momentum)]
    [InlineData(OptimizerKind.Nesterov)]
    [InlineData(OptimizerKind.Adam)]
    public void Vector_update_is_bit_identical_to_the_scalar_rule(OptimizerKind kind)
    {
        var spec = new ModelSpec([37, 19, 3], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var layout = spec.Layout;
        var settings = new OptimizerSettings(kind, LearningRate: 0.05f, Momentum: 0.8f, WeightDecay: 0.01f);
        var optimizer = new Optimizer(settings, layout);
        var w = Initializer.Create(spec, 5);
        var expected = (float[])w.Clone();
        var first = new float[layout.Count];
        var second = new float[layout.Count];
        var random = new Random(7);
        var g = new float[layout.Count];
        double maxDiff = 0;
        for (var t = 1; t <= 4; t++)
        {
            for (var i = 0; i < g.Length; i++)
            {
                g[i] = (float)(random.NextDouble() - 0.5);
            }

            optimizer.Step(w, g);
            ScalarOptimizer.Step(settings, layout, t, expected, g, first, second);
            for (var i = 0; i < w.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(w[i] - expected[i]));
            }
        }

        output.WriteLine($"{kind}: max |vector − scalar| = {maxDiff:G3}");
        Assert.Equal(expected, w);
    }
}
