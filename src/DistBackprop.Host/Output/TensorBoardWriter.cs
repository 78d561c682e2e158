// --tensorboard DIR: scalar summaries in a TensorBoard event file, events.out.tfevents.<unix time>.<host>, written by
// the coordinator only (train and coordinator; workers never run TrainRun). Each record is TFRecord-framed:
//   uint64 length (LE) | uint32 masked CRC32C of the length bytes | Event bytes | uint32 masked CRC32C of the bytes
// masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8, CRC32C = Castagnoli with the usual ~0 in and out (here from
// BitOperations.Crc32C). The first record holds file_version "brain.Event:2"; the Event/Summary messages are our
// own minimal .proto (Protos/tensorboard_event.proto) compiled by Grpc.Tools. Flushed after each step's records.
// Tags: see Step/Epoch; adding one is one Scalar line. Leaves out: images, histograms, graphs, the reader (tests).
using System.Buffers.Binary;
using System.Numerics;
using DistBackprop.Core.Training;
using DistBackprop.Host.Output.TensorBoardProto;
using DistBackprop.Host.Training;
using Google.Protobuf;

namespace DistBackprop.Host.Output;

public sealed class TensorBoardWriter : IDisposable
{
    private readonly FileStream _file;
    private readonly Func<DateTimeOffset> _clock;
    private readonly byte[] _header = new byte[12];
    private readonly byte[] _footer = new byte[4];

    private TensorBoardWriter(FileStream file, Func<DateTimeOffset> clock)
    {
        _file = file;
        _clock = clock;
        Path = file.Name;
    }

    /// <summary>The event file.</summary>
    public string Path { get; }

    /// <summary>Creates <paramref name="directory"/> and a new event file in it, and writes the file-version record.</summary>
    public static TensorBoardWriter Open(string directory, Func<DateTimeOffset>? clock = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        clock ??= () => DateTimeOffset.UtcNow;
        Directory.CreateDirectory(directory);
        var now = clock();
        var host = Environment.MachineName;
        var name = System.IO.Path.Combine(directory, $"events.out.tfevents.{now.ToUnixTimeSeconds()}.{host}");
        for (var n = 1; File.Exists(name); n++)
        {
            // two runs in the same second on the same host: TensorBoard reads every events.out.tfevents.* file
            name = System.IO.Path.Combine(directory, $"events.out.tfevents.{now.ToUnixTimeSeconds()}.{host}.{n}");
        }

        var writer = new TensorBoardWriter(new FileStream(name, FileMode.CreateNew, FileAccess.Write, FileShare.Read), clock);
        writer.Write(new Event { WallTime = Seconds(now), FileVersion = "brain.Event:2" });
        writer._file.Flush();
        return writer;
    }

    /// <summary>The per-step scalars at global step <c>outcome.Step</c>; <paramref name="learningRate"/> is the rate this step used.</summary>
    public void Step(StepOutcome outcome, StepTimings timings, double learningRate)
    {
        Scalar("train/loss", outcome.Step, outcome.Loss);
        Scalar("train/accuracy", outcome.Step, outcome.Accuracy);
        Scalar("lr", outcome.Step, learningRate);
        if (timings.StepMs > 0)
        {
            Scalar("train/samples_per_s", outcome.Step, outcome.Samples / (timings.StepMs / 1000.0));
        }

        _file.Flush();
    }

    /// <summary>The per-epoch scalars at the epoch's last step (test figures only when the run has a test set).</summary>
    public void Epoch(EpochSample epoch)
    {
        ArgumentNullException.ThrowIfNull(epoch);
        if (epoch.HasTest)
        {
            Scalar("test/loss", epoch.Step, epoch.TestLoss);
            Scalar("test/accuracy", epoch.Step, epoch.TestAccuracy);
        }

        _file.Flush();
    }

    /// <summary>One scalar summary record (not flushed: Step and Epoch flush).</summary>
    public void Scalar(string tag, long step, double value)
    {
        var summary = new Summary();
        summary.Value.Add(new Summary.Types.Value { Tag = tag, SimpleValue = (float)value });
        Write(new Event { WallTime = Seconds(_clock()), Step = step, Summary = summary });
    }

    public void Dispose() => _file.Dispose();

    /// <summary>TensorBoard's masked CRC32C.</summary>
    public static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        var crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    /// <summary>CRC-32C (Castagnoli), initial value and final xor 0xFFFFFFFF: "123456789" → 0xE3069283.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        }

        for (; i < data.Length; i++)
        {
            crc = BitOperations.Crc32C(crc, data[i]);
        }

        return ~crc;
    }

    private void Write(Event e)
    {
        var payload = e.ToByteArray();
        BinaryPrimitives.WriteUInt64LittleEndian(_header, (ulong)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(8), MaskedCrc32C(_header.AsSpan(0, 8)));
        BinaryPrimitives.WriteUInt32LittleEndian(_footer, MaskedCrc32C(payload));
        _file.Write(_header);
        _file.Write(payload);
        _file.Write(_footer);
    }

    private static double Seconds(DateTimeOffset t) => t.ToUnixTimeMilliseconds() / 1000.0;
}
