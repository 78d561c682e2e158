// Resume checkpoints: the newest valid file wins, corrupt ones are skipped with a warning, and a run
// interrupted and resumed ends bit-identical to an uninterrupted one (SPEC §3, §7).
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Core.Tests.Checkpoints;

public class CheckpointStoreTests
{
    private static readonly ModelSpec Spec = new([4, 6, 3], Activation.Tanh, LossKind.SoftmaxCrossEntropy);

    /// <summary>50 rows (not a multiple of the batch 8), 4 features, 3 classes; fixed seed.</summary>
    private static Dataset TinyData()
    {
        var rng = new DeterministicRandom(17);
        const int n = 50;
        var x = new float[n * 4];
        var y = new int[n];
        for (var i = 0; i < n; i++)
        {
            y[i] = i % 3;
            for (var f = 0; f < 4; f++)
            {
                x[(4 * i) + f] = (float)(rng.NextGaussian() + (f == y[i] ? 1.5 : 0));
            }
        }

        return new Dataset("tiny", x, y, 4, 3);
    }

    private static TrainingConfig Config(OptimizerKind kind) => new(
        Spec,
        new OptimizerSettings(kind, LearningRate: kind == OptimizerKind.Adam ? 0.01f : 0.1f, WeightDecay: 0.01f),
        BatchSize: 8,
        Epochs: null,
        MaxSteps: 20,
        Seed: 5,
        Shuffle: true,
        Shards: 3);

    [Theory]
    [InlineData(OptimizerKind.Sgd, 10)]
    [InlineData(OptimizerKind.Momentum, 10)]
    [InlineData(OptimizerKind.Nesterov, 10)]
    [InlineData(OptimizerKind.Adam, 10)]
    [InlineData(OptimizerKind.Adam, 7)]   // 7 steps = one whole epoch of 50 rows: resume at an epoch boundary
    [InlineData(OptimizerKind.Momentum, 13)]
    public void Resume_is_bit_identical_to_an_uninterrupted_run(OptimizerKind kind, int stopAfter)
    {
        var data = TinyData();
        var config = Config(kind);
        var straight = new ReferenceTrainer(config, data, Initializer.Create(Spec, config.Seed));
        straight.Run();
        Assert.Equal(20, straight.State.Step);

        using var dir = new TempDirectory();
        var first = new ReferenceTrainer(config, data, Initializer.Create(Spec, config.Seed));
        for (var s = 0; s < stopAfter; s++)
        {
            first.RunStep();
        }

        var path = CheckpointStore.Save(dir.Path, first.State, [new("dataset", data.Fingerprint)]);
        Assert.Equal(dir.File($"ckpt-{stopAfter:D8}.safetensors"), path);

        // A new process: other initial weights, state restored from the file only.
        var point = CheckpointStore.LoadNewestValid(dir.Path, Spec);
        Assert.Equal(stopAfter, point.Step);
        Assert.Equal(data.Fingerprint, point.Metadata["dataset"]);
        var resumed = new ReferenceTrainer(config, data, new float[Spec.ParameterCount]);
        CheckpointStore.Apply(point, resumed.State);
        Assert.Equal(first.State.Epoch, resumed.State.Epoch);
        Assert.Equal(first.State.Position, resumed.State.Position);
        Assert.Equal(first.State.Optimizer.StepCount, resumed.State.Optimizer.StepCount);
        resumed.Run();

        Assert.Equal(20, resumed.State.Step);
        TestParameters.AssertBitIdentical(straight.State.Parameters, resumed.State.Parameters);
        for (var i = 0; i < straight.State.Optimizer.State.Count; i++)
        {
            TestParameters.AssertBitIdentical(straight.State.Optimizer.State[i].Data, resumed.State.Optimizer.State[i].Data);
        }
    }

    [Fact]
    public void Metadata_describes_the_run()
    {
        using var dir = new TempDirectory();
        var trainer = new ReferenceTrainer(Config(OptimizerKind.Adam), TinyData(), Initializer.Create(Spec, 5));
        trainer.RunStep();
        trainer.RunStep();
        var point = CheckpointStore.LoadNewestValid(CheckpointStore.Save(dir.Path, trainer.State), Spec);

        var m = point.Metadata;
        Assert.Equal("2", m["step"]);
        Assert.Equal("0", m["epoch"]);
        Assert.Equal("16", m["position"]);
        Assert.Equal("5", m["seed"]);
        Assert.Equal("2", m["optimizer_steps"]);
        Assert.Equal("8", m["batch"]);
        Assert.Equal("3", m["shards"]);
        Assert.Equal("true", m["shuffle"]);
        Assert.Equal("4,6,3", m["layers"]);
        Assert.Equal("tanh", m["activation"]);
        Assert.Equal("softmax-ce", m["loss"]);
        Assert.Equal("adam", m["optimizer"]);
        Assert.Equal("0.01", m["lr"]);
        Assert.Equal(64, m["checksum"].Length);
        Assert.Equal(["optimizer.exp_avg", "optimizer.exp_avg_sq"], point.OptimizerState.Keys.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(m.Keys, k => k is "shape" or "dtype" or "data_offsets");
    }

    [Fact]
    public void A_truncated_newest_checkpoint_falls_back_to_the_previous_one_with_a_warning()
    {
        using var dir = new TempDirectory();
        var (after, paths) = SaveThree(dir);
        var newest = paths[2];
        var bytes = File.ReadAllBytes(newest);
        File.WriteAllBytes(newest, bytes[..(bytes.Length - 10)]);
        File.WriteAllText(dir.File("notes.txt"), "not a checkpoint");

        var warnings = new List<string>();
        var point = CheckpointStore.LoadNewestValid(dir.Path, Spec, warnings.Add);
        Assert.Equal(2, point.Step);
        Assert.Equal(paths[1], point.Path);
        var warning = Assert.Single(warnings);
        Assert.StartsWith($"ignoring {newest}: ", warning, StringComparison.Ordinal);
        Assert.Contains("truncated", warning, StringComparison.Ordinal);

        // It holds exactly the weights after step 2.
        TestParameters.AssertBitIdentical(after[1], point.Parameters);
    }

    [Fact]
    public void A_flipped_data_byte_is_a_checksum_mismatch()
    {
        using var dir = new TempDirectory();
        var (_, paths) = SaveThree(dir);
        var bytes = File.ReadAllBytes(paths[2]);
        bytes[^5] ^= 0x01;
        File.WriteAllBytes(paths[2], bytes);

        var warnings = new List<string>();
        Assert.Equal(2, CheckpointStore.LoadNewestValid(dir.Path, Spec, warnings.Add).Step);
        Assert.Contains("checksum mismatch", Assert.Single(warnings), StringComparison.Ordinal);

        // Named directly, the corrupt file is an error, not a fallback.
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.LoadNewestValid(paths[2], Spec));
        Assert.Equal(paths[2], e.Path);
        Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);

