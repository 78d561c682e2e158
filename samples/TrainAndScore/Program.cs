// A .NET application that trains a model with the DistBackprop packages and serves it with ML.NET:
//   1. DistBackpropTrainer trains a 400-64-10 MLP on the synthetic digits (in-memory, local mode, no files),
//   2. TrainedModel.SaveOnnx writes it as ONNX (input "input" [N, 400], output "output" [N, 10] probabilities),
//   3. ML.NET's ApplyOnnxModel scores the test set with it; both accuracies are printed and must agree.
// Usage: dotnet run [-- model.onnx]   (exit 1 when ML.NET and DistBackprop disagree)
using DistBackprop;
using DistBackprop.Core.Data;
using Microsoft.ML;
using Microsoft.ML.Data;

var onnxPath = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "distbackprop-sample.onnx");
var digits = Synthetic.Digits(seed: 1);
var test = digits.Test!;

var trainer = new DistBackpropTrainer(new TrainerOptions { HiddenLayers = [64], Epochs = 2, LearningRate = 0.1f, Workers = 2 });
var model = await trainer.TrainAsync(digits.Train);
var (loss, accuracy) = model.Evaluate(new DatasetView(test));
Console.WriteLine($"trained {model.Spec} for {model.Steps.Count} steps: test loss {loss:F4}, accuracy {accuracy:F4}");
model.SaveOnnx(onnxPath);
Console.WriteLine($"wrote {onnxPath}");

var ml = new MLContext(seed: 1);
var rows = Enumerable.Range(0, test.Count).Select(i => new DigitRow { Input = test.Row(i).ToArray() });
var data = ml.Data.LoadFromEnumerable(rows);
var scorer = ml.Transforms.ApplyOnnxModel(outputColumnNames: ["output"], inputColumnNames: ["input"], modelFile: onnxPath).Fit(data);
var scored = ml.Data.CreateEnumerable<Scored>(scorer.Transform(data), reuseRowObject: false).ToList();
var correct = scored.Select((s, i) => Array.IndexOf(s.Output, s.Output.Max()) == test.Labels[i] ? 1 : 0).Sum();
var mlAccuracy = (double)correct / test.Count;
Console.WriteLine($"ML.NET ApplyOnnxModel: accuracy {mlAccuracy:F4} on {test.Count} test rows");
return mlAccuracy == accuracy ? 0 : 1;

/// <summary>One input row as ML.NET sees it: the column name and width the ONNX graph declares.</summary>
internal sealed class DigitRow
{
    [ColumnName("input")]
    [VectorType(400)]
    public float[] Input { get; set; } = [];
}

/// <summary>The graph's output: ten class probabilities.</summary>
internal sealed class Scored
{
    [ColumnName("output")]
    [VectorType(10)]
    public float[] Output { get; set; } = [];
}
