// The serializer for the messages that carry tensors: ComputeShards (weights + shard rows), ShardComputed (one
// shard's gradient sum), and the aggregation tree's RelayedWeights and PartialComputed (a subtree's sum). A small fixed header, then the arrays as raw little-endian
// bytes copied with MemoryMarshal — no per-element encoding, so a 1M-float gradient is one 4 MB copy.
// Received floats land in arrays rented from this serializer's TensorPool; the reader returns them.
// Leaves out: every other message (restricted Hyperion, see HyperionTypeFilter / AkkaBuilderExtensions).
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Serialization;

/// <summary>
/// Layout (all little-endian): magic "DBT1", then
/// ComputeShards (manifest "C"): step i64, weightsVersion i64, shardCount i32, per shard {shard i32, n i32, n × i32},
///   weightsLength i32 (−1 = none), weights f32 × weightsLength;
/// ShardComputed (manifest "G"): step i64, shard i32, lossSum f64, samples i32, correct i32, computeMs f64,
///   serializeMs f64, n i32, gradient f32 × n;
/// RelayedWeights (manifest "W"): step i64, weightsVersion i64, n i32, weights f32 × n;
/// PartialComputed (manifest "P"): step i64, nodeStart i32, nodeEnd i32, lossSum f64, samples i32, correct i32, computeMs f64,
///   n i32, gradient f32 × n.
/// </summary>
public sealed class TensorSerializer : SerializerWithStringManifest
{
    public const int Id = 7301;
    public const string ComputeManifest = "C";
    public const string GradientManifest = "G";
    public const string RelayManifest = "W";
    public const string PartialManifest = "P";

    /// <summary>Fixed bytes of a ShardComputed besides its floats; ComputeShards has a little more plus its indices.</summary>
    public const int HeaderBytes = 64;

    private const uint Magic = 0x31544244; // "DBT1"
    private long _ticks;

    public TensorSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    public override int Identifier => Id;

    /// <summary>The arrays weights and gradients are deserialized into; their last reader returns them here.</summary>
    public TensorPool Pool { get; } = new();

    /// <summary>Total time this node spent in this serializer, both directions (for the step time split).</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks));

    /// <summary>The instance registered in <paramref name="system"/>, or null when none is.</summary>
    public static TensorSerializer? For(ActorSystem system)
    {
        try
        {
            return system.Serialization.FindSerializerForType(typeof(ShardComputed)) as TensorSerializer;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>Bytes of a ComputeShards carrying <paramref name="parameters"/> weights and <paramref name="rows"/> row indices in <paramref name="shards"/> shards.</summary>
    public static long ComputeShardsBytes(int parameters, int rows, int shards) => HeaderBytes + (8L * shards) + (4L * rows) + (4L * parameters);

    /// <summary>Bytes of a ShardComputed for <paramref name="parameters"/> gradient values.</summary>
    public static long ShardComputedBytes(int parameters) => HeaderBytes + (4L * parameters);

    public override string Manifest(object o) => o switch
    {
        ComputeShards => ComputeManifest,
        ShardComputed => GradientManifest,
        RelayedWeights => RelayManifest,
        PartialComputed => PartialManifest,
        _ => throw new SerializationException($"TensorSerializer cannot serialize {o?.GetType().FullName ?? "null"}"),
    };

    public override byte[] ToBinary(object obj)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            return obj switch
            {
                ComputeShards c => Write(c),
                ShardComputed g => Write(g),
                RelayedWeights w => Write(w),
                PartialComputed p => Write(p),
                _ => throw new SerializationException($"TensorSerializer cannot serialize {obj?.GetType().FullName ?? "null"}"),
            };
        }
        finally
        {
            Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var r = new Reader(bytes);
            if (r.U32() != Magic)
            {
                throw new SerializationException("TensorSerializer: bad magic number (not a DistBackprop tensor message)");
            }

            object result = manifest switch
            {
                ComputeManifest => ReadCompute(ref r, Pool),
                GradientManifest => ReadGradient(ref r, Pool),
                RelayManifest => ReadRelay(ref r, Pool),
                PartialManifest => ReadPartial(ref r, Pool),
                _ => throw new SerializationException($"TensorSerializer: unknown manifest '{manifest}'"),
            };
            if (r.Remaining != 0)
            {
                throw new SerializationException($"TensorSerializer: {r.Remaining} trailing bytes in a '{manifest}' message");
            }

            return result;
        }
        finally
        {
            Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
        }
    }

