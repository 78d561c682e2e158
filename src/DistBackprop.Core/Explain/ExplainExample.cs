// The fixed tiny networks `distbackprop explain` walks through: one input row x, its target t,
// hand-picked weights (not random, so the printed document is the same on every machine) and α.
// Both have one hidden sigmoid layer of 2 units; Part A ends in 1 sigmoid output with binary
// cross-entropy (sigmoid-ce), Part B in 3 softmax outputs with cross-entropy (softmax-ce).
// Leaves out: the math (Walkthrough) and the wording (ExplainDocument).
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Explain;

/// <summary>
/// One walkthrough's inputs. <paramref name="Parameters"/> is the flat buffer in
/// <see cref="ParameterLayout"/> order: W1 = layers.0.weight (H, In), b1 = layers.0.bias (H),
/// W2 = layers.1.weight (K, H), b2 = layers.1.bias (K). Arrays are not copied: do not mutate them.
/// </summary>
/// <param name="Title">Heading of this part, e.g. "Part A: sigmoid output, binary cross-entropy".</param>
/// <param name="Spec">Sizes In,H,K (exactly one hidden layer), hidden activation sigmoid, loss sigmoid-ce or softmax-ce.</param>
/// <param name="Input">x: (In).</param>
/// <param name="Target">t: (K); one-hot for softmax-ce, 0 or 1 for sigmoid-ce.</param>
/// <param name="Parameters">θ: (ParameterCount), the starting weights.</param>
public sealed record ExplainExample(string Title, ModelSpec Spec, double[] Input, double[] Target, double[] Parameters)
{
    /// <summary>Part A: 2 inputs → 2 sigmoid units → 1 sigmoid output, binary cross-entropy, target t = 1.</summary>
    public static ExplainExample SigmoidOutput { get; } = new(
        "Part A: 2-2-1, sigmoid output, binary cross-entropy",
        new ModelSpec([2, 2, 1], Activation.Sigmoid, LossKind.SigmoidCrossEntropy),
        Input: [0.5, -1.0],
        Target: [1.0],
        Parameters:
        [
            0.1, 0.4,    // W1 row 0 (unit h0)
            -0.3, 0.2,   // W1 row 1 (unit h1)
            0.0, 0.1,    // b1
            0.5, -0.6,   // W2 row 0 (the output unit)
            0.05,        // b2
        ]);

    /// <summary>Part B: 2 inputs → 2 sigmoid units → 3 softmax outputs, cross-entropy, target class 1 (y = [0, 1, 0]).</summary>
    public static ExplainExample SoftmaxOutput { get; } = new(
        "Part B: 2-2-3, softmax output, cross-entropy",
        new ModelSpec([2, 2, 3], Activation.Sigmoid, LossKind.SoftmaxCrossEntropy),
        Input: [0.5, -1.0],
        Target: [0.0, 1.0, 0.0],
        Parameters:
        [
            0.1, 0.4,    // W1 row 0
            -0.3, 0.2,   // W1 row 1
            0.0, 0.1,    // b1
            0.5, -0.6,   // W2 row 0 (class 0)
            -0.2, 0.3,   // W2 row 1 (class 1)
            0.4, 0.1,    // W2 row 2 (class 2)
            0.05, 0.0, -0.05, // b2
        ]);
}
