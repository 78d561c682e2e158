// The tensor channel's frames: header and payload round trips bit for bit (NaN payloads, −0, infinities,
// subnormals), frames split across many tiny reads (a stream that hands out a few bytes at a time, and real
// loopback TCP with the sender writing a few bytes per send), malformed headers refused, a truncated frame
// detected, and the gradient assembler's part/abandon rules. Leaves out: the actors (ChannelClusterTests).
using System.Net;
using System.Net.Sockets;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Serialization;
using DistBackprop.Core.Tensors;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests.Channel;

public class FrameCodecTests(ITestOutputHelper output)
{
    private static float[] Awkward(int n, long seed)
    {
        var rng = DeterministicRandom.For(seed, 1);
        var x = new float[n];
        for (var i = 0; i < n; i++)
        {
            x[i] = (float)rng.NextGaussian();
        }

        float[] special =
        [
            float.NaN, -0f, 0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon, float.MaxValue,
            BitConverter.Int32BitsToSingle(0x7fa00001), // signalling NaN with payload
            BitConverter.Int32BitsToSingle(unchecked((int)0xffc12345)), // negative quiet NaN with payload
            BitConverter.Int32BitsToSingle(0x00000123), // subnormal
        ];
        special.AsSpan(0, Math.Min(special.Length, n)).CopyTo(x);
        return x;
    }

