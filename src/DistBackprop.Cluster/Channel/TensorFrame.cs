// The frames of the tensor channel (docs/tensor-channel.md): a fixed 64-byte little-endian header, then
// Count floats as raw little-endian bytes. Written and read straight from/to the caller's float arrays
// (MemoryMarshal), so a 1 MB gradient costs one copy into the socket and one out, and no buffer per frame.
// TCP is reliable and ordered, so there is no checksum: the magic number and the bounds checks catch a
// peer that speaks something else. Leaves out: sockets and threads (TcpCoordinatorChannel, TcpWorkerChannel).
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace DistBackprop.Cluster.Channel;

/// <summary>What a frame carries.</summary>
public enum FrameKind : byte
{
    /// <summary>Worker → coordinator, first frame of a connection: <see cref="FrameHeader.Total"/> is the worker's parameter count, and
    /// the header is followed by the 32-byte nonce of its registration (<see cref="FrameCodec.HelloNonceBytes"/>, not floats).</summary>
    Hello = 1,

    /// <summary>Coordinator → worker: the weights of version <see cref="FrameHeader.Version"/> (whole, or one part).</summary>
    Weights = 2,

    /// <summary>Worker → coordinator: part of shard <see cref="FrameHeader.Shard"/>'s summed gradient of step <see cref="FrameHeader.Step"/>;
    /// the part flagged <see cref="FrameHeader.LastFlag"/> also carries the shard's loss sum, samples, correct and compute time.</summary>
    Gradient = 3,
}

/// <summary>
/// A frame header. Layout (little-endian, 64 bytes): magic u32 "DBC1", kind u8, flags u8, reserved u16 (0), step i64,
/// version i64, shard i32, offset i32, count i32, total i32, lossSum f64, samples i32, correct i32, computeMs f64.
/// The payload, Count floats, is element [Offset, Offset + Count) of a flat tensor of Total floats.
/// </summary>
public readonly record struct FrameHeader(
    FrameKind Kind,
    byte Flags,
    long Step,
    long Version,
    int Shard,
    int Offset,
    int Count,
    int Total,
    double LossSum = 0,
    int Samples = 0,
    int Correct = 0,
    double ComputeMs = 0)
{
    /// <summary>Flag: the last part of this tensor (the stats fields are meaningful).</summary>
    public const byte LastFlag = 1;

    public bool IsLast => (Flags & LastFlag) != 0;

    public int PayloadBytes => Count * sizeof(float);
}

/// <summary>The peer sent something that is not a valid frame; the connection is closed (a failed worker).</summary>
public sealed class FrameFormatException(string message) : IOException(message);

/// <summary>Encoding and decoding of <see cref="FrameHeader"/> and the float payload.</summary>
public static class FrameCodec
{
    public const int HeaderBytes = 64;
    public const uint Magic = 0x31434244; // "DBC1"

    /// <summary>The registration nonce after a Hello header (RegistrationAccepted's TensorChannelEndpoint.Nonce).</summary>
    public const int HelloNonceBytes = 32;

    /// <summary>Socket buffer size asked for each direction (the kernel caps it, e.g. net.core.wmem_max).</summary>
    public const int SocketBufferBytes = 4 << 20;

    /// <summary>
    /// No Nagle delay, and socket buffers that hold a whole mnist-sized frame, so a sender writes a tensor in one go
    /// instead of waking up the reader and itself for every few hundred KB. Call before connect / listen (the receive
    /// window is negotiated then); accepted sockets inherit the listener's buffers.
    /// </summary>
    public static void Tune(System.Net.Sockets.Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        socket.NoDelay = true;
        if (SocketBufferBytes > 0)
        {
            socket.SendBufferSize = SocketBufferBytes;
            socket.ReceiveBufferSize = SocketBufferBytes;
        }
    }

    /// <summary>The channel copies floats as raw bytes: it needs a little-endian machine (else the Akka transport is used).</summary>
    public static bool Supported => BitConverter.IsLittleEndian;

