// The words and numbers of `distbackprop explain` as a format-neutral list of blocks (heading,
// paragraph, equation lines, table), built from WalkthroughResults. The Markdown file, the plain
// text and the terminal view all render this one list, so they always say the same thing.
// Leaves out: rendering (DocumentRendering here; the Spectre view in the Host) and the math (Walkthrough).
using System.Globalization;
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Explain;

/// <summary>One block of the explanation.</summary>
public abstract record DocBlock;

/// <summary>A heading; level 1 is the title.</summary>
public sealed record DocHeading(int Level, string Text) : DocBlock;

/// <summary>Prose.</summary>
public sealed record DocParagraph(string Text) : DocBlock;

/// <summary>Equations with their numbers, one per line, shown in a monospace font.</summary>
public sealed record DocEquations(IReadOnlyList<string> Lines) : DocBlock;

/// <summary>A table; <paramref name="RightAligned"/> marks numeric columns.</summary>
public sealed record DocTable(IReadOnlyList<string> Headers, IReadOnlyList<IReadOnlyList<string>> Rows, IReadOnlyList<bool> RightAligned) : DocBlock;

public static class ExplainDocument
{
    /// <summary>The whole document for the given parts (Part A and Part B by default).</summary>
    public static IReadOnlyList<DocBlock> Build(IReadOnlyList<WalkthroughResult> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var blocks = new List<DocBlock>
        {
            new DocHeading(1, "How are the new weights calculated?"),
            new DocParagraph(
                "One gradient-descent step on a tiny network, with real numbers. The forward values, δ's and gradients " +
                "below are what DistBackprop's own training code (Mlp<double>: Forward, LossAndOutputDelta, Backward) " +
                "computes; each chain-rule factor is also derived by hand, and a central finite difference " +
                "checks every gradient. Batch size B = 1, so the mean over the batch is the one sample's value. " +
                "Weights and inputs are fixed (not random), so this document is the same on every machine."),
            new DocParagraph(
                "Notation: W1, b1 = layers.0.weight [out, in], layers.0.bias; W2, b2 = layers.1.weight, layers.1.bias " +
                "(the PyTorch nn.Linear layout, z = W·x + b). σ(z) = 1/(1 + e^−z), ⊙ = element-wise product, α = learning rate."),
        };
        foreach (var part in parts)
        {
            AddPart(blocks, part);
        }

        return blocks;
    }

