// A worker's gradient streamed a layer at a time over real loopback TCP (TcpWorkerChannel + GradientStreamer,
// driven by Core's per-layer notification): the parts arrive last layer first, each the layer's contiguous range,
// only the final one flagged last and carrying the stats, and the coordinator's assembler puts together exactly
// the bits of the shard sent whole (and of Core's clear-and-accumulate sum). Leaves out: the actors
// (ChannelClusterTests runs the whole cluster against the reference).
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests.Channel;

public sealed class GradientStreamingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(40, 40, 0)] // one chunk: the first backward overwrites and reports
    [InlineData(40, 9, 0)] // five chunks: only the last chunk's backward reports
    [InlineData(0, 9, 0)] // an empty shard: cleared, every layer reported
    [InlineData(40, 40, 100)] // the 52-float output layer waits and goes with the layer below it
    public async Task Parts_arrive_last_layer_first_and_assemble_to_the_whole_frame_bits(int rows, int maxRows, int minPartFloats)
    {
        var spec = new ModelSpec([20, 16, 12, 4], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var data = TestData.Blobs();
        var parameters = Initializer.Create(spec, 7);
        var indices = Enumerable.Range(5, rows).ToArray();
        var mlp = new Mlp<float>(spec, maxRows);

        // the whole-shard sum the old way: cleared, then accumulated
        var expected = new float[spec.ParameterCount];
        var expectedStats = mlp.AccumulateGradient(parameters, expected, data, indices);

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var pool = new TensorPool();
        var accepting = listener.AcceptSocketAsync();
        var nonce = Enumerable.Range(1, FrameCodec.HelloNonceBytes).Select(i => (byte)i).ToArray();
        using var channel = await TcpWorkerChannel.ConnectAsync(new TensorChannelEndpoint("127.0.0.1", port, nonce), spec.ParameterCount, pool, ActorRefs.Nobody);
        using var server = await accepting;
        using var stream = new NetworkStream(server);
        var scratch = new byte[FrameCodec.HeaderBytes];
        Assert.True(FrameCodec.TryReadHeader(stream, scratch, spec.ParameterCount, out var hello));
        Assert.Equal((FrameKind.Hello, spec.ParameterCount), (hello.Kind, hello.Total));
        var sentNonce = new byte[FrameCodec.HelloNonceBytes];
        stream.ReadExactly(sentNonce);
        Assert.Equal(nonce, sentNonce);

        // streamed: the gradient buffer starts as garbage (overwrite mode), parts go while backprop runs
        var streamer = new GradientStreamer(spec.Layout, minPartFloats);
        var sum = new GradientSum(Enumerable.Repeat(float.NaN, spec.ParameterCount).ToArray());
        streamer.Begin(channel, 3, 2, 1, sum.Gradient);
        ReferenceTrainer.ComputeShard(mlp, parameters, data, indices, sum, streamer);
        streamer.Finish(sum.LossSum, sum.Samples, sum.Correct, 1.5);

        // the same shard whole, as one frame (the Akka-era way), after it on the same connection
        channel.SendGradient(4, 2, 1, expected, expectedStats.LossSum, expectedStats.Samples, expectedStats.Correct, 1.5);

        var assembler = new GradientAssembler(spec.ParameterCount, pool);
        var parts = new List<FrameHeader>();
        ShardComputed? streamed = null;
        while (streamed is null)
        {
            Assert.True(FrameCodec.TryReadHeader(stream, scratch, spec.ParameterCount, out var h));
            parts.Add(h);
            FrameCodec.ReadPayload(stream, h, assembler.Begin(h));
            streamed = assembler.Complete(h);
        }

        Assert.True(FrameCodec.TryReadHeader(stream, scratch, spec.ParameterCount, out var wholeHeader));
        FrameCodec.ReadPayload(stream, wholeHeader, assembler.Begin(wholeHeader));
        var whole = assembler.Complete(wholeHeader);
        Assert.NotNull(whole);

        // one part per layer (or per group of layers from the top, when a layer alone is below minPartFloats), last layer
        // first, each exactly a weight-then-bias range ending where the previous part began; only the last flagged
        output.WriteLine(string.Join(", ", parts.Select(p => $"[{p.Offset}+{p.Count}{(p.IsLast ? " last" : "")}]")));
        int[] firstLayers = minPartFloats == 0 ? [2, 1, 0] : [1, 0]; // 52 floats < 100: layer 2 goes with layer 1
        Assert.Equal(firstLayers.Length, parts.Count);
        Assert.Equal(firstLayers.Length, streamer.PartsQueued);
        var end = spec.ParameterCount;
        for (var i = 0; i < parts.Count; i++)
        {
            Assert.Equal(spec.Layout.WeightOffset(firstLayers[i]), parts[i].Offset);
            Assert.Equal(end - parts[i].Offset, parts[i].Count);
            end = parts[i].Offset;
            Assert.Equal(i == parts.Count - 1, parts[i].IsLast);
            Assert.Equal((3L, 2L, 1, spec.ParameterCount), (parts[i].Step, parts[i].Version, parts[i].Shard, parts[i].Total));
        }

        Assert.Equal((expectedStats.Samples, expectedStats.Correct, 1.5), (streamed.Samples, streamed.Correct, streamed.ComputeMs));
        Assert.Equal(BitConverter.DoubleToInt64Bits(expectedStats.LossSum), BitConverter.DoubleToInt64Bits(streamed.LossSum));
        AssertBits(expected, streamed.Gradient, "streamed vs cleared + accumulated");
        AssertBits(whole.Gradient, streamed.Gradient, "streamed vs whole frame");
        Assert.Equal(0, assembler.Abandoned);
    }

    [Fact]
    public async Task A_part_outside_the_gradient_is_refused_and_a_closed_channel_ignores_parts()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accepting = listener.AcceptSocketAsync();
        var channel = await TcpWorkerChannel.ConnectAsync(new TensorChannelEndpoint("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, new byte[FrameCodec.HelloNonceBytes]), 10, new TensorPool(), ActorRefs.Nobody);
        using var server = await accepting;
        var gradient = new float[10];
        Assert.Equal("gradient", Assert.Throws<ArgumentException>(() => channel.SendGradientPart(1, 0, 0, gradient, 6, 5, last: false)).ParamName);
        Assert.Equal("gradient", Assert.Throws<ArgumentException>(() => channel.SendGradientPart(1, 0, 0, new float[9], 0, 9, last: true)).ParamName);
        channel.Dispose();
        channel.SendGradientPart(1, 0, 0, gradient, 0, 10, last: true); // no throw, nothing queued
        Assert.True(channel.IsClosed);
        Assert.Throws<InvalidOperationException>(() => new GradientStreamer(new ParameterLayout([2, 3])).Finish(0, 0, 0, 0));
    }

    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var differ = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            differ += BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]) ? 0 : 1;
        }

        Assert.True(differ == 0, $"{what}: {differ} of {expected.Length} floats differ");
    }
}