    private static byte[] Write(ComputeShards c)
    {
        long size = 4 + 8 + 8 + 4 + 4 + (4L * (c.Weights?.Length ?? 0));
        foreach (var s in c.Shards)
        {
            size += 8 + (4L * s.Indices.Length);
        }

        var w = new Writer(new byte[checked((int)size)]);
        w.U32(Magic);
        w.I64(c.Step);
        w.I64(c.WeightsVersion);
        w.I32(c.Shards.Length);
        foreach (var s in c.Shards)
        {
            w.I32(s.Shard);
            w.I32(s.Indices.Length);
            w.Raw<int>(s.Indices);
        }

        w.I32(c.Weights is null ? -1 : c.Weights.Length);
        if (c.Weights is not null)
        {
            w.Raw<float>(c.Weights);
        }

        return w.Done();
    }

    private static byte[] Write(ShardComputed g)
    {
        var w = new Writer(new byte[checked(4 + 8 + 4 + 8 + 4 + 4 + 8 + 8 + 4 + (4 * g.Gradient.Length))]);
        w.U32(Magic);
        w.I64(g.Step);
        w.I32(g.Shard);
        w.F64(g.LossSum);
        w.I32(g.Samples);
        w.I32(g.Correct);
        w.F64(g.ComputeMs);
        w.F64(g.SerializeMs);
        w.I32(g.Gradient.Length);
        w.Raw<float>(g.Gradient);
        return w.Done();
    }

    private static byte[] Write(RelayedWeights m)
    {
        var w = new Writer(new byte[checked(4 + 8 + 8 + 4 + (4 * m.Weights.Length))]);
        w.U32(Magic);
        w.I64(m.Step);
        w.I64(m.WeightsVersion);
        w.I32(m.Weights.Length);
        w.Raw<float>(m.Weights);
        return w.Done();
    }

    private static byte[] Write(PartialComputed p)
    {
        var w = new Writer(new byte[checked(4 + 8 + 4 + 4 + 8 + 4 + 4 + 8 + 4 + (4 * p.Gradient.Length))]);
        w.U32(Magic);
        w.I64(p.Step);
        w.I32(p.NodeStart);
        w.I32(p.NodeEnd);
        w.F64(p.LossSum);
        w.I32(p.Samples);
        w.I32(p.Correct);
        w.F64(p.ComputeMs);
        w.I32(p.Gradient.Length);
        w.Raw<float>(p.Gradient);
        return w.Done();
    }

    private static RelayedWeights ReadRelay(ref Reader r, TensorPool pool)
    {
        var step = r.I64();
        var version = r.I64();
        return new RelayedWeights(step, version, r.Floats(r.Count(4), pool));
    }

    private static PartialComputed ReadPartial(ref Reader r, TensorPool pool)
    {
        var step = r.I64();
        var start = r.I32();
        var end = r.I32();
        var loss = r.F64();
        var samples = r.I32();
        var correct = r.I32();
        var computeMs = r.F64();
        return new PartialComputed(step, start, end, r.Floats(r.Count(4), pool), loss, samples, correct, computeMs);
    }