    private static void AddPart(List<DocBlock> b, WalkthroughResult r)
    {
        var e = r.Example;
        var spec = e.Spec;
        var softmax = spec.Loss == LossKind.SoftmaxCrossEntropy;
        var f = r.Forward;
        var k = spec.Outputs;
        b.Add(new DocHeading(2, e.Title));
        b.Add(new DocParagraph(
            $"Network {spec.SizesText}: {spec.Inputs} inputs, {spec.Sizes[1]} sigmoid hidden units, {k} {(softmax ? "softmax" : "sigmoid")} output{(k > 1 ? "s" : "")}, " +
            $"loss {Names.Of(spec.Loss)}. One sample x = {Vec(e.Input, G)} with target {(softmax ? "y" : "t")} = {Vec(e.Target, G)}; learning rate α = {G(r.LearningRate)}."));
        b.Add(new DocEquations(
        [
            $"W1 = {Mat(Tensor(e, 0, bias: false), spec.Sizes[1], spec.Inputs)}   b1 = {Vec(Tensor(e, 0, bias: true), G)}",
            $"W2 = {Mat(Tensor(e, 1, bias: false), k, spec.Sizes[1])}   b2 = {Vec(Tensor(e, 1, bias: true), G)}",
        ]));

        // Forward
        b.Add(new DocHeading(3, "1. Forward pass"));
        var units = new List<IReadOnlyList<string>>();
        for (var j = 0; j < f.Z1.Length; j++)
        {
            units.Add([$"hidden h{j}", N(f.Z1[j]), N(f.A1[j]), "a = σ(z)"]);
        }

        for (var o = 0; o < k; o++)
        {
            units.Add([$"output o{o}", N(f.Z2[o]), N(f.A2[o]), softmax ? "a = e^z_k / Σ_j e^z_j" : "a = σ(z)"]);
        }

        b.Add(new DocEquations(
        [
            "z1 = W1·x + b1      a1 = σ(z1)",
            $"z2 = W2·a1 + b2     a2 = {(softmax ? "softmax(z2)" : "σ(z2)")}",
        ]));
        b.Add(new DocTable(["unit", "z", "a"], units.Select(u => (IReadOnlyList<string>)u.Take(3).ToArray()).ToList(), [false, true, true]));
        b.Add(new DocEquations(
        [
            softmax
                ? $"J = −Σ_k y_k·log a_k = −log a2[{Array.IndexOf(e.Target, 1.0)}] = {N(f.Loss)}"
                : $"J = −[t·log a + (1 − t)·log(1 − a)] = {N(f.Loss)}",
            $"(hand-written forward gives J = {N(f.HandLoss)}; largest difference to Mlp's values {E(f.MaxForwardDifference)})",
        ]));

        // Output delta
        b.Add(new DocHeading(3, "2. Output delta δ2 = ∂J/∂z2"));
        if (softmax)
        {
            b.Add(new DocParagraph(
                "Chain rule through the softmax: ∂J/∂a_k = −y_k/a_k and ∂a_k/∂z_j = a_k·(1[k=j] − a_j), so " +
                "δ2_j = Σ_k ∂J/∂a_k·∂a_k/∂z_j = −y_j + a_j·Σ_k y_k = a_j − y_j (the y's sum to 1)."));
            var lines = new List<string> { $"∂J/∂a2 = {Vec(r.Output.DJDA)}", "∂a2/∂z2 (row k, column j) =" };
            for (var o = 0; o < k; o++)
            {
                lines.Add($"    {Vec(r.Output.Jacobian.AsSpan(o * k, k).ToArray())}");
            }

            lines.Add($"δ2 = (∂a2/∂z2)ᵀ·∂J/∂a2 = {Vec(r.Output.ChainRule)}");
            lines.Add($"a2 − y            = {Vec(r.Output.AMinusT)}");
            lines.Add($"Mlp's dZ (A − Y)  = {Vec(r.Output.Backprop)}");
            b.Add(new DocEquations(lines));
        }
        else
        {
            b.Add(new DocParagraph(
                "Chain rule through the sigmoid: ∂J/∂a = −t/a + (1 − t)/(1 − a) = (a − t)/(a(1 − a)) and ∂a/∂z = a(1 − a); " +
                "their product cancels to δ2 = a − t."));
            double a = f.A2[0], t = e.Target[0];
            b.Add(new DocEquations(
            [
                $"∂J/∂a  = (a − t)/(a(1 − a)) = ({N(a)} − {G(t)})/({N(a)}·{N(1 - a)}) = {N(r.Output.DJDA[0])}",
                $"∂a/∂z  = a(1 − a) = {N(r.Output.Jacobian[0])}",
                $"δ2     = ∂J/∂a · ∂a/∂z = {N(r.Output.DJDA[0])} · {P(r.Output.Jacobian[0])} = {N(r.Output.ChainRule[0])}",
                $"a − t  = {N(r.Output.AMinusT[0])}",
                $"Mlp's dZ (A − Y) = {N(r.Output.Backprop[0])}",
            ]));
        }

        // Hidden delta
        b.Add(new DocHeading(3, "3. Hidden delta δ1 = (W2ᵀ·δ2) ⊙ a1(1 − a1)"));
        var hidden = new List<IReadOnlyList<string>>();
        for (var j = 0; j < r.Hidden.ChainRule.Length; j++)
        {
            hidden.Add([$"h{j}", N(r.Hidden.W2TDelta[j]), N(r.Hidden.SigmoidPrime[j]), N(r.Hidden.ChainRule[j]), N(r.Hidden.Backprop[j])]);
        }

        b.Add(new DocParagraph("Each hidden unit collects the output deltas through the weights that leave it, times its own sigmoid slope."));
        b.Add(new DocTable(["unit", "(W2ᵀ·δ2)_j", "a1(1 − a1)", "δ1 (by hand)", "δ1 (Mlp)"], hidden, [false, true, true, true, true]));

        // Gradients and the update
        b.Add(new DocHeading(3, "4. Gradients and the update θ_new = θ_old − α·∂J/∂θ"));
        b.Add(new DocEquations(
        [
            "∂J/∂W2 = δ2·a1ᵀ    ∂J/∂b2 = δ2",
            "∂J/∂W1 = δ1·xᵀ     ∂J/∂b1 = δ1",
            $"finite difference: (J(θ + h) − J(θ − h)) / 2h, h = {r.FiniteDifferenceStep.ToString("0e+0", CultureInfo.InvariantCulture)}, float64",
        ]));
        // The factors' values are in the tables above (x, a1, δ1, δ2); here each product, three ways.
        var rows = r.Gradients.Select(g => (IReadOnlyList<string>)
        [
            g.Name,
            g.InputName == "1" ? g.DeltaName : $"{g.DeltaName}·{g.InputName}",
            N(g.ChainRule),
            N(g.Backprop),
            N(g.Numeric),
            E(g.RelativeError),
        ]).ToList();
        b.Add(new DocTable(["θ", "∂J/∂θ =", "by hand", "Mlp backprop", "finite diff.", "rel. error"], rows, [false, false, true, true, true, true]));
        var updates = r.Gradients.Select(g => (IReadOnlyList<string>)
        [
            g.Name,
            N(g.Old),
            N(g.Backprop),
            $"{N(g.Old)} − {G(r.LearningRate)}·{P(g.Backprop)}",
            N(g.New),
        ]).ToList();
        b.Add(new DocParagraph($"The update, with α = {G(r.LearningRate)}:"));
        b.Add(new DocTable(["θ", "θ_old", "∂J/∂θ", "θ_old − α·∂J/∂θ", "θ_new"], updates, [false, true, true, false, true]));
        b.Add(new DocParagraph(
            $"Largest relative error backprop vs finite difference: {E(r.MaxRelativeError)}; " +
            $"largest difference hand-derived vs Mlp: {E(r.MaxChainRuleDifference)}."));

        // Loss before/after and steps
        b.Add(new DocHeading(3, "5. The loss before and after"));
        var change = r.LossAfter - r.LossBefore;
        b.Add(new DocEquations(
        [
            $"J before = {N(r.LossBefore)}",
            $"J after  = {N(r.LossAfter)}   ({(change < 0 ? "lower" : "NOT lower")} by {N(Math.Abs(change))})",
        ]));
        if (r.Steps.Count > 2)
        {
            b.Add(new DocParagraph($"Repeating the update {r.Steps.Count - 1} times on the same sample (step 0 = the starting weights):"));
            b.Add(new DocTable(["step", "loss J"], r.Steps.Select(s => (IReadOnlyList<string>)[s.Step.ToString(CultureInfo.InvariantCulture), N(s.Loss)]).ToList(), [true, true]));
            b.Add(new DocParagraph(r.LossFallsEveryStep ? "The loss falls at every step." : "The loss does not fall at every step (α too large?)."));
        }
    }