        // ModelFile also verifies the checksum of files we wrote.
        Assert.Contains("checksum mismatch", Assert.Throws<CheckpointException>(() => ModelFile.Load(paths[2])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoints_of_another_architecture_are_skipped_and_then_refused()
    {
        using var dir = new TempDirectory();
        SaveThree(dir);
        var other = new ModelSpec([4, 7, 3], Activation.Tanh, LossKind.SoftmaxCrossEntropy);
        var warnings = new List<string>();
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.LoadNewestValid(dir.Path, other, warnings.Add));
        Assert.Equal(dir.Path, e.Path);
        Assert.Contains("no valid checkpoint", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, warnings.Count);
        Assert.All(warnings, w => Assert.Contains("layers.0.weight is [6, 4], the architecture 4,7,3 needs [7, 4]", w, StringComparison.Ordinal));
    }

    [Fact]
    public void An_empty_or_missing_directory_is_a_clear_error()
    {
        using var dir = new TempDirectory();
        Assert.Contains("holds no checkpoint", Assert.Throws<CheckpointException>(() => CheckpointStore.LoadNewestValid(dir.Path, Spec)).Message, StringComparison.Ordinal);
        var missing = dir.File("nope");
        Assert.Equal(missing, Assert.Throws<CheckpointException>(() => CheckpointStore.LoadNewestValid(missing, Spec)).Path);
    }

    [Fact]
    public void A_model_file_without_checksum_is_not_a_resume_checkpoint()
    {
        using var dir = new TempDirectory();
        var path = dir.File("model.safetensors");
        ModelFile.Save(path, Spec, Initializer.Create(Spec, 1));
        Assert.Contains("no checksum", Assert.Throws<CheckpointException>(() => CheckpointStore.LoadNewestValid(path, Spec)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_refuses_another_optimizer_and_leaves_the_state_untouched()
    {
        using var dir = new TempDirectory();
        var data = TinyData();
        var adam = new ReferenceTrainer(Config(OptimizerKind.Adam), data, Initializer.Create(Spec, 5));
        adam.RunStep();
        var point = CheckpointStore.LoadNewestValid(CheckpointStore.Save(dir.Path, adam.State), Spec);

        var initial = Initializer.Create(Spec, 9);
        var sgd = new ReferenceTrainer(Config(OptimizerKind.Sgd), data, initial.ToArray());
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.Apply(point, sgd.State));
        Assert.Contains("optimizer adam, this run uses sgd", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, sgd.State.Step);
        TestParameters.AssertBitIdentical(initial, sgd.State.Parameters);

        var sigmoid = Config(OptimizerKind.Adam) with { Spec = new ModelSpec(Spec.Sizes, Activation.Sigmoid, Spec.Loss) };
        var other = new ReferenceTrainer(sigmoid, data, initial.ToArray());
        Assert.Contains("activation tanh, this run uses sigmoid", Assert.Throws<CheckpointException>(() => CheckpointStore.Apply(point, other.State)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_refuses_a_position_beyond_the_data()
    {
        using var dir = new TempDirectory();
        var data = TinyData();
        var trainer = new ReferenceTrainer(Config(OptimizerKind.Sgd), data, Initializer.Create(Spec, 5));
        for (var s = 0; s < 5; s++)
        {
            trainer.RunStep();
        }

        var point = CheckpointStore.LoadNewestValid(CheckpointStore.Save(dir.Path, trainer.State), Spec);
        var smaller = new ReferenceTrainer(Config(OptimizerKind.Sgd), data.Subset("small", Enumerable.Range(0, 30).ToArray()), Initializer.Create(Spec, 5));
        Assert.Contains("row 40", Assert.Throws<CheckpointException>(() => CheckpointStore.Apply(point, smaller.State)).Message, StringComparison.Ordinal);
    }

    /// <summary>Checkpoints after steps 1, 2 and 3 of an SGD-with-momentum run.</summary>
    private static (float[][] ParametersAfter, string[] Paths) SaveThree(TempDirectory dir)
    {
        var trainer = new ReferenceTrainer(Config(OptimizerKind.Momentum), TinyData(), Initializer.Create(Spec, 5));
        var paths = new string[3];
        var after = new float[3][];
        for (var s = 0; s < 3; s++)
        {
            trainer.RunStep();
            paths[s] = CheckpointStore.Save(dir.Path, trainer.State);
            after[s] = trainer.State.Parameters.ToArray();
        }

        Assert.Equal(["ckpt-00000001.safetensors", "ckpt-00000002.safetensors", "ckpt-00000003.safetensors"], dir.Names());
        return (after, paths);
    }
}
