// The coordinator's own checkpoints (CoordinatorSettings.CheckpointDirectory / CheckpointEvery, written through
// Core's CheckpointStore) in local mode: a run resumed from one ends bit-identical to the uninterrupted run, and a
// diverging run fails with exit code 3 naming the step and tensor while the newest checkpoint stays the last good
// step. Leaves out: checkpoint file format and corruption (Core tests), restart over TCP (FaultToleranceTests).
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public sealed class CheckpointAndDivergenceTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distbackprop-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Checkpoints_every_N_steps_and_a_run_resumed_from_one_ends_bit_identical()
    {
        var data = TestData.Blobs();
        var config = TestData.Config(shards: 3, steps: 20, kind: OptimizerKind.Adam);
        var written = new List<long>();
        var full = await LocalTraining.RunLocalAsync(new TrainingState(config, data.Count, Initializer.Create(config.Spec, 5)), data,
            Options(2, e =>
            {
                if (e is CheckpointWritten c)
                {
                    written.Add(c.Step);
                }
            }));
        Assert.Equal([5, 10, 15, 20], written);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp*"));

        var point = CheckpointStore.LoadNewestValid(Path.Combine(_dir, CheckpointStore.FileName(10)), config.Spec);
        Assert.Equal("blobs", point.Metadata["data_source"]);
        Assert.Equal(data.Fingerprint, point.Metadata["data_fingerprint"]);
        var state = new TrainingState(config, data.Count, new float[config.Spec.ParameterCount]);
        CheckpointStore.Apply(point, state);
        var resumed = await LocalTraining.RunLocalAsync(state, data, Options(1, null));
        Assert.Equal(10, resumed.Steps.Count);
        var diff = TestData.FirstDifference(full.Parameters, resumed.Parameters);
        output.WriteLine($"resumed from step 10 vs uninterrupted: {diff}");
        Assert.True(diff == "identical", diff);
    }

    [Fact]
    public async Task A_diverging_run_fails_with_exit_code_3_naming_step_and_tensor_and_keeps_the_last_good_checkpoint()
    {
        var data = TestData.Blobs();
        var config = TestData.Config(shards: 2, steps: 50) with { Optimizer = new OptimizerSettings(OptimizerKind.Sgd, LearningRate: 1e18f) };
        var e = await Assert.ThrowsAsync<TrainingFailedException>(() => LocalTraining.RunLocalAsync(
            new TrainingState(config, data.Count, Initializer.Create(config.Spec, 5)), data, Options(2, null, every: 1)));
        output.WriteLine($"exit {e.ExitCode}: {e.Message}");
        Assert.Equal(3, e.ExitCode);
        Assert.Contains($"step {e.Step}", e.Message);
        Assert.Matches(@"layers\.\d\.(weight|bias)|loss", e.Message);
        Assert.True(e.Step > 1, "diverged at once: the test wants a good checkpoint first");

        var newest = CheckpointStore.LoadNewestValid(_dir, config.Spec, w => output.WriteLine(w));
        Assert.Equal(e.Step - 1, newest.Step);
        Assert.False(File.Exists(Path.Combine(_dir, CheckpointStore.FileName(e.Step))));
        Assert.All(newest.Parameters, p => Assert.True(float.IsFinite(p)));
    }

    [Fact]
    public void Checkpoint_settings_are_checked_naming_the_option()
    {
        var config = TestData.Config(shards: 1);
        var settings = new DistBackprop.Cluster.Coordination.CoordinatorSettings
        {
            State = new TrainingState(config, 10, new float[config.Spec.ParameterCount]),
            Dataset = new DatasetDescriptor(null, 1, 0, "x", 10),
            CheckpointEvery = 5,
        };
        Assert.Contains("--checkpoint-dir", settings.Validate());
        Assert.Contains("--checkpoint-every", (settings with { CheckpointEvery = -1 }).Validate());
        Assert.Null((settings with { CheckpointDirectory = _dir }).Validate());
    }

    private LocalTrainingOptions Options(int workers, Action<ITrainingEvent>? events, int every = 5) => new()
    {
        Workers = workers,
        DataSource = "blobs",
        DataSeed = 11,
        Akka = new DistBackpropAkkaOptions { SerializeMessages = true },
        CheckpointDirectory = _dir,
        CheckpointEvery = every,
        Events = events,
    };
}
