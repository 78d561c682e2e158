// The library entry points, used as an application would: DistBackpropTrainer on arrays and on an IDataset gives
// the reference loop's weights bit for bit (SPEC §3) and a model that predicts, evaluates and saves; the Akka.Hosting
// extensions run a coordinator and a worker in two generic hosts of the test's own over loopback TCP, with the same
// result. Leaves out: the packages themselves (EndToEnd PackagingTests build samples/ against them).
using System.Net;
using System.Net.Sockets;
using Akka.Hosting;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DistBackprop.Cluster.Tests.Api;

public class LibraryApiTests
{
    private static TrainerOptions Options(int workers) => new()
    {
        HiddenLayers = [16],
        LearningRate = 0.05f,
        BatchSize = 64,
        MaxSteps = 40,
        Seed = 3,
        Workers = workers,
        Shards = 4,
        InitialParameters = Initializer.Create(TestData.Spec, 5),
    };

    [Fact]
    public async Task Trainer_on_arrays_and_on_an_IDataset_equals_the_reference_bit_for_bit()
    {
        var data = TestData.Blobs();
        var expected = TestData.Reference(TestData.Config(shards: 4, steps: 40), data);
        var grid = new float[data.Count, data.FeatureCount];
        Buffer.BlockCopy(data.Features, 0, grid, 0, data.Features.Length * sizeof(float));

        var fromArrays = await new DistBackpropTrainer(Options(workers: 2)).TrainAsync(grid, data.Labels);
        var fromView = await new DistBackpropTrainer(Options(workers: 1)).TrainAsync(new RowsOnly(data));
        Assert.True(expected.AsSpan().SequenceEqual(fromArrays.Parameters), TestData.FirstDifference(expected, fromArrays.Parameters));
        Assert.True(expected.AsSpan().SequenceEqual(fromView.Parameters), TestData.FirstDifference(expected, fromView.Parameters));
        Assert.Equal(40, fromArrays.Steps.Count);
        Assert.Equal(TestData.Spec, fromArrays.Spec);

        var (loss, accuracy) = fromArrays.Evaluate(new DatasetView(data));
        Assert.True(accuracy > 0.8 && loss < fromArrays.Steps[0].Loss, $"accuracy {accuracy}, loss {loss}");
        var predicted = fromArrays.Classify(data.Features, data.Count);
        Assert.Equal(accuracy, predicted.Zip(data.Labels).Count(p => p.First == p.Second) / (double)data.Count);
        var probabilities = fromArrays.Predict(data.Features[..(3 * 20)], 3);
        Assert.Equal(12, probabilities.Length);
        Assert.Equal(1f, probabilities[..4].Sum(), 4);

        var dir = Directory.CreateTempSubdirectory("distbackprop-api-").FullName;
        try
        {
            fromArrays.Save(Path.Combine(dir, "m.safetensors"));
            fromArrays.SaveOnnx(Path.Combine(dir, "m.onnx"));
            Assert.Equal(fromArrays.Parameters, ModelFile.Load(Path.Combine(dir, "m.safetensors")).Parameters);
            Assert.True(new FileInfo(Path.Combine(dir, "m.onnx")).Length > fromArrays.Parameters.Length * 4);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Bad_input_is_an_argument_exception_naming_the_problem()
    {
        var trainer = new DistBackpropTrainer(new TrainerOptions { BatchSize = 8, MaxSteps = 1 });
        var e = await Assert.ThrowsAsync<ArgumentException>(() => trainer.TrainAsync(new float[4, 2], [0, 1, 2, 3]));
        Assert.Contains("batch size 8 is larger than the training set (4 rows)", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<ArgumentException>(() => trainer.TrainAsync(new float[6], 2, [0, 1, 2], classes: 2));
        Assert.Contains("label 2 of row 2 is outside 0..1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hosting_extensions_run_a_coordinator_and_a_worker_in_the_applications_own_hosts()
    {
        var data = TestData.Blobs(256);
        var config = TestData.Config(shards: 2, steps: 6);
        var port = FreePort();
        var done = new TaskCompletionSource<TrainingCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var coordinator = AppHost(b => b.WithDistBackpropCoordinator(Node(port), config, data, e =>
        {
            switch (e)
            {
                case TrainingCompleted c:
                    done.TrySetResult(c);
                    break;
                case TrainingFailed f:
                    done.TrySetException(new InvalidOperationException(f.Reason));
                    break;
            }
        }, Initializer.Create(config.Spec, 5)));
        using var worker = AppHost(b => b.WithDistBackpropWorker(Node(0, $"akka.tcp://{DistBackpropAkkaOptions.SystemName}@127.0.0.1:{port}"), data, workerId: "app-worker"));
        await coordinator.StartAsync();
        await worker.StartAsync();
        try
        {
            var completed = await done.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var expected = TestData.Reference(config, data);
            Assert.True(expected.AsSpan().SequenceEqual(completed.Parameters), TestData.FirstDifference(expected, completed.Parameters));
            Assert.Equal(6, completed.Summary.Steps);
        }
        finally
        {
            await worker.StopAsync();
            await coordinator.StopAsync();
        }
    }

    // what an application writes: its own host, its own AddAkka call, our extension inside it
    private static IHost AppHost(Action<AkkaConfigurationBuilder> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddAkka(DistBackpropAkkaOptions.SystemName, (b, _) => configure(b));
        return builder.Build();
    }

    private static DistBackpropAkkaOptions Node(int port, params string[] seeds) => new()
    {
        Host = "127.0.0.1",
        Port = port,
        SeedNodes = seeds,
        TensorPort = 0,
        DowningStableAfter = TimeSpan.FromSeconds(2),
        Tls = TestPki.For(seeds.Length == 0 ? NodeRole.Coordinator : NodeRole.Worker), // the secure default, with the test CA
    };

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    // an IDataset that is not a Core Dataset: the trainer must copy it row by row
    private sealed class RowsOnly(Dataset d) : IDataset
    {
        public int Count => d.Count;

        public int FeatureCount => d.FeatureCount;

        public int Classes => d.Classes;

        public void CopyFeatures(int index, Span<float> destination) => d.Row(index).CopyTo(destination);

        public int Label(int index) => d.Labels[index];
    }
}
