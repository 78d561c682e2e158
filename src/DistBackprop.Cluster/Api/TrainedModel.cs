// What DistBackpropTrainer returns: the architecture, the final weights and the per-step reports, with the
// things one does next: predict, evaluate, save as safetensors (PyTorch reads it) or ONNX (ONNX Runtime, ML.NET).
// Leaves out: training (DistBackpropTrainer); the CLI's eval/export commands do the same through Core.
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Interchange;
using DistBackprop.Core.Model;

namespace DistBackprop;

/// <summary>A trained MLP. <see cref="Parameters"/> is flat in ParameterLayout order (layers.0.weight [out, in], layers.0.bias, …).</summary>
public sealed class TrainedModel
{
    internal TrainedModel(ModelSpec spec, float[] parameters, IReadOnlyList<StepReport> steps, bool stopped)
    {
        Spec = spec;
        Parameters = parameters;
        Steps = steps;
        Stopped = stopped;
    }

    /// <summary>Layer sizes, activation and loss.</summary>
    public ModelSpec Spec { get; }

    /// <summary>The final weights and biases.</summary>
    public float[] Parameters { get; }

    /// <summary>One report per step, in order.</summary>
    public IReadOnlyList<StepReport> Steps { get; }

    /// <summary>True when the run was cancelled before its end (the weights are those after the last completed step).</summary>
    public bool Stopped { get; }

    /// <summary>
    /// Outputs for <paramref name="rows"/> rows of features (row-major, rows × inputs): probabilities for softmax-ce and
    /// sigmoid-ce, raw outputs for mse; the result is rows × outputs.
    /// </summary>
    public float[] Predict(float[] features, int rows)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (rows < 0 || features.Length != rows * Spec.Inputs)
        {
            throw new ArgumentException($"{features.Length} features are not {rows} rows of {Spec.Inputs}", nameof(features));
        }

        return Prediction.Outputs(Spec, Parameters, new Dataset("predict", features, new int[rows], Spec.Inputs, Math.Max(2, Spec.Outputs)));
    }

    /// <summary>The predicted class of each of <paramref name="rows"/> rows (argmax; one sigmoid output: above 0.5).</summary>
    public int[] Classify(float[] features, int rows)
    {
        var outputs = Predict(features, rows);
        var k = Spec.Outputs;
        var classes = new int[rows];
        for (var r = 0; r < rows; r++)
        {
            var row = outputs.AsSpan(r * k, k);
            classes[r] = k == 1 ? (row[0] > 0.5f ? 1 : 0) : System.Numerics.Tensors.TensorPrimitives.IndexOfMax<float>(row);
        }

        return classes;
    }

    /// <summary>Mean loss and accuracy (0..1) on <paramref name="data"/>, as `distbackprop eval` computes them.</summary>
    public (double Loss, double Accuracy) Evaluate(IDataset data)
    {
        var set = DistBackpropTrainer.ToDataset(data, "evaluate");
        var mlp = new Mlp<float>(Spec, Math.Max(1, Math.Min(256, set.Count)));
        var indices = Enumerable.Range(0, set.Count).ToArray();
        var s = mlp.Evaluate(Parameters, set, indices);
        var n = Math.Max(1, s.Samples);
        return (s.LossSum / n, (double)s.Correct / n);
    }

    /// <summary>Writes the model as safetensors (layers.{i}.weight/bias, F32), atomically.</summary>
    public void Save(string path) => ModelFile.Save(path, Spec, Parameters, [new("step", Steps.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))]);

    /// <summary>Writes the model as ONNX (input "input" [N, in], output "output" [N, K] probabilities, opset 17), atomically.</summary>
    public void SaveOnnx(string path) => OnnxExport.Save(path, Spec, Parameters, [new("step", Steps.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
}