    private static ComputeShards ReadCompute(ref Reader r, TensorPool pool)
    {
        var step = r.I64();
        var version = r.I64();
        var shards = new ShardWork[r.Count(8)];
        for (var i = 0; i < shards.Length; i++)
        {
            var shard = r.I32();
            shards[i] = new ShardWork(shard, r.Raw<int>(r.Count(4)));
        }

        var n = r.I32();
        var weights = n < 0 ? null : r.Floats(r.CheckCount(n, 4), pool);
        return new ComputeShards(step, version, shards, weights);
    }

    private static ShardComputed ReadGradient(ref Reader r, TensorPool pool)
    {
        var step = r.I64();
        var shard = r.I32();
        var loss = r.F64();
        var samples = r.I32();
        var correct = r.I32();
        var computeMs = r.F64();
        var serializeMs = r.F64();
        var gradient = r.Floats(r.Count(4), pool);
        return new ShardComputed(step, shard, gradient, loss, samples, correct, computeMs, serializeMs);
    }

    private ref struct Writer(byte[] buffer)
    {
        private int _at;

        public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Next(4), v);

        public void I32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Next(4), v);

        public void I64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Next(8), v);

        public void F64(double v) => BinaryPrimitives.WriteDoubleLittleEndian(Next(8), v);

        // raw bytes of the array: one memcpy on little-endian machines
        public void Raw<T>(ReadOnlySpan<T> values)
            where T : unmanaged
        {
            var dest = Next(values.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
            MemoryMarshal.AsBytes(values).CopyTo(dest);
            if (!BitConverter.IsLittleEndian)
            {
                ReverseEach<T>(dest);
            }
        }

        public readonly byte[] Done() => _at == buffer.Length ? buffer : throw new InvalidOperationException("TensorSerializer size mismatch");

        private Span<byte> Next(int n)
        {
            var s = buffer.AsSpan(_at, n);
            _at += n;
            return s;
        }
    }

    private ref struct Reader(byte[] buffer)
    {
        private int _at;

        public readonly int Remaining => buffer.Length - _at;

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Next(4));

        public int I32() => BinaryPrimitives.ReadInt32LittleEndian(Next(4));

        public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Next(8));

        public double F64() => BinaryPrimitives.ReadDoubleLittleEndian(Next(8));

        /// <summary>Reads a count and checks that many elements of <paramref name="elementBytes"/> can still follow.</summary>
        public int Count(int elementBytes) => CheckCount(I32(), elementBytes);

        public readonly int CheckCount(int n, int elementBytes) =>
            n >= 0 && (long)n * elementBytes <= Remaining ? n : throw new SerializationException($"TensorSerializer: count {n} does not fit the {Remaining} bytes left (truncated message?)");

        public T[] Raw<T>(int n)
            where T : unmanaged
        {
            var result = new T[n];
            var bytes = MemoryMarshal.AsBytes(result.AsSpan());
            Next(bytes.Length).CopyTo(bytes);
            if (!BitConverter.IsLittleEndian)
            {
                ReverseEach<T>(bytes);
            }

            return result;
        }

        /// <summary>n floats into an array rented from <paramref name="pool"/> (every element overwritten).</summary>
        public float[] Floats(int n, TensorPool pool)
        {
            var bytes = Next(n * sizeof(float));
            var result = pool.Rent(n);
            var dest = MemoryMarshal.AsBytes(result.AsSpan());
            bytes.CopyTo(dest);
            if (!BitConverter.IsLittleEndian)
            {
                ReverseEach<float>(dest);
            }

            return result;
        }

        private Span<byte> Next(int n)
        {
            if (n > Remaining)
            {
                throw new SerializationException($"TensorSerializer: message truncated ({Remaining} bytes left, {n} needed)");
            }

            var s = buffer.AsSpan(_at, n);
            _at += n;
            return s;
        }
    }

    private static void ReverseEach<T>(Span<byte> bytes)
        where T : unmanaged
    {
        var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        for (var i = 0; i < bytes.Length; i += size)
        {
            bytes.Slice(i, size).Reverse();
        }
    }
}
