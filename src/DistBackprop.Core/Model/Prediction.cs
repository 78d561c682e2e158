// The model's outputs row by row, as ONNX export's "output" holds them: softmax probabilities (softmax-ce),
// sigmoid probabilities (sigmoid-ce) or the identity outputs (mse), computed by the same forward pass as `eval`.
// Used by the ONNX equivalence test and by the library API (DistBackpropModel.Predict).
// Leaves out: loss and accuracy (Mlp.Evaluate), batching beyond one reusable workspace.
using DistBackprop.Core.Data;

namespace DistBackprop.Core.Model;

public static class Prediction
{
    private const int ChunkRows = 256;

    /// <summary>Outputs for every row of <paramref name="data"/>: (Count, K) row-major.</summary>
    public static float[] Outputs(ModelSpec spec, ReadOnlySpan<float> parameters, Dataset data)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(data);
        if (data.FeatureCount != spec.Inputs)
        {
            throw new ArgumentException($"the data has {data.FeatureCount} features, the model {spec} takes {spec.Inputs}", nameof(data));
        }

        var k = spec.Outputs;
        var result = new float[data.Count * k];
        var mlp = new Mlp<float>(spec, Math.Max(1, Math.Min(ChunkRows, data.Count)));
        var indices = new int[mlp.MaxRows];
        for (var start = 0; start < data.Count; start += mlp.MaxRows)
        {
            var rows = Math.Min(mlp.MaxRows, data.Count - start);
            for (var r = 0; r < rows; r++)
            {
                indices[r] = start + r;
            }

            mlp.LoadRows(data, indices.AsSpan(0, rows));
            mlp.Forward(parameters, rows);
            mlp.LossAndOutputDelta(rows); // turns the output layer's Z into A (softmax / sigmoid / identity)
            mlp.Activations(spec.LayerCount - 1, rows).CopyTo(result.AsSpan(start * k, rows * k));
        }

        return result;
    }
}
