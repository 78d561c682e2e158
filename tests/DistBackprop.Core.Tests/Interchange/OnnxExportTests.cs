// ONNX export checked by an independent consumer: ONNX Runtime loads the file we wrote and its outputs must
// equal our forward pass (Prediction.Outputs, the numbers `eval` scores) within 1e-5 on every row, for every
// hidden activation and every output/loss pair; plus the graph's contract (names, dynamic N, opset, metadata).
// Leaves out: the CLI (`export`, `train --onnx`: Host tests) and a trained model (Host tests train one).
using DistBackprop.Core.Data;
using DistBackprop.Core.Interchange;
using DistBackprop.Core.Model;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DistBackprop.Core.Tests.Interchange;

public class OnnxExportTests
{
    public static TheoryData<Activation, LossKind, int> Architectures() => new()
    {
        { Activation.Relu, LossKind.SoftmaxCrossEntropy, 10 },
        { Activation.LeakyRelu, LossKind.SoftmaxCrossEntropy, 10 },
        { Activation.Sigmoid, LossKind.SigmoidCrossEntropy, 10 },
        { Activation.Tanh, LossKind.Mse, 10 },
        { Activation.Relu, LossKind.SigmoidCrossEntropy, 1 },
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Onnx_runtime_gives_our_outputs_on_every_row(Activation hidden, LossKind loss, int outputs)
    {
        var data = Rows(97, 12, outputs == 1 ? 2 : outputs, seed: 5);
        var spec = new ModelSpec([12, 16, 8, outputs], hidden, loss);
        var parameters = Initializer.Create(spec, 3);
        using var dir = new TempDirectory();
        var path = dir.File("m.onnx");
        OnnxExport.Save(path, spec, parameters, [new("step", "42")]);

        var ours = Prediction.Outputs(spec, parameters, data);
        var theirs = RunOnnx(path, data);
        Assert.Equal(ours.Length, theirs.Length);
        var worst = 0.0;
        for (var i = 0; i < ours.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(ours[i] - theirs[i]));
        }

        Assert.True(worst <= 1e-5, $"max |ours − onnxruntime| = {worst:G3} over {data.Count} rows");
        if (loss == LossKind.SoftmaxCrossEntropy)
        {
            for (var r = 0; r < data.Count; r++)
            {
                Assert.Equal(1.0, ours.AsSpan(r * outputs, outputs).ToArray().Sum(), 4); // probabilities, not logits
            }
        }
    }

    [Fact]
    public void The_graph_has_named_input_and_output_with_a_dynamic_batch_and_metadata()
    {
        var spec = new ModelSpec([6, 5, 3], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        using var dir = new TempDirectory();
        var path = dir.File("m.onnx");
        OnnxExport.Save(path, spec, Initializer.Create(spec, 1), [new("seed", "1"), new("optimizer", "adam")]);

        using var session = new InferenceSession(path);
        var input = Assert.Single(session.InputMetadata);
        Assert.Equal("input", input.Key);
        Assert.Equal([-1, 6], input.Value.Dimensions);
        Assert.Equal("N", input.Value.SymbolicDimensions[0]);
        var output = Assert.Single(session.OutputMetadata);
        Assert.Equal("output", output.Key);
        Assert.Equal([-1, 3], output.Value.Dimensions);
        var meta = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("6,5,3", meta["layers"]);
        Assert.Equal("relu", meta["activation"]);
        Assert.Equal("softmax-ce", meta["loss"]);
        Assert.Equal("adam", meta["optimizer"]);
        Assert.Equal("softmax probabilities", meta["output"]);

        var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.True(Assert.Single(model.OpsetImport).Version >= 17);
        Assert.Equal(["Gemm", "Relu", "Gemm", "Softmax"], model.Graph.Node.Select(n => n.OpType));
        Assert.All(model.Graph.Node.Where(n => n.OpType == "Gemm"), n => Assert.Equal(1, n.Attribute.Single(a => a.Name == "transB").I));
    }

    [Fact]
    public void Bad_parameters_write_nothing_and_an_unwritable_target_is_a_checkpoint_error()
    {
        var spec = new ModelSpec([3, 2], Activation.Relu, LossKind.Mse);
        using var dir = new TempDirectory();
        var path = dir.File("m.onnx");
        File.WriteAllText(path, "old");
        Assert.Throws<ArgumentException>(() => OnnxExport.Save(path, spec, new float[1]));
        Assert.Equal("old", File.ReadAllText(path));
        var e = Assert.Throws<DistBackprop.Core.Checkpoints.CheckpointException>(() =>
            OnnxExport.Save(Path.Combine(path, "below-a-file.onnx"), spec, Initializer.Create(spec, 1)));
        Assert.Contains("could not be written", e.Message, StringComparison.Ordinal);
        Assert.Equal(["m.onnx"], dir.Names());
    }

    internal static float[] RunOnnx(string path, Dataset data)
    {
        using var session = new InferenceSession(path);
        var input = new DenseTensor<float>(data.Features, [data.Count, data.FeatureCount]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
        return results.Single(r => r.Name == "output").AsTensor<float>().ToArray();
    }

    private static Dataset Rows(int count, int features, int classes, int seed)
    {
        var random = new Random(seed);
        var x = new float[count * features];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (float)((random.NextDouble() * 4) - 2);
        }

        var y = new int[count];
        for (var i = 0; i < count; i++)
        {
            y[i] = random.Next(classes);
        }

        return new Dataset("random", x, y, features, classes);
    }
}
