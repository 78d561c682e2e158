// Loss, accuracy and confusion matrix of a model on a whole dataset, in chunks with one reusable
// workspace. Used by `train` (test set at each epoch end) and `eval`.
// Leaves out: printing (EvalCommand, ProgressPrinter).
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;

namespace DistBackprop.Host.Training;

/// <summary>Mean loss, accuracy in 0..1, samples, and confusion[true, predicted] (Classes × Classes).</summary>
public sealed record EvaluationResult(double Loss, double Accuracy, int Samples, long[,] Confusion)
{
    public int Classes => Confusion.GetLength(0);
}

public sealed class Evaluator
{
    private const int ChunkRows = 256;
    private readonly Mlp<float> _mlp;

    public Evaluator(ModelSpec spec) => _mlp = new Mlp<float>(spec, ChunkRows);

    public EvaluationResult Evaluate(ReadOnlySpan<float> parameters, Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var classes = Math.Max(_mlp.Spec.Outputs, 2);
        var flat = new long[classes * classes];
        var indices = new int[data.Count];
        for (var i = 0; i < indices.Length; i++)
        {
            indices[i] = i;
        }

        var s = _mlp.Evaluate(parameters, data, indices, flat);
        var confusion = new long[classes, classes];
        for (var t = 0; t < classes; t++)
        {
            for (var p = 0; p < classes; p++)
            {
                confusion[t, p] = flat[(t * classes) + p];
            }
        }

        var n = Math.Max(1, s.Samples);
        return new EvaluationResult(s.LossSum / n, (double)s.Correct / n, s.Samples, confusion);
    }
}