    /// <summary>Writes <paramref name="h"/> into <paramref name="into"/> (64 bytes).</summary>
    public static void WriteHeader(Span<byte> into, in FrameHeader h)
    {
        if (into.Length < HeaderBytes)
        {
            throw new ArgumentException($"a frame header needs {HeaderBytes} bytes, got {into.Length}", nameof(into));
        }

        BinaryPrimitives.WriteUInt32LittleEndian(into, Magic);
        into[4] = (byte)h.Kind;
        into[5] = h.Flags;
        BinaryPrimitives.WriteUInt16LittleEndian(into[6..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(into[8..], h.Step);
        BinaryPrimitives.WriteInt64LittleEndian(into[16..], h.Version);
        BinaryPrimitives.WriteInt32LittleEndian(into[24..], h.Shard);
        BinaryPrimitives.WriteInt32LittleEndian(into[28..], h.Offset);
        BinaryPrimitives.WriteInt32LittleEndian(into[32..], h.Count);
        BinaryPrimitives.WriteInt32LittleEndian(into[36..], h.Total);
        BinaryPrimitives.WriteDoubleLittleEndian(into[40..], h.LossSum);
        BinaryPrimitives.WriteInt32LittleEndian(into[48..], h.Samples);
        BinaryPrimitives.WriteInt32LittleEndian(into[52..], h.Correct);
        BinaryPrimitives.WriteDoubleLittleEndian(into[56..], h.ComputeMs);
    }

    /// <summary>
    /// Decodes a header; throws <see cref="FrameFormatException"/> for a bad magic number or kind, or counts that do not fit
    /// (negative, Offset + Count &gt; Total, Total &gt; <paramref name="maxFloats"/>).
    /// </summary>
    public static FrameHeader ReadHeader(ReadOnlySpan<byte> from, int maxFloats)
    {
        if (from.Length < HeaderBytes)
        {
            throw new ArgumentException($"a frame header needs {HeaderBytes} bytes, got {from.Length}", nameof(from));
        }

        var magic = BinaryPrimitives.ReadUInt32LittleEndian(from);
        if (magic != Magic)
        {
            throw new FrameFormatException($"tensor channel: bad magic number 0x{magic:x8} (the peer is not a DistBackprop tensor channel)");
        }

        var kind = (FrameKind)from[4];
        if (kind is not (FrameKind.Hello or FrameKind.Weights or FrameKind.Gradient))
        {
            throw new FrameFormatException($"tensor channel: unknown frame kind {from[4]}");
        }

        var h = new FrameHeader(kind, from[5],
            BinaryPrimitives.ReadInt64LittleEndian(from[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(from[16..]),
            BinaryPrimitives.ReadInt32LittleEndian(from[24..]),
            BinaryPrimitives.ReadInt32LittleEndian(from[28..]),
            BinaryPrimitives.ReadInt32LittleEndian(from[32..]),
            BinaryPrimitives.ReadInt32LittleEndian(from[36..]),
            BinaryPrimitives.ReadDoubleLittleEndian(from[40..]),
            BinaryPrimitives.ReadInt32LittleEndian(from[48..]),
            BinaryPrimitives.ReadInt32LittleEndian(from[52..]),
            BinaryPrimitives.ReadDoubleLittleEndian(from[56..]));
        if (h.Offset < 0 || h.Count < 0 || h.Total < 0 || h.Total > maxFloats || (long)h.Offset + h.Count > h.Total)
        {
            throw new FrameFormatException($"tensor channel: {kind} frame with offset {h.Offset}, count {h.Count}, total {h.Total} (at most {maxFloats} floats expected)");
        }

        return h;
    }

    /// <summary>Writes one frame: <paramref name="header"/> (encoded into <paramref name="scratch"/>, 64 bytes) and <paramref name="payload"/>
    /// (header.Count floats) as raw bytes. One writer per stream at a time.</summary>
    public static void Write(Stream stream, Span<byte> scratch, in FrameHeader header, ReadOnlySpan<float> payload)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (payload.Length != header.Count)
        {
            throw new ArgumentException($"the payload has {payload.Length} floats, the header says {header.Count}", nameof(payload));
        }

        WriteHeader(scratch, header);
        stream.Write(scratch[..HeaderBytes]);
        stream.Write(MemoryMarshal.AsBytes(payload));
    }

    /// <summary>Writes a Hello frame: a header saying the worker's <paramref name="parameterCount"/>, then the 32-byte <paramref name="nonce"/>.</summary>
    public static void WriteHello(Stream stream, ReadOnlySpan<byte> nonce, int parameterCount)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (nonce.Length != HelloNonceBytes)
        {
            throw new ArgumentException($"a Hello nonce has {HelloNonceBytes} bytes, got {nonce.Length}", nameof(nonce));
        }

        Span<byte> frame = stackalloc byte[HeaderBytes + HelloNonceBytes];
        WriteHeader(frame, new FrameHeader(FrameKind.Hello, 0, 0, 0, -1, 0, 0, parameterCount));
        nonce.CopyTo(frame[HeaderBytes..]);
        stream.Write(frame);
        stream.Flush();
    }

    /// <summary>Reads the next header into <paramref name="scratch"/> (64 bytes); false at a clean end of stream before it.
    /// A stream that ends inside a frame throws <see cref="EndOfStreamException"/>.</summary>
    public static bool TryReadHeader(Stream stream, Span<byte> scratch, int maxFloats, out FrameHeader header)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = scratch[..HeaderBytes];
        var first = stream.Read(buffer);
        if (first == 0)
        {
            header = default;
            return false;
        }

        stream.ReadExactly(buffer[first..]);
        header = ReadHeader(buffer, maxFloats);
        return true;
    }

    /// <summary>Reads a frame's payload (header.Count floats) into <paramref name="into"/>, however the bytes were split on the way.</summary>
    public static void ReadPayload(Stream stream, in FrameHeader header, Span<float> into)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (into.Length != header.Count)
        {
            throw new ArgumentException($"room for {into.Length} floats, the frame has {header.Count}", nameof(into));
        }

        stream.ReadExactly(MemoryMarshal.AsBytes(into));
    }

    /// <summary>Reads and discards a payload (a frame nobody wants any more).</summary>
    public static void SkipPayload(Stream stream, in FrameHeader header, Span<byte> scratch)
    {
        ArgumentNullException.ThrowIfNull(stream);
        for (long left = header.PayloadBytes; left > 0;)
        {
            var n = (int)Math.Min(left, scratch.Length);
            stream.ReadExactly(scratch[..n]);
            left -= n;
        }
    }
}
