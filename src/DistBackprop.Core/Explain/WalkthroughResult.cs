// Every number of one explain walkthrough, as records: the forward values, the chain-rule factors
// of the output and hidden deltas (hand-derived next to what Mlp<double> computed), one row per
// parameter (gradient three ways, the update), the loss before/after, and the --steps table.
// Dimension letters: In = inputs, H = hidden units, K = outputs. Leaves out: how it is worded.
namespace DistBackprop.Core.Explain;

/// <summary>The forward pass on one row. Hidden z comes from the hand-written loop; a1, z2, a2 and J from Mlp&lt;double&gt;.</summary>
/// <param name="Z1">z1 = W1·x + b1: (H).</param>
/// <param name="A1">a1 = σ(z1): (H), Mlp's hidden activations.</param>
/// <param name="Z2">z2 = W2·a1 + b2: (K), Mlp's output pre-activations.</param>
/// <param name="A2">a2 = σ(z2) or softmax(z2): (K), Mlp's outputs.</param>
/// <param name="Loss">J, Mlp's loss for this one row (B = 1).</param>
/// <param name="HandLoss">J computed by hand from the hand-written forward values.</param>
/// <param name="MaxForwardDifference">max |hand − Mlp| over a1, z2, a2 and J.</param>
public sealed record ForwardValues(double[] Z1, double[] A1, double[] Z2, double[] A2, double Loss, double HandLoss, double MaxForwardDifference);

/// <summary>δ2 = ∂J/∂z2 by the chain rule: ∂J/∂a2 times the Jacobian ∂a2/∂z2, against a2 − t and Mlp's dZ.</summary>
/// <param name="DJDA">∂J/∂a2_k: (K). Sigmoid-ce: (a − t)/(a(1 − a)); softmax-ce: −y_k/a_k.</param>
/// <param name="Jacobian">∂a2_k/∂z2_j: (K, K) row-major. Sigmoid: diagonal a(1 − a); softmax: a_k(1[k=j] − a_j).</param>
/// <param name="ChainRule">Σ_k ∂J/∂a2_k · ∂a2_k/∂z2_j: (K), the hand-derived δ2.</param>
/// <param name="AMinusT">a2 − t: (K).</param>
/// <param name="Backprop">dZ of the output layer as Mlp.LossAndOutputDelta set it: (K).</param>
public sealed record OutputDelta(double[] DJDA, double[] Jacobian, double[] ChainRule, double[] AMinusT, double[] Backprop);

/// <summary>δ1 = (W2ᵀ·δ2) ⊙ σ′(z1), with σ′(z1) = a1(1 − a1), against Mlp's hidden dZ.</summary>
/// <param name="W2TDelta">(W2ᵀ·δ2)_j = Σ_k W2[k,j]·δ2_k: (H).</param>
/// <param name="SigmoidPrime">a1(1 − a1): (H).</param>
/// <param name="ChainRule">The product: (H), hand-derived δ1.</param>
/// <param name="Backprop">Mlp.Backward's hidden dZ: (H).</param>
public sealed record HiddenDelta(double[] W2TDelta, double[] SigmoidPrime, double[] ChainRule, double[] Backprop);

/// <summary>One parameter: its gradient as a product of two factors, from Mlp.Backward, by finite difference, and its update.</summary>
/// <param name="Name">Textbook name, e.g. "W2[0,1]" or "b1[0]".</param>
/// <param name="Tensor">The flat buffer's tensor name, e.g. "layers.1.weight".</param>
/// <param name="Index">Position in the flat parameter buffer.</param>
/// <param name="DeltaName">The δ factor's name, e.g. "δ2[0]".</param>
/// <param name="Delta">Its value.</param>
/// <param name="InputName">The other factor's name ("a1[1]", "x[0]", or "1" for a bias).</param>
/// <param name="InputValue">Its value (1 for a bias).</param>
/// <param name="ChainRule">Delta · InputValue, the hand-derived ∂J/∂θ.</param>
/// <param name="Backprop">∂J/∂θ from Mlp&lt;double&gt;.Backward (B = 1, so the sum is the mean).</param>
/// <param name="Numeric">(J(θ + h) − J(θ − h)) / 2h with Mlp&lt;double&gt;'s forward and loss.</param>
/// <param name="RelativeError">|Backprop − Numeric| / max(|Backprop|, |Numeric|, 1e-12).</param>
/// <param name="Old">θ before the update.</param>
/// <param name="New">θ − α·Backprop.</param>
public sealed record GradientEntry(
    string Name,
    string Tensor,
    int Index,
    string DeltaName,
    double Delta,
    string InputName,
    double InputValue,
    double ChainRule,
    double Backprop,
    double Numeric,
    double RelativeError,
    double Old,
    double New);

/// <summary>The loss after <paramref name="Step"/> updates (step 0 = the starting weights).</summary>
public readonly record struct StepLoss(int Step, double Loss);

/// <summary>Everything one walkthrough computed.</summary>
/// <param name="Example">The network, row and starting weights.</param>
/// <param name="LearningRate">α.</param>
/// <param name="FiniteDifferenceStep">h.</param>
/// <param name="Forward">Forward values at the starting weights.</param>
/// <param name="Output">δ2 derivation.</param>
/// <param name="Hidden">δ1 derivation.</param>
/// <param name="Gradients">One row per parameter, in flat-buffer order (W1, b1, W2, b2).</param>
/// <param name="ForwardAfter">Forward values after one update.</param>
/// <param name="Steps">Loss at steps 0..N (N = the --steps count, at least 1).</param>
public sealed record WalkthroughResult(
    ExplainExample Example,
    double LearningRate,
    double FiniteDifferenceStep,
    ForwardValues Forward,
    OutputDelta Output,
    HiddenDelta Hidden,
    IReadOnlyList<GradientEntry> Gradients,
    ForwardValues ForwardAfter,
    IReadOnlyList<StepLoss> Steps)
{
    public double LossBefore => Forward.Loss;

    public double LossAfter => ForwardAfter.Loss;

    /// <summary>max over parameters of the backprop-vs-finite-difference relative error.</summary>
    public double MaxRelativeError => Gradients.Max(g => g.RelativeError);

    /// <summary>max |hand-derived − Mlp| over δ2, δ1 and every ∂J/∂θ.</summary>
    public double MaxChainRuleDifference =>
        Math.Max(
            Gradients.Max(g => Math.Abs(g.ChainRule - g.Backprop)),
            Math.Max(MaxAbs(Output.ChainRule, Output.Backprop), MaxAbs(Hidden.ChainRule, Hidden.Backprop)));

    /// <summary>True when every step's loss is below the previous one.</summary>
    public bool LossFallsEveryStep
    {
        get
        {
            for (var i = 1; i < Steps.Count; i++)
            {
                if (!(Steps[i].Loss < Steps[i - 1].Loss))
                {
                    return false;
                }
            }

            return true;
        }
    }

    internal static double MaxAbs(double[] a, double[] b)
    {
        var m = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            m = Math.Max(m, Math.Abs(a[i] - b[i]));
        }

        return m;
    }
}
