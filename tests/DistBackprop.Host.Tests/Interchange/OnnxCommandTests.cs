// `train --onnx` and `export --onnx` on a model trained for two epochs: ONNX Runtime (an independent consumer)
// scores every test row with the same probabilities as our forward pass (within 1e-5) and the same accuracy as
// `eval --json`; bad export options exit 2 naming the option.
// Leaves out: the graph's details for every activation/loss (Core.Tests/Interchange/OnnxExportTests).
using System.Text.Json;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DistBackprop.Host.Tests.Interchange;

public sealed class OnnxCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Trained_model_scores_the_same_in_onnx_runtime_as_in_eval()
    {
        var model = _dir.File("m.safetensors");
        var trainOnnx = _dir.File("train.onnx");
        var r = Cli.Run(_dir.Path, "train", "--epochs", "2", "--layers", "400,64,10", "--out", model, "--onnx", trainOnnx, "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("ONNX model written to", r.Out);
        var exported = _dir.File("export.onnx");
        var x = Cli.Run(_dir.Path, "export", "--model", model, "--onnx", exported);
        Assert.True(x.ExitCode == 0, x.ToString());

        var eval = Cli.Run(_dir.Path, "eval", "--model", model, "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        using var json = JsonDocument.Parse(eval.Out);
        var evalAccuracy = json.RootElement.GetProperty("accuracy").GetDouble();
        var samples = json.RootElement.GetProperty("samples").GetInt32();

        var loaded = ModelFile.Load(model);
        var spec = new ModelSpec(loaded.Sizes, loaded.Activation!.Value, loaded.Loss!.Value);
        var test = Synthetic.Digits(1).Test!;
        Assert.Equal(test.Count, samples);
        var ours = Prediction.Outputs(spec, loaded.Parameters, test);
        foreach (var file in new[] { trainOnnx, exported })
        {
            var theirs = Run(file, test);
            var worst = 0.0;
            var correct = 0;
            for (var row = 0; row < test.Count; row++)
            {
                for (var k = 0; k < 10; k++)
                {
                    worst = Math.Max(worst, Math.Abs(ours[(row * 10) + k] - theirs[(row * 10) + k]));
                }

                correct += ArgMax(theirs.AsSpan(row * 10, 10)) == test.Labels[row] ? 1 : 0;
            }

            Assert.True(worst <= 1e-5, $"{Path.GetFileName(file)}: max |eval − onnxruntime| = {worst:G3}");
            Assert.Equal(evalAccuracy, (double)correct / test.Count);
            Assert.True(evalAccuracy > 0.8, $"a trained model: accuracy {evalAccuracy}");
        }

        using var session = new InferenceSession(exported);
        Assert.Equal("2", session.ModelMetadata.CustomMetadataMap["epoch"]);
        Assert.Equal("sgd", session.ModelMetadata.CustomMetadataMap["optimizer"]);
    }

    [Theory]
    [InlineData("--onnx", "m.txt", "must end in .onnx")]
    [InlineData("--model", "missing.safetensors", "no such file")]
    public void Bad_export_options_exit_2_naming_the_option(string option, string value, string expected)
    {
        var args = new List<string> { "export", "--model", "missing.safetensors", "--onnx", "m.onnx" };
        args[args.IndexOf(option) + 1] = value;
        var r = Cli.Run(_dir.Path, [.. args]);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(option, r.Err);
        Assert.Contains(expected, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.False(File.Exists(_dir.File("m.onnx")));
    }

    [Fact]
    public void Train_refuses_an_onnx_path_without_the_extension()
    {
        var r = Cli.Run(_dir.Path, "train", "--max-steps", "1", "--onnx", "model.bin");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("--onnx: 'model.bin' must end in .onnx", r.Err);
    }

    private static float[] Run(string path, Dataset data)
    {
        using var session = new InferenceSession(path);
        var input = new DenseTensor<float>(data.Features, [data.Count, data.FeatureCount]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
        return results.Single(r => r.Name == "output").AsTensor<float>().ToArray();
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var i = 1; i < row.Length; i++)
        {
            best = row[i] > row[best] ? i : best;
        }

        return best;
    }
}
