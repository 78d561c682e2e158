// The one checkpoint writer's policy: every N steps, or at epoch ends when N is 0, once more at the end unless the
// last step has one, nothing without a directory, and a resumed run does not rewrite its starting point.
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Tests.Coordination;

public sealed class CheckpointWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distbackprop-writer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Writes_every_N_steps_or_at_epoch_ends_and_once_at_the_end()
    {
        var data = TestData.Blobs(128);
        var config = TestData.Config(shards: 2, steps: 7) with { BatchSize = 32 }; // 4 steps per epoch
        var trainer = new ReferenceTrainer(config, data, Initializer.Create(config.Spec, 5));
        var d = new DatasetDescriptor("blobs", 11, 0, data.Fingerprint, data.Count);
        var every3 = new CheckpointWriter(Path.Combine(_dir, "n"), 3, d, s => [new("run", "test")], startStep: 0);
        var epochs = new CheckpointWriter(Path.Combine(_dir, "e"), 0, d, null, startStep: 0);
        var none = new CheckpointWriter(null, 3, d, null, startStep: 0);
        var (byEvery, byEpoch) = (new List<long>(), new List<long>());
        while (trainer.RunStep() is { } o)
        {
            if (every3.AfterStep(trainer.State, o.EpochCompleted) is { } a)
            {
                byEvery.Add(a.Step);
            }

            if (epochs.AfterStep(trainer.State, o.EpochCompleted) is { } b)
            {
                byEpoch.Add(b.Step);
            }

            Assert.Null(none.AfterStep(trainer.State, o.EpochCompleted));
        }

        Assert.Equal([3, 6], byEvery);
        Assert.Equal([4], byEpoch);
        Assert.Equal(7, every3.Final(trainer.State)!.Step);
        Assert.Null(every3.Final(trainer.State)); // written already
        Assert.Null(none.Final(trainer.State));
        var point = CheckpointStore.LoadNewestValid(Path.Combine(_dir, "n"), config.Spec);
        Assert.Equal(7, point.Step);
        Assert.Equal("test", point.Metadata["run"]);
        Assert.Equal(data.Fingerprint, point.Metadata["data_fingerprint"]);

        var resumed = new CheckpointWriter(Path.Combine(_dir, "n"), 3, d, null, startStep: 7);
        Assert.Null(resumed.Final(trainer.State)); // its starting point is on disk already
    }

    [Fact]
    public void An_unwritable_directory_is_a_checkpoint_write_error_naming_the_step()
    {
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "x");
        var config = TestData.Config(shards: 1);
        var state = new TrainingState(config, 10, new float[config.Spec.ParameterCount]);
        var writer = new CheckpointWriter(file, 1, new DatasetDescriptor(null, 1, 0, "f", 10), null, 0);
        var e = Assert.Throws<CheckpointWriteException>(() => writer.Final(state));
        Assert.Contains("after step 0", e.Message);
    }
}
