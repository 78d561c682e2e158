// Serialization stays honest: bindings go where they should, the tensor serializer round-trips a
// 1M-float gradient bit for bit (and its throughput is printed), Hyperion refuses foreign types, and
// an unknown message type is refused and logged while the system keeps working.
using System.Diagnostics;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Event;
using Akka.Serialization;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public sealed class NotAProjectMessage
{
    public string Text { get; set; } = "";
}

public class SerializationTests(ITestOutputHelper output) : HostedTestKit(output)
{
    private readonly ITestOutputHelper _output = output;

    [Fact]
    public void Bindings_send_each_kind_of_message_to_its_serializer()
    {
        var s = Sys.Serialization;
        Assert.IsType<TensorSerializer>(s.FindSerializerFor(new ShardComputed(1, 0, [1f], 0, 1, 0, 0, 0)));
        Assert.IsType<TensorSerializer>(s.FindSerializerFor(new ComputeShards(1, 0, [], null)));
        Assert.IsType<HyperionSerializer>(s.FindSerializerFor(new RegisterWorker("w", "AVX2", null, null, 1)));
        Assert.IsType<HyperionSerializer>(s.FindSerializerFor(SubscribeProgress.Instance));
        var guard = Assert.IsType<GuardSerializer>(s.FindSerializerFor(new NotAProjectMessage()));
        var e = Assert.Throws<SerializationException>(() => guard.ToBinary(new NotAProjectMessage()));
        Assert.Contains(nameof(NotAProjectMessage), e.Message);
    }

    [Fact]
    public void The_training_options_fields_round_trip_through_hyperion()
    {
        // appended fields with defaults: dropout p, ε and the mask seed with the model, the validation split with the data, the step's lr and
        // gradient norm in the report, the validation figures in the epoch event
        var model = new ModelDescriptor([4, 5, 3], "relu", "softmax-ce", Dropout: 0.25f, LabelSmoothing: 0.1f, DropoutSeed: 77);
        var accepted = new RegistrationAccepted("c", model, new DatasetDescriptor("digits", 3, 0, "abc", 7200, ValSplit: 0.1), 32, "AVX2");
        var report = new StepReport(5, 0, 1.5, 0.5, 100, 2, 1, 0, 0, 0, 64, 0, 0, 0, LearningRate: 0.0125, GradNorm: 3.25);
        var epoch = new EpochEvaluated(2, 300, 0.4, 0.9, 0.3, 0.91, 2000, 0.35, 0.905, 800, BestValEpoch: 2);
        foreach (var message in new object[] { accepted, report, epoch })
        {
            var serializer = Sys.Serialization.FindSerializerFor(message);
            Assert.IsType<HyperionSerializer>(serializer);
            var back = serializer.FromBinary(serializer.ToBinary(message), message.GetType());
            Assert.Equal(message.ToString(), back.ToString()); // records print every field
        }

        var spec = ((RegistrationAccepted)Sys.Serialization.FindSerializerFor(accepted).FromBinary(Sys.Serialization.FindSerializerFor(accepted).ToBinary(accepted), typeof(RegistrationAccepted))).Model.ToSpec();
        Assert.Equal(new Core.Model.Regularization(0.25f, 0.1f, 77), spec.Regularization);
        Assert.Equal(model, new ModelDescriptor([4, 5, 3], "relu", "softmax-ce")); // a worker's own --layers matches whatever the regularization
    }

    [Fact]
    public void Tensor_serializer_round_trips_a_1M_float_gradient_bit_for_bit_and_reports_throughput()
    {
        var rng = new DeterministicRandom(42);
        var gradient = new float[1 << 20];
        for (var i = 0; i < gradient.Length; i++)
        {
            gradient[i] = (float)rng.NextGaussian();
        }

        gradient[3] = float.NaN;
        gradient[4] = -0f;
        gradient[5] = float.Epsilon;
        var message = new ShardComputed(41, 3, gradient, 123.25, 64, 17, 2.5, 0.5);
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(message);
        var bytes = serializer.ToBinary(message);
        Assert.Equal((4 * gradient.Length) + 52, bytes.Length); // 52-byte header, then the raw floats
        var back = Assert.IsType<ShardComputed>(serializer.FromBinary(bytes, serializer.Manifest(message)));
        Assert.Equal((message.Step, message.Shard, message.LossSum, message.Samples, message.Correct, message.ComputeMs), (back.Step, back.Shard, back.LossSum, back.Samples, back.Correct, back.ComputeMs));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.AsBytes(gradient.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(back.Gradient.AsSpan())), "gradient bits differ");

