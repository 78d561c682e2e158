// Every bad value is refused before any work with exit code 2, one message naming the option (or
// file) and the problem, and no stack trace (SPEC §6).
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Model;

namespace DistBackprop.Host.Tests;

public sealed class ValidationTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("--lr -0.5", "--lr", "-0.5")]
    [InlineData("--lr NaN", "--lr", "NaN")]
    [InlineData("--batch 0", "--batch", "0")]
    [InlineData("--epochs 0", "--epochs", "0")]
    [InlineData("--max-steps 0", "--max-steps", "0")]
    [InlineData("--activation swish", "--activation", "swish")]
    [InlineData("--loss hinge", "--loss", "hinge")]
    [InlineData("--optimizer rmsprop", "--optimizer", "rmsprop")]
    [InlineData("--layers 64,,10", "--layers", "64,,10")]
    [InlineData("--layers 64", "--layers", "64")]
    [InlineData("--layers 400,100000000,10", "--layers", "has 41,100,000,010 parameters; at most 2,147,483,591 fit in one buffer")]
    [InlineData("--layers 400,20000000,10 --batch 200", "--layers", "parameters")]
    [InlineData("--test-split 1", "--test-split", "1")]
    [InlineData("--test-split -0.1", "--test-split", "-0.1")]
    [InlineData("--shards 0", "--shards", "0")]
    [InlineData("--workers 0", "--workers", "0")]
    [InlineData("--threads 0", "--threads", "0")]
    [InlineData("--momentum 1", "--momentum", "1")]
    [InlineData("--weight-decay -1", "--weight-decay", "-1")]
    [InlineData("--checkpoint-every 5", "--checkpoint-every", "--checkpoint-dir")]
    [InlineData("--metrics m.txt", "--metrics", "m.txt")]
    public void Bad_option_value_exits_2_naming_the_option(string args, string option, string detail)
    {
        var r = Cli.Run(_dir.Path, ("train " + args).Split(' '));
        AssertUsage(r, option, detail);
    }

    [Theory]
    [InlineData("--lr-schedule linear", "--lr-schedule", "linear")]
    [InlineData("--lr-schedule step", "--lr-schedule step", "--lr-step-size")]
    [InlineData("--lr-schedule step --lr-step-size 0", "--lr-step-size", "at least 1")]
    [InlineData("--lr-schedule cosine --lr-step-size 10", "--lr-step-size", "--lr-schedule step only")]
    [InlineData("--lr-gamma 0.5", "--lr-gamma", "--lr-schedule step only")]
    [InlineData("--lr-schedule step --lr-step-size 5 --lr-gamma 0", "--lr-gamma", "> 0")]
    [InlineData("--lr-min 0.01", "--lr-min", "--lr-schedule cosine only")]
    [InlineData("--lr-schedule cosine --lr-min 1", "--lr-min", "above --lr")]
    [InlineData("--warmup-steps -1", "--warmup-steps", "-1")]
    [InlineData("--warmup-start-factor 0.5", "--warmup-start-factor", "needs --warmup-steps")]
    [InlineData("--warmup-steps 10 --warmup-start-factor 0", "--warmup-start-factor", "(0, 1]")]
    [InlineData("--max-steps 50 --warmup-steps 50", "--warmup-steps 50", "less than the run's 50 steps")]
    [InlineData("--epochs 1 --batch 4000 --lr-schedule cosine --warmup-steps 2", "--warmup-steps 2", "less than the run's 2 steps")]
    [InlineData("--clip-grad-norm 0", "--clip-grad-norm", "> 0")]
    [InlineData("--clip-grad-norm -3", "--clip-grad-norm", "-3")]
    [InlineData("--val-split 1", "--val-split", "[0, 1)")]
    [InlineData("--val-split 0.00001", "--val-split", "no rows")]
    [InlineData("--early-stop 3", "--early-stop", "--val-split")]
    [InlineData("--val-split 0.1 --early-stop 0", "--early-stop", "at least 1")]
    [InlineData("--best-out b.safetensors", "--best-out", "--val-split")]
    [InlineData("--val-split 0.1 --best-out x.safetensors --out x.safetensors", "--best-out", "same file")]
    [InlineData("--dropout 1", "--dropout", "[0, 1)")]
    [InlineData("--dropout -0.2", "--dropout", "-0.2")]
    [InlineData("--label-smoothing 1.5", "--label-smoothing", "[0, 1)")]
    [InlineData("--label-smoothing 0.1 --loss mse", "--label-smoothing", "--loss softmax-ce")]
    public void Training_options_that_make_no_sense_exit_2_naming_the_options(string args, string option, string detail)
    {
        var r = Cli.Run(_dir.Path, ("train " + args).Split(' '));
        AssertUsage(r, option, detail);
    }

    [Fact]
    public void Several_bad_values_each_get_their_own_line()
    {
        var r = Cli.Run(_dir.Path, "train", "--lr", "-1", "--batch", "0", "--activation", "foo");
        AssertUsage(r, "--lr", "-1");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Count(l => l.StartsWith("error:", StringComparison.Ordinal)));
    }

    [Fact]
    public void Batch_larger_than_the_training_set_names_both_sizes()
    {
        var r = Cli.Run(_dir.Path, "train", "--batch", "10000000");
        AssertUsage(r, "--batch", "larger than the training set");
    }

    [Fact]
    public void Layers_that_do_not_fit_the_data_name_both_numbers()
    {
        var r = Cli.Run(_dir.Path, "train", "--layers", "7,16,3");
        AssertUsage(r, "--layers", "input size 7");
        Assert.Contains("output size 3", r.Err, StringComparison.Ordinal);
        Assert.Contains("features", r.Err, StringComparison.Ordinal);
        Assert.Contains("10 classes", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_init_file_is_named()
    {
        var r = Cli.Run(_dir.Path, "train", "--init", _dir.File("missing.safetensors"));
        AssertUsage(r, "--init", "missing.safetensors");
    }

    [Fact]
    public void Init_with_other_shapes_reports_the_loader_message()
    {
        var path = _dir.File("small.safetensors");
        var spec = new ModelSpec([3, 4, 2], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        ModelFile.Save(path, spec, Initializer.Create(spec, 1));
        var features = TrainedFeatures();
        var r = Cli.Run(_dir.Path, "train", "--init", path, "--layers", $"{features},16,10");
        AssertUsage(r, "small.safetensors", "layers.0.weight");
    }

    [Theory]
    [InlineData("monitor --seed-nodes akka.tcp://distbackprop@127.0.0.1:4053 --max-frame-size 12QB", "--max-frame-size", "12QB")]
    [InlineData("monitor --seed-nodes akka.tcp://distbackprop@127.0.0.1:4053 --max-frame-size 1KiB", "--max-frame-size", "at least 32 KiB")]
    [InlineData("monitor --seed-nodes nowhere", "--seed-nodes", "nowhere")]
    [InlineData("monitor", "--seed-nodes", "required")]
    public void Bad_monitor_option_exits_2_naming_the_option(string args, string option, string detail)
    {
        var r = Cli.Run(_dir.Path, args.Split(' '));
        AssertUsage(r, option, detail);
    }

    [Fact]
    public void Unknown_option_is_System_CommandLine_usage_error()
    {
        var r = Cli.Run(_dir.Path, "train", "--learning-rate", "0.1");
        AssertUsage(r, "--learning-rate", "Unrecognized");
    }

    [Fact]
    public void Unparsable_number_is_a_usage_error()
    {
        var r = Cli.Run(_dir.Path, "train", "--batch", "many");
        AssertUsage(r, "--batch", "many");
    }

    [Fact]
    public void Bad_data_file_is_a_usage_error_with_the_loaders_message()
    {
        var csv = _dir.File("bad.csv");
        File.WriteAllText(csv, "label,a,b\n0,0.5,0.25\n1,oops,0.5\n");
        var r = Cli.Run(_dir.Path, "train", "--data", csv);
        AssertUsage(r, "bad.csv", "oops");
    }

    [Fact]
    public void Missing_data_file_is_a_usage_error()
    {
        var r = Cli.Run(_dir.Path, "train", "--data", _dir.File("nothing-here.csv"));
        AssertUsage(r, "nothing-here.csv", string.Empty);
    }

    [Fact]
    public void Corrupt_resume_checkpoint_is_a_usage_error()
    {
        var ckpt = _dir.File("ckpt-00000001.safetensors");
        File.WriteAllBytes(ckpt, [1, 2, 3, 4, 5]);
        var r = Cli.Run(_dir.Path, "train", "--resume", ckpt);
        AssertUsage(r, "ckpt-00000001.safetensors", string.Empty);
    }

    [Fact]
    public void Learning_rate_has_no_upper_bound()
    {
        var r = Cli.Run(_dir.Path, "train", "--lr", "1000", "--max-steps", "1");
        Assert.True(r.ExitCode is 0 or 3, r.ToString());
        Assert.DoesNotContain("--lr", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Eval_without_model_is_a_usage_error()
    {
        AssertUsage(Cli.Run(_dir.Path, "eval"), "--model", "required");
    }

    [Fact]
    public void Gradcheck_with_malformed_layers_is_a_usage_error()
    {
        AssertUsage(Cli.Run(_dir.Path, "gradcheck", "--layers", "4;5"), "--layers", "4;5");
    }

    internal static void AssertUsage(CliResult r, string option, string detail)
    {
        Assert.True(r.ExitCode == 2, $"expected exit 2\n{r}");
        Assert.Contains(option, r.Err, StringComparison.Ordinal);
        Assert.Contains(detail, r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", r.Err, StringComparison.Ordinal);
    }

    private static int TrainedFeatures() =>
        Core.Data.DatasetLoader.Load(null, new Core.Data.DataOptions()).Train.FeatureCount;
}