    private static double[] Tensor(ExplainExample e, int layer, bool bias)
    {
        var layout = e.Spec.Layout;
        ReadOnlySpan<double> all = e.Parameters;
        return (bias ? layout.Bias(all, layer) : layout.Weight(all, layer)).ToArray();
    }

    /// <summary>A computed number: 6 decimals, invariant culture, ASCII minus (copy-pastes into code): "-0.123457". −0 prints as 0.</summary>
    public static string N(double v) => (v == 0 ? 0.0 : v).ToString("0.000000", CultureInfo.InvariantCulture);

    /// <summary><see cref="N"/> in parentheses when negative, for the right operand of a product or difference: "(-0.5)".</summary>
    public static string P(double v) => v < 0 ? $"({N(v)})" : N(v);

    /// <summary>A given (not computed) number, as short as it is: "0.5", "-1".</summary>
    public static string G(double v) => (v == 0 ? 0.0 : v).ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>An error in scientific notation: "3.2e-11".</summary>
    public static string E(double v) => v.ToString("0.0e+00", CultureInfo.InvariantCulture);

    private static string Vec(double[] v) => Vec(v, N);

    private static string Vec(double[] v, Func<double, string> format) => "[" + string.Join(", ", v.Select(format)) + "]";

    private static string Mat(double[] m, int rows, int cols) =>
        "[" + string.Join("; ", Enumerable.Range(0, rows).Select(r => string.Join(", ", m.AsSpan(r * cols, cols).ToArray().Select(G)))) + "]";
}