        const int rounds = 20;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < rounds; i++)
        {
            serializer.FromBinary(serializer.ToBinary(message), TensorSerializer.GradientManifest);
        }

        var mbPerS = rounds * 2.0 * bytes.Length / (1 << 20) / sw.Elapsed.TotalSeconds;
        _output.WriteLine($"TensorSerializer: 1M-float gradient ({bytes.Length} bytes), serialize + deserialize: {mbPerS:F0} MB/s each way, {sw.Elapsed.TotalMilliseconds / rounds:F2} ms per round trip");

        var work = new ComputeShards(7, 6, [new ShardWork(0, [5, 1, 9]), new ShardWork(2, [])], [1.5f, -2f]);
        var w = Assert.IsType<ComputeShards>(serializer.FromBinary(serializer.ToBinary(work), serializer.Manifest(work)));
        Assert.Equal((7L, 6L, 2), (w.Step, w.WeightsVersion, w.Shards.Length));
        Assert.Equal([5, 1, 9], w.Shards[0].Indices);
        Assert.Equal(2, w.Shards[1].Shard);
        Assert.Equal([1.5f, -2f], w.Weights!);
        var noWeights = Assert.IsType<ComputeShards>(serializer.FromBinary(serializer.ToBinary(work with { Weights = null }), TensorSerializer.ComputeManifest));
        Assert.Null(noWeights.Weights);

        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes.AsSpan(0, bytes.Length - 4).ToArray(), TensorSerializer.GradientManifest));
    }

    [Fact]
    public void Hyperion_refuses_to_read_a_payload_naming_a_foreign_type()
    {
        // An unrestricted Hyperion (what a hostile or misconfigured peer could run) writes a foreign object where the
        // receiver expects a project message; the project's restricted serializer must refuse to materialise it.
        var open = new HyperionSerializer((ExtendedActorSystem)Sys, HyperionSerializerSettings.Default.WithDisallowUnsafeType(false));
        var bytes = open.ToBinary(new NotAProjectMessage { Text = "hello" });
        var restricted = Sys.Serialization.FindSerializerFor(SubscribeProgress.Instance);
        Assert.ThrowsAny<Exception>(() => restricted.FromBinary(bytes, typeof(object)));
        var ok = restricted.FromBinary(restricted.ToBinary(new RegistrationRefused("why")), typeof(RegistrationRefused));
        Assert.Equal(new RegistrationRefused("why"), ok);
    }

    [Fact]
    public void An_unknown_message_type_is_refused_and_logged_and_the_system_keeps_working()
    {
        var errors = CreateTestProbe();
        Sys.EventStream.Subscribe(errors.Ref, typeof(Error));
        var target = CreateTestProbe();
        try
        {
            target.Ref.Tell(new NotAProjectMessage { Text = "x" });
        }
        catch (Exception e)
        {
            _output.WriteLine($"Tell threw {e.GetType().Name}: {e.Message}");
        }

        var error = errors.ExpectMsg<Error>(TimeSpan.FromSeconds(5));
        _output.WriteLine($"logged: {error.Cause?.Message ?? error.Message?.ToString()}");
        Assert.Contains(nameof(NotAProjectMessage), error.Cause?.ToString() + error.Message);
        target.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        target.Ref.Tell(new RegistrationRefused("still working"));
        Assert.Equal("still working", target.ExpectMsg<RegistrationRefused>().Reason);
    }

    [Fact]
    public void Received_tensors_land_in_pooled_arrays_that_only_their_pool_takes_back()
    {
        var serializer = Assert.IsType<TensorSerializer>(Sys.Serialization.FindSerializerFor(new ShardComputed(1, 0, [1f], 0, 1, 0, 0, 0)));
        var message = new ShardComputed(7, 2, [1f, -2.5f, float.Epsilon], 0.5, 3, 1, 0, 0);
        var bytes = serializer.ToBinary(message);
        var first = (ShardComputed)serializer.FromBinary(bytes, serializer.Manifest(message));
        Assert.Equal(message.Gradient, first.Gradient);
        Assert.False(serializer.Pool.Return(message.Gradient)); // never rented: an in-process array is left alone
        Assert.True(serializer.Pool.Return(first.Gradient));
        Assert.False(serializer.Pool.Return(first.Gradient)); // at most once
        var second = (ShardComputed)serializer.FromBinary(bytes, serializer.Manifest(message));
        Assert.Same(first.Gradient, second.Gradient); // reused, every element overwritten
        Assert.Equal(message.Gradient, second.Gradient);
        var compute = new ComputeShards(3, 2, [new ShardWork(0, [4, 5])], [9f, 8f, 7f]);
        var weights = ((ComputeShards)serializer.FromBinary(serializer.ToBinary(compute), serializer.Manifest(compute))).Weights!;
        Assert.NotSame(second.Gradient, weights);
        Assert.True(serializer.Pool.Return(weights));
    }
}