    private static void AssertBits(float[] expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var differ = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            differ += BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]) ? 0 : 1;
        }

        Assert.True(differ == 0, $"{differ} of {expected.Length} floats changed bits");
    }

    private static FrameHeader Gradient(long step, int shard, int offset, int count, int total, bool last) =>
        new(FrameKind.Gradient, last ? FrameHeader.LastFlag : (byte)0, step, step - 1, shard, offset, count, total, -1.5e300, 17, 9, 0.25);

    [Fact]
    public void Header_and_payload_round_trip_bit_for_bit()
    {
        var payload = Awkward(1000, 3);
        var h = new FrameHeader(FrameKind.Gradient, FrameHeader.LastFlag, long.MaxValue, -7, 3, 0, payload.Length, payload.Length, double.NaN, int.MaxValue, 5, -0.0);
        using var stream = new MemoryStream();
        var scratch = new byte[FrameCodec.HeaderBytes];
        FrameCodec.Write(stream, scratch, h, payload);
        Assert.Equal(FrameCodec.HeaderBytes + (4 * payload.Length), stream.Length);

        stream.Position = 0;
        Assert.True(FrameCodec.TryReadHeader(stream, scratch, 1000, out var back));
        Assert.Equal(BitConverter.DoubleToInt64Bits(h.LossSum), BitConverter.DoubleToInt64Bits(back.LossSum));
        Assert.Equal(BitConverter.DoubleToInt64Bits(h.ComputeMs), BitConverter.DoubleToInt64Bits(back.ComputeMs));
        Assert.Equal(h with { LossSum = 0, ComputeMs = 0 }, back with { LossSum = 0, ComputeMs = 0 });
        var into = new float[payload.Length];
        FrameCodec.ReadPayload(stream, back, into);
        AssertBits(payload, into);
        Assert.False(FrameCodec.TryReadHeader(stream, scratch, 1000, out _)); // clean end of stream
    }

    [Fact]
    public void The_header_layout_is_fixed_little_endian()
    {
        var bytes = new byte[FrameCodec.HeaderBytes];
        FrameCodec.WriteHeader(bytes, new FrameHeader(FrameKind.Weights, 1, 0x0102030405060708, 2, -1, 0, 3, 4));
        Assert.Equal("DBC1"u8.ToArray(), bytes[..4]);
        Assert.Equal(2, bytes[4]);
        Assert.Equal(1, bytes[5]);
        Assert.Equal([8, 7, 6, 5, 4, 3, 2, 1], bytes[8..16]);
        Assert.Equal([0xff, 0xff, 0xff, 0xff], bytes[24..28]);
        Assert.Equal([3, 0, 0, 0], bytes[32..36]);
    }

    [Fact]
    public void Frames_split_into_tiny_reads_come_back_whole()
    {
        var a = Awkward(333, 1);
        var b = Awkward(500, 2);
        using var stream = new MemoryStream();
        var scratch = new byte[FrameCodec.HeaderBytes];
        FrameCodec.Write(stream, scratch, Gradient(4, 0, 0, a.Length, a.Length, last: true), a);
        FrameCodec.Write(stream, scratch, new FrameHeader(FrameKind.Weights, 1, 0, 4, -1, 0, b.Length, b.Length), b);

        using var trickle = new TrickleStream(stream.ToArray(), seed: 7);
        Assert.True(FrameCodec.TryReadHeader(trickle, scratch, 1000, out var h1));
        var into1 = new float[h1.Count];
        FrameCodec.ReadPayload(trickle, h1, into1);
        Assert.True(FrameCodec.TryReadHeader(trickle, scratch, 1000, out var h2));
        var into2 = new float[h2.Count];
        FrameCodec.ReadPayload(trickle, h2, into2);
        Assert.False(FrameCodec.TryReadHeader(trickle, scratch, 1000, out _));
        output.WriteLine($"{trickle.Reads} reads of 1–7 bytes for {stream.Length} bytes");
        Assert.Equal((4L, 0, 17, 9), (h1.Step, h1.Shard, h1.Samples, h1.Correct));
        Assert.Equal((FrameKind.Weights, 4L), (h2.Kind, h2.Version));
        AssertBits(a, into1);
        AssertBits(b, into2);
    }

    [Fact]
    public async Task A_frame_sent_in_tiny_tcp_segments_over_loopback_comes_back_whole()
    {
        var payload = Awkward(4096, 9);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();

        var frame = new MemoryStream();
        var scratch = new byte[FrameCodec.HeaderBytes];
        FrameCodec.Write(frame, scratch, Gradient(2, 1, 0, payload.Length, payload.Length, last: true), payload);
        var bytes = frame.ToArray();
        var sender = Task.Run(() =>
        {
            var rng = DeterministicRandom.For(5, 2);
            for (var at = 0; at < bytes.Length;)
            {
                var n = Math.Min(1 + rng.NextInt(13), bytes.Length - at);
                client.Send(bytes, at, n, SocketFlags.None); // NoDelay: each send is its own segment where the kernel allows
                at += n;
            }
        });

        using var stream = new NetworkStream(server);
        Assert.True(FrameCodec.TryReadHeader(stream, scratch, payload.Length, out var h));
        var into = new float[h.Count];
        FrameCodec.ReadPayload(stream, h, into);
        await sender;
        AssertBits(payload, into);
    }

    [Fact]
    public void Malformed_headers_and_truncated_frames_are_refused()
    {
        var scratch = new byte[FrameCodec.HeaderBytes];
        var good = new byte[FrameCodec.HeaderBytes];
        FrameCodec.WriteHeader(good, Gradient(1, 0, 0, 10, 10, last: true));

        var badMagic = good.ToArray();
        badMagic[0] ^= 0xff;
        Assert.Contains("magic", Assert.Throws<FrameFormatException>(() => FrameCodec.ReadHeader(badMagic, 10)).Message);

        var badKind = good.ToArray();
        badKind[4] = 99;
        Assert.Contains("kind 99", Assert.Throws<FrameFormatException>(() => FrameCodec.ReadHeader(badKind, 10)).Message);

        Assert.Throws<FrameFormatException>(() => FrameCodec.ReadHeader(good, 9)); // bigger than the model
        var outOfRange = new byte[FrameCodec.HeaderBytes];
        FrameCodec.WriteHeader(outOfRange, Gradient(1, 0, 5, 6, 10, last: true));
        Assert.Throws<FrameFormatException>(() => FrameCodec.ReadHeader(outOfRange, 10));
        var negative = new byte[FrameCodec.HeaderBytes];
        FrameCodec.WriteHeader(negative, Gradient(1, 0, 0, -1, 10, last: true));
        Assert.Throws<FrameFormatException>(() => FrameCodec.ReadHeader(negative, 10));

        // a stream that ends inside the header, and one that ends inside the payload
        Assert.Throws<EndOfStreamException>(() => FrameCodec.TryReadHeader(new MemoryStream(good[..30]), scratch, 10, out _));
        var truncated = new MemoryStream([.. good, .. new byte[39]]);
        Assert.True(FrameCodec.TryReadHeader(truncated, scratch, 10, out var h));
        Assert.Throws<EndOfStreamException>(() => FrameCodec.ReadPayload(truncated, h, new float[10]));
    }

    [Fact]
    public void The_assembler_hands_out_a_gradient_only_when_every_part_is_there()
    {
        var pool = new TensorPool();
        var assembler = new GradientAssembler(10, pool);
        var full = Awkward(10, 4);

        // last layer first: [6, 10), then [0, 6) flagged last
        var p1 = Gradient(3, 1, 6, 4, 10, last: false);
        full.AsSpan(6, 4).CopyTo(assembler.Begin(p1));
        Assert.Null(assembler.Complete(p1));
        var p2 = Gradient(3, 1, 0, 6, 10, last: true);
        full.AsSpan(0, 6).CopyTo(assembler.Begin(p2));
        var reply = assembler.Complete(p2);
        Assert.NotNull(reply);
        Assert.Equal((3L, 1, 17, 9), (reply.Step, reply.Shard, reply.Samples, reply.Correct));
        AssertBits(full, reply.Gradient);
        Assert.True(pool.Return(reply.Gradient)); // from the pool

        // a part of another (step, shard) abandons the unfinished one; its array goes back to the pool
        var q1 = Gradient(4, 0, 0, 5, 10, last: false);
        assembler.Begin(q1);
        Assert.Null(assembler.Complete(q1));
        var r1 = Gradient(4, 1, 0, 10, 10, last: true);
        assembler.Begin(r1);
        Assert.NotNull(assembler.Complete(r1));
        Assert.Equal(1, assembler.Abandoned);

        // a last part before every float arrived, or a frame of another size, is a protocol error
        var s1 = Gradient(5, 0, 0, 5, 10, last: true);
        assembler.Begin(s1);
        Assert.Throws<FrameFormatException>(() => assembler.Complete(s1));
        Assert.Throws<FrameFormatException>(() => assembler.Begin(Gradient(5, 0, 0, 5, 11, last: true)));
    }

    /// <summary>Hands out its bytes 1–7 at a time, as TCP may.</summary>
    private sealed class TrickleStream(byte[] bytes, long seed) : Stream
    {
        private readonly DeterministicRandom _rng = DeterministicRandom.For(seed, 3);
        private int _at;

        public int Reads { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => bytes.Length;

        public override long Position { get => _at; set => throw new NotSupportedException(); }

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(Math.Min(buffer.Length, 1 + _rng.NextInt(7)), bytes.Length - _at);
            bytes.AsSpan(_at, n).CopyTo(buffer);
            _at += n;
            Reads++;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
