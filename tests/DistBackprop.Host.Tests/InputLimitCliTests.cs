// Bad input that used to end in an exception (issue 11 item 9), now exit 2 with one line naming the option or file:
// a CSV so wide that the default model cannot be indexed names --data and says to pass --layers; NaN or ∞ in the
// model given to `train --init` or `eval --model` names the file and the tensor. Leaves out: the readers' own limits
// (Core InputLimitTests).
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Model;

namespace DistBackprop.Host.Tests;

public sealed class InputLimitCliTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_csv_too_wide_for_the_default_model_names_data_and_layers()
    {
        // one data row of 17 M features: the default model [17 M, 128, 2] has 2.18 G parameters
        var path = _dir.File("wide.csv");
        using (var w = new StreamWriter(path))
        {
            w.Write('1');
            var zeros = string.Concat(Enumerable.Repeat(",0", 1_000_000));
            for (var i = 0; i < 17; i++)
            {
                w.Write(zeros);
            }

            w.Write('\n');
        }

        var r = Cli.Run(_dir.Path, "train", "--plain", "--data", path, "--batch", "1", "--max-steps", "1");
        ValidationTests.AssertUsage(r, "--data", "the default model for its 17,000,000 features is too large");
        Assert.Contains("pass --layers with smaller layers", r.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.NegativeInfinity)]
    public void A_non_finite_weight_in_init_or_model_names_the_tensor(float bad)
    {
        var spec = new ModelSpec([400, 16, 10], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var parameters = Initializer.Create(spec, 3);
        parameters[spec.Layout.BiasOffset(0) + 5] = bad;
        var path = _dir.File("bad.safetensors");
        ModelFile.Save(path, spec, parameters);

        var train = Cli.Run(_dir.Path, "train", "--plain", "--init", path, "--max-steps", "1");
        ValidationTests.AssertUsage(train, "bad.safetensors", "tensor layers.0.bias holds");
        Assert.Contains("at [5]", train.Err, StringComparison.Ordinal);

        var eval = Cli.Run(_dir.Path, "eval", "--model", path);
        ValidationTests.AssertUsage(eval, "bad.safetensors", "tensor layers.0.bias holds");
    }
}
