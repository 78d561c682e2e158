// ModelFile (--out / --init): bit-exact round trip, a strict loader's view of the file, and
// messages that say exactly which tensor does not fit.
using System.Text.Json;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Tests.Checkpoints;

public class ModelFileTests
{
    private static readonly ModelSpec Mnist = new([784, 128, 10], Activation.Relu, LossKind.SoftmaxCrossEntropy);

    [Fact]
    public void Round_trip_is_bit_identical_with_metadata()
    {
        using var dir = new TempDirectory();
        var path = dir.File("model.safetensors");
        var p = TestParameters.Random(Mnist, 11);
        ModelFile.Save(path, Mnist, p, [new("step", "1200"), new("seed", "1"), new("layers", "784,128,10")]);

        var model = ModelFile.Load(path);
        Assert.Equal(Mnist.Sizes, model.Sizes);
        TestParameters.AssertBitIdentical(p, model.Parameters);
        Assert.Equal(Activation.Relu, model.Activation);
        Assert.Equal(LossKind.SoftmaxCrossEntropy, model.Loss);
        Assert.Equal("1200", model.Metadata["step"]);
        Assert.Equal("784,128,10", model.Metadata["layers"]);
        Assert.Equal("distbackprop", model.Metadata["format"]);
        TestParameters.AssertBitIdentical(p, ModelFile.LoadFor(path, Mnist));
    }

    [Fact]
    public void The_out_file_holds_exactly_the_layer_tensors()
    {
        // What a strict loader (load_state_dict(strict=True) on nn.Sequential-like "layers") checks: no unknown names.
        using var dir = new TempDirectory();
        var path = dir.File("model.safetensors");
        var spec = new ModelSpec([5, 4, 3, 2], Activation.Sigmoid, LossKind.SigmoidCrossEntropy);
        ModelFile.Save(path, spec, TestParameters.Random(spec, 1), [new("optimizer", "adam"), new("lr", "0.001")]);

        var bytes = File.ReadAllBytes(path);
        var n = (int)BitConverter.ToUInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, n));
        var names = header.RootElement.EnumerateObject().Select(p => p.Name).Where(k => k != "__metadata__").Order(StringComparer.Ordinal);
        Assert.Equal(["layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight", "layers.2.bias", "layers.2.weight"], names);
        foreach (var m in header.RootElement.GetProperty("__metadata__").EnumerateObject())
        {
            Assert.Equal(JsonValueKind.String, m.Value.ValueKind);
        }
    }

    [Fact]
    public void Shape_mismatch_names_the_tensor_and_both_shapes()
    {
        using var dir = new TempDirectory();
        var path = dir.File("a.safetensors");
        var other = new ModelSpec([784, 32, 10], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        ModelFile.Save(path, other, TestParameters.Random(other, 1));

        var e = Assert.Throws<CheckpointException>(() => ModelFile.LoadFor(path, Mnist));
        Assert.Contains($"{path}:", e.Message, StringComparison.Ordinal);
        Assert.Contains("layers.0.weight is [32, 784], the architecture 784,128,10 needs [128, 784]", e.Message, StringComparison.Ordinal);
        Assert.Contains("layers.0.bias is [32], the architecture 784,128,10 needs [128]", e.Message, StringComparison.Ordinal);
        Assert.Contains("layers.1.weight is [10, 32], the architecture 784,128,10 needs [10, 128]", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("layers.1.bias", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Layer_count_mismatch_is_named()
    {
        using var dir = new TempDirectory();
        var path = dir.File("deep.safetensors");
        var deep = new ModelSpec([784, 128, 64, 10], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        ModelFile.Save(path, deep, TestParameters.Random(deep, 1));
        var e = Assert.Throws<CheckpointException>(() => ModelFile.LoadFor(path, Mnist));
        Assert.Equal($"{path}: holds 3 layers (784,128,64,10), the architecture 784,128,10 has 2", e.Message);
    }

    public static TheoryData<string, string, string> BrokenLayerSets => new()
    {
        // name, header tensors (F32, offsets filled in), expected problem
        { "missing-middle", "layers.0.weight:3x2 layers.0.bias:3 layers.2.weight:2x3 layers.2.bias:2", "has no tensor layers.1.weight, but has layer tensors up to index 2" },
        { "missing-bias", "layers.0.weight:3x2 layers.1.weight:2x3 layers.1.bias:2", "has no tensor layers.0.bias" },
        { "no-chain", "layers.0.weight:3x2 layers.0.bias:3 layers.1.weight:2x4 layers.1.bias:2", "layers do not chain: layers.1.weight is [2, 4], so it takes 4 inputs, but layers.0.weight gives 3 outputs" },
        { "bias-size", "layers.0.weight:3x2 layers.0.bias:2", "layers.0.bias has shape [2], layers.0.weight [3, 2] needs [3]" },
        { "unknown-layer-tensor", "layers.0.weight:3x2 layers.0.bias:3 layers.0.running_mean:3", "unexpected tensor layers.0.running_mean" },
        { "weight-rank", "layers.0.weight:6 layers.0.bias:3", "layers.0.weight has shape [6], expected [out, in]" },
        { "no-layers", "fc.weight:3x2 fc.bias:3", "holds no layers.0.weight tensor" },
    };

    [Theory]
    [MemberData(nameof(BrokenLayerSets))]
    public void Layer_sets_that_do_not_form_an_MLP_are_refused(string name, string tensors, string problem)
    {
        using var dir = new TempDirectory();
        var path = dir.File($"{name}.safetensors");
        var entries = new List<string>();
        long offset = 0;
        foreach (var t in tensors.Split(' '))
        {
            var parts = t.Split(':');
            var shape = parts[1].Split('x').Select(long.Parse).ToArray();
            var bytes = 4 * shape.Aggregate(1L, (a, b) => a * b);
            entries.Add($$"""
                "{{parts[0]}}":{"dtype":"F32","shape":[{{string.Join(',', shape)}}],"data_offsets":[{{offset}},{{offset + bytes}}]}
                """);
            offset += bytes;
        }

        File.WriteAllBytes(path, HandWritten.File("{" + string.Join(',', entries) + "}", new byte[offset]));
        var e = Assert.Throws<CheckpointException>(() => ModelFile.Load(path));
        Assert.StartsWith($"{path}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_resume_checkpoint_also_loads_as_a_model()
    {
        // --init from a checkpoint: the optimizer.* tensors are not layers.* and are ignored.
        using var dir = new TempDirectory();
        var spec = new ModelSpec([4, 3], Activation.Relu, LossKind.Mse);
        var p = TestParameters.Random(spec, 5);
        SafeTensors.Write(dir.File("c.safetensors"), [.. ModelFile.LayerTensors(spec, p), new("optimizer.exp_avg", [p.Length], new float[p.Length])], []);
        TestParameters.AssertBitIdentical(p, ModelFile.LoadFor(dir.File("c.safetensors"), spec));
    }

    [Fact]
    public void Metadata_that_contradicts_the_spec_is_refused()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<ArgumentException>(() => ModelFile.Save(dir.File("m.safetensors"), Mnist, TestParameters.Random(Mnist, 1), [new("layers", "784,64,10")]));
        Assert.Contains("784,128,10", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_parameter_count_is_an_argument_error()
    {
        using var dir = new TempDirectory();
        Assert.Throws<ArgumentException>(() => ModelFile.Save(dir.File("m.safetensors"), Mnist, new float[10]));
        Assert.Empty(dir.Names());
    }
}
