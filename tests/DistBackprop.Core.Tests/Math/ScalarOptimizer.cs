// The optimizer rules one element at a time, as torch.optim writes them (separate multiply and add): the oracle the
// vectorised Optimizer and the fused StepUpdate are compared with bit for bit. Leaves out: the shard reduction.
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;

namespace DistBackprop.Core.Tests.MathChecks;

internal static class ScalarOptimizer
{
    /// <summary>Step <paramref name="t"/> (1-based) on <paramref name="w"/> with mean gradient <paramref name="g"/>; weight decay on weights only.</summary>
    public static void Step(OptimizerSettings s, ParameterLayout layout, long t, float[] w, float[] g, float[] first, float[] second)
    {
        var adamStep = (float)(s.LearningRate / (1 - Math.Pow(s.Beta1, t)));
        var bias2Sqrt = (float)Math.Sqrt(1 - Math.Pow(s.Beta2, t));
        for (var l = 0; l < layout.LayerCount; l++)
        {
            Apply(layout.WeightOffset(l), layout.WeightLength(l), s.WeightDecay);
            Apply(layout.BiasOffset(l), layout.BiasLength(l), 0f);
        }

        void Apply(int offset, int length, float decay)
        {
            for (var i = offset; i < offset + length; i++)
            {
                var gi = g[i] + (decay * w[i]);
                switch (s.Kind)
                {
                    case OptimizerKind.Sgd:
                        w[i] -= s.LearningRate * gi;
                        break;
                    case OptimizerKind.Momentum:
                    case OptimizerKind.Nesterov:
                        first[i] = t == 1 ? gi : (s.Momentum * first[i]) + gi;
                        w[i] -= s.LearningRate * (s.Kind == OptimizerKind.Nesterov ? gi + (s.Momentum * first[i]) : first[i]);
                        break;
                    default:
                        first[i] = (s.Beta1 * first[i]) + ((1 - s.Beta1) * gi);
                        second[i] = (s.Beta2 * second[i]) + ((1 - s.Beta2) * gi * gi);
                        w[i] -= adamStep * (first[i] / ((MathF.Sqrt(second[i]) / bias2Sqrt) + s.Epsilon));
                        break;
                }
            }
        }
    }
}
