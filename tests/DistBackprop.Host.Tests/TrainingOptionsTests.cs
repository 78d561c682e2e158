// The training options end to end through `train`, against independent float64 implementations:
//   - five runs of `train --data <idx> --layers 784,32,10 --no-shuffle --init a --out b --max-steps 60 …` (step + warmup,
//     cosine + warmup + clip, label smoothing, momentum + weight decay + cosine, adam + warmup) against Oracle.TorchMlp
//     within 1e-5, with the metrics file's lr and grad_norm columns checked against the oracle's per-step values;
//   - dropout bit-identical with 1, 2 and 4 workers (fixed --shards), and on the actor engine and the reference loop;
//   - early stopping on the embedded digits (--val-split 0.1 --early-stop 3 --epochs 100) stopping by itself, --best-out
//     holding the best epoch's model;
//   - a resumed run equal to an uninterrupted one bit for bit with every option on.
using System.Globalization;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Host.Tests.Oracle;
using Xunit.Abstractions;

namespace DistBackprop.Host.Tests;

public sealed class TrainingOptionsTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly ITestOutputHelper _log;

    public TrainingOptionsTests(ITestOutputHelper log) => _log = log;

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string[], TorchRun> OracleRuns() => new()
    {
        {
            "step + warmup",
            ["--lr", "0.1", "--lr-schedule", "step", "--lr-step-size", "15", "--lr-gamma", "0.5", "--warmup-steps", "10"],
            new TorchRun(Lr: 0.1, Schedule: "step", StepSize: 15, Gamma: 0.5, Warmup: 10)
        },
        {
            "cosine + warmup + clip",
            ["--lr", "0.2", "--lr-schedule", "cosine", "--lr-min", "0.001", "--warmup-steps", "10", "--clip-grad-norm", "0.5"],
            new TorchRun(Lr: 0.2, Schedule: "cosine", LrMin: 0.001, Warmup: 10, Clip: 0.5)
        },
        {
            "label smoothing",
            ["--lr", "0.1", "--label-smoothing", "0.1"],
            new TorchRun(Lr: 0.1, LabelSmoothing: 0.1)
        },
        {
            "momentum + weight decay + cosine",
            ["--optimizer", "momentum", "--momentum", "0.9", "--lr", "0.05", "--weight-decay", "0.01", "--lr-schedule", "cosine"],
            new TorchRun(Optimizer: "momentum", Lr: 0.05, Momentum: 0.9, WeightDecay: 0.01, Schedule: "cosine")
        },
        {
            "adam + warmup",
            ["--optimizer", "adam", "--lr", "0.001", "--warmup-steps", "20", "--warmup-start-factor", "0.1"],
            new TorchRun(Optimizer: "adam", Lr: 0.001, Warmup: 20, WarmupFactor: 0.1)
        },
    };

    [Theory]
    [MemberData(nameof(OracleRuns))]
    public void Sixty_steps_match_a_float64_torch_oracle(string name, string[] options, TorchRun run)
    {
        const int n = 200, pixels = 784, steps = 60, batch = 32;
        var (folder, images, labels) = RandomIdx(n, seed: 11);
        int[] sizes = [pixels, 32, 10];
        var init = TrainTests.RandomParameters(sizes, seed: 3);
        string a = _dir.File("a.safetensors"), b = _dir.File("b.safetensors"), metrics = _dir.File("m.csv");
        TrainTests.WriteSafetensors(a, sizes, init);

        var r = Cli.Run(_dir.Path, ["train", "--data", folder, "--layers", "784,32,10", "--batch", "32", "--no-shuffle", "--init", a, "--out", b,
            "--max-steps", "60", "--metrics", metrics, "--plain", .. options]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var trained = ModelFile.Load(b).Parameters;

        var torch = new TorchMlp(init, run, steps);
        var position = 0;
        for (var step = 0; step < steps; step++)
        {
            var rows = Math.Min(batch, n - position);
            torch.Step(images, labels, Enumerable.Range(position, rows).ToArray());
            position = (position + rows) % n;
        }

        var expected = torch.Flat();
        var maxDiff = expected.Zip(trained, (e, t) => Math.Abs(e - t)).Max();

        // the per-step lr and grad_norm columns against the oracle's
        var rowsOut = File.ReadAllLines(metrics).Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(steps, rowsOut.Length);
        double lrError = 0, normError = 0;
        for (var s = 0; s < steps; s++)
        {
            var (lr, norm) = torch.Steps[s];
            lrError = Math.Max(lrError, Math.Abs(double.Parse(rowsOut[s][10], CultureInfo.InvariantCulture) - lr) / lr);
            normError = Math.Max(normError, Math.Abs(double.Parse(rowsOut[s][11], CultureInfo.InvariantCulture) - norm) / norm);
        }

        _log.WriteLine($"{name}: max |torch oracle − distbackprop| over {expected.Length} weights after {steps} steps {maxDiff:E2}; " +
            $"lr relative error {lrError:E2}, grad norm relative error {normError:E2}; {torch.ClippedSteps} steps clipped");
        Assert.True(maxDiff <= 1e-5, $"{name}: max diff {maxDiff:E2} > 1e-5");
        Assert.True(lrError <= 1e-6, $"{name}: lr column off by {lrError:E2}");
        Assert.True(normError <= 1e-4, $"{name}: grad_norm column off by {normError:E2}");
        if (run.Clip is not null)
        {
            Assert.InRange(torch.ClippedSteps, 1, steps - 1); // both kinds of step happened
        }
    }

    [Fact]
    public void Dropout_gives_bit_identical_weights_with_1_2_and_4_workers_and_on_the_reference_loop()
    {
        string[] common = ["train", "--dropout", "0.3", "--label-smoothing", "0.1", "--shards", "4", "--batch", "50", "--max-steps", "30",
            "--lr-schedule", "cosine", "--warmup-steps", "5", "--clip-grad-norm", "1", "--plain"];
        var models = new List<float[]>();
        foreach (var workers in new[] { "1", "2", "4" })
        {
            var path = _dir.File($"w{workers}.safetensors");
            var r = Cli.Run(_dir.Path, [.. common, "--workers", workers, "--out", path]);
            Assert.True(r.ExitCode == 0, r.ToString());
            models.Add(ModelFile.Load(path).Parameters);
        }

        var reference = _dir.File("reference.safetensors");
        var rr = Cli.Run(_dir.Path, null, default, reference: true, [.. common, "--out", reference]);
        Assert.True(rr.ExitCode == 0, rr.ToString());
        models.Add(ModelFile.Load(reference).Parameters);

        var plain = _dir.File("plain.safetensors");
        var rp = Cli.Run(_dir.Path, ["train", "--shards", "4", "--batch", "50", "--max-steps", "30", "--lr-schedule", "cosine", "--warmup-steps", "5",
            "--clip-grad-norm", "1", "--plain", "--out", plain]);
        Assert.True(rp.ExitCode == 0, rp.ToString());

        Assert.All(models.Skip(1), m => Assert.Equal(models[0], m));
        Assert.NotEqual(ModelFile.Load(plain).Parameters, models[0]); // dropout did something
        Assert.Equal("0.3", ModelFile.Load(reference).Metadata["dropout"]);
    }

    [Fact]
    public void Early_stopping_on_the_digits_stops_by_itself_and_best_out_holds_the_best_epoch()
    {
        string out_ = _dir.File("last.safetensors"), best = _dir.File("best.safetensors"), metrics = _dir.File("m.csv");
        var r = Cli.Run(_dir.Path, "train", "--val-split", "0.1", "--early-stop", "3", "--epochs", "100", "--optimizer", "adam", "--lr", "0.01",
            "--batch", "128", "--best-out", best, "--out", out_, "--metrics", metrics, "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        _log.WriteLine(string.Join('\n', r.Out.Split('\n').Where(l => l.StartsWith("epoch", StringComparison.Ordinal) || l.Contains("early", StringComparison.Ordinal))));

        // the epochs file: one row per epoch that ran; the run ended 3 epochs after the lowest validation loss
        var epochs = File.ReadAllLines(EpochsFileOf(metrics));
        Assert.Equal("epoch,step,test_loss,test_accuracy,val_loss,val_accuracy", epochs[0]);
        var rows = epochs.Skip(1).Select(l => l.Split(',')).ToArray();
        var valLoss = rows.Select(f => double.Parse(f[4], CultureInfo.InvariantCulture)).ToArray();
        var bestEpoch = Array.IndexOf(valLoss, valLoss.Min());
        Assert.True(rows.Length < 100, "early stopping must end the run before --epochs");
        Assert.Equal(bestEpoch + 1 + 3, rows.Length);
        Assert.Contains($"early stopping after epoch {rows.Length}", r.Out, StringComparison.Ordinal);

        // --best-out: the model of that epoch (its validation loss recomputed from the file), --out the last one
        var model = ModelFile.Load(best);
        Assert.Equal((bestEpoch + 1).ToString(CultureInfo.InvariantCulture), model.Metadata["best_epoch"]);
        Assert.Equal(rows[bestEpoch][1], model.Metadata["step"]);
        var validation = DatasetLoader.Load(null, new DataOptions(Seed: 1, ValSplit: 0.1)).Validation!;
        var spec = new ModelSpec(model.Sizes, Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var again = new Training.Evaluator(spec).Evaluate(model.Parameters, validation);
        Assert.Equal(valLoss[bestEpoch], again.Loss);
        Assert.NotEqual(model.Parameters, ModelFile.Load(out_).Parameters);
        Assert.Equal(rows[^1][1], ModelFile.Load(out_).Metadata["step"]);
    }

    [Fact]
    public void A_run_with_every_option_resumed_from_a_checkpoint_equals_the_uninterrupted_one()
    {
        // spirals: 3000 rows, 600 held out for validation, batch 50 → 48 steps per epoch; early stopping may end it before --epochs
        string[] common = ["train", "--data", "spirals", "--layers", "2,32,32,3", "--optimizer", "nesterov", "--lr", "0.2", "--weight-decay", "0.001",
            "--batch", "50", "--epochs", "12", "--lr-schedule", "cosine", "--lr-min", "0.01", "--warmup-steps", "30", "--clip-grad-norm", "2",
            "--dropout", "0.1", "--label-smoothing", "0.05", "--val-split", "0.2", "--early-stop", "2", "--shards", "3", "--plain"];
        string full = _dir.File("full.safetensors"), fullBest = _dir.File("full-best.safetensors"), ckpt = _dir.File("ckpt");
        var r1 = Cli.Run(_dir.Path, [.. common, "--checkpoint-dir", ckpt, "--checkpoint-every", "40", "--out", full, "--best-out", fullBest]);
        Assert.True(r1.ExitCode == 0, r1.ToString());
        var steps = int.Parse(ModelFile.Load(full).Metadata["step"], CultureInfo.InvariantCulture);
        _log.WriteLine($"uninterrupted: {steps} steps; {(r1.Out.Contains("early stopping", StringComparison.Ordinal) ? "stopped early" : "ran to the end")}");

        // resume from a checkpoint in the middle of an epoch, after some epochs were evaluated
        foreach (var from in new[] { 120, 240 }.Where(s => s < steps))
        {
            string resumed = _dir.File($"resumed-{from}.safetensors"), resumedBest = _dir.File($"resumed-best-{from}.safetensors");
            File.Copy(fullBest, resumedBest, overwrite: true); // the best so far, as the interrupted run would have left it
            var r2 = Cli.Run(_dir.Path, [.. common, "--resume", Path.Combine(ckpt, $"ckpt-{from:D8}.safetensors"), "--out", resumed, "--best-out", resumedBest]);
            Assert.True(r2.ExitCode == 0, r2.ToString());
            Assert.Contains("resuming from", r2.Out, StringComparison.Ordinal);
            Assert.Equal(ModelFile.Load(full).Metadata["step"], ModelFile.Load(resumed).Metadata["step"]);
            Assert.Equal(ModelFile.Load(full).Parameters, ModelFile.Load(resumed).Parameters);
            Assert.Equal(ModelFile.Load(fullBest).Parameters, ModelFile.Load(resumedBest).Parameters);
        }
    }

    private static string EpochsFileOf(string metrics) => Path.Combine(Path.GetDirectoryName(metrics)!, Path.GetFileNameWithoutExtension(metrics) + ".epochs.csv");

    /// <summary>n random 28×28 images with random labels as an IDX folder; the bytes, for the oracle.</summary>
    private (string Folder, byte[] Images, byte[] Labels) RandomIdx(int n, int seed)
    {
        var rng = new Random(seed);
        var images = new byte[n * 784];
        rng.NextBytes(images);
        var labels = new byte[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = (byte)rng.Next(10);
        }

        var folder = Directory.CreateDirectory(_dir.File("mnist")).FullName;
        TrainTests.WriteIdx(Path.Combine(folder, "train-images-idx3-ubyte"), 0x803, [n, 28, 28], images);
        TrainTests.WriteIdx(Path.Combine(folder, "train-labels-idx1-ubyte"), 0x801, [n], labels);
        return (folder, images, labels);
    }
}
