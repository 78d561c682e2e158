// `train --tensorboard DIR` read back by an independent reader written here from the TFRecord and protobuf specs:
// the framing (u64 length, masked CRC32C of the length, payload, masked CRC32C of the payload) with a bitwise
// CRC32C of our own (not BitOperations), and the Event/Summary fields by number (wall_time 1, step 2,
// file_version 3, summary 5; Summary.value 1; Value.tag 1, simple_value 2). Tags, steps and values are checked
// against the --metrics file and its epochs sidecar.
// Leaves out: TensorBoard itself (no Python here); the writer's CRC is checked against the standard check value.
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DistBackprop.Host.Output;

namespace DistBackprop.Host.Tests.Output;

public sealed class TensorBoardTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Crc32c_matches_the_standard_check_value_both_ways()
    {
        var check = Encoding.ASCII.GetBytes("123456789");
        Assert.Equal(0xE3069283u, TensorBoardWriter.Crc32C(check));
        Assert.Equal(0xE3069283u, Crc32CBitwise(check));
        var long_ = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        Assert.Equal(Crc32CBitwise(long_), TensorBoardWriter.Crc32C(long_));
    }

    [Fact]
    public void Train_writes_events_that_an_independent_reader_accepts()
    {
        var board = _dir.File("tb");
        var metrics = _dir.File("m.csv");
        var r = Cli.Run(_dir.Path, "train", "--epochs", "2", "--batch", "500", "--tensorboard", board, "--metrics", metrics, "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        var file = Assert.Single(Directory.GetFiles(board));
        Assert.Matches(@"^events\.out\.tfevents\.\d{10}\..+$", Path.GetFileName(file));

        var events = ReadEvents(File.ReadAllBytes(file));
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.True(events[0].WallTime > 1.7e9, $"wall time {events[0].WallTime}");
        var scalars = events.Skip(1).SelectMany(e => e.Values.Select(v => (e.Step, v.Tag, v.Value))).ToList();
        Assert.All(events.Skip(1), e => Assert.Null(e.FileVersion));

        var rows = File.ReadAllLines(metrics).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(32, rows.Count); // 8000 / 500 × 2 epochs
        var loss = scalars.Where(s => s.Tag == "train/loss").ToList();
        Assert.Equal(rows.Select(c => long.Parse(c[0], CultureInfo.InvariantCulture)), loss.Select(s => s.Step));
        Assert.Equal(rows.Select(c => (float)double.Parse(c[2], CultureInfo.InvariantCulture)), loss.Select(s => s.Value));
        Assert.Equal(rows.Select(c => (float)double.Parse(c[3], CultureInfo.InvariantCulture)), scalars.Where(s => s.Tag == "train/accuracy").Select(s => s.Value));
        Assert.All(scalars.Where(s => s.Tag == "lr"), s => Assert.Equal(0.1f, s.Value));
        Assert.Equal(32, scalars.Count(s => s.Tag == "lr"));
        Assert.All(scalars.Where(s => s.Tag == "train/samples_per_s"), s => Assert.True(s.Value > 0));

        var epochs = File.ReadAllLines(EpochsFile.PathFor(metrics)).Skip(1).Select(l => l.Split(',')).ToList();
        var testAccuracy = scalars.Where(s => s.Tag == "test/accuracy").ToList();
        Assert.Equal([16L, 32L], testAccuracy.Select(s => s.Step));
        Assert.Equal(epochs.Select(c => (float)double.Parse(c[3], CultureInfo.InvariantCulture)), testAccuracy.Select(s => s.Value));
        Assert.Equal(epochs.Select(c => (float)double.Parse(c[2], CultureInfo.InvariantCulture)), scalars.Where(s => s.Tag == "test/loss").Select(s => s.Value));
        Assert.Equal(["lr", "test/accuracy", "test/loss", "train/accuracy", "train/loss", "train/samples_per_s"], scalars.Select(s => s.Tag).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_file_in_place_of_the_directory_exits_2()
    {
        File.WriteAllText(_dir.File("tb"), "x");
        var r = Cli.Run(_dir.Path, "train", "--max-steps", "1", "--tensorboard", _dir.File("tb"));
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("--tensorboard", r.Err);
    }

    [Fact]
    public void A_corrupted_byte_fails_the_readers_crc()
    {
        var board = _dir.File("tb");
        using (var w = TensorBoardWriter.Open(board))
        {
            w.Scalar("x", 1, 2.5);
        }

        var bytes = File.ReadAllBytes(Assert.Single(Directory.GetFiles(board)));
        Assert.Equal(2.5f, ReadEvents(bytes)[1].Values.Single().Value);
        bytes[^6] ^= 0x40; // inside the last payload
        Assert.Throws<InvalidDataException>(() => ReadEvents(bytes));
    }

    private sealed record Scalar(string Tag, float Value);

    private sealed record Event(double WallTime, long Step, string? FileVersion, List<Scalar> Values);

    private static List<Event> ReadEvents(byte[] file)
    {
        var events = new List<Event>();
        var at = 0;
        while (at < file.Length)
        {
            if (file.Length - at < 12)
            {
                throw new InvalidDataException($"truncated header at {at}");
            }

            var length = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(at));
            if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 8)) != Masked(Crc32CBitwise(file.AsSpan(at, 8))))
            {
                throw new InvalidDataException($"length CRC at {at}");
            }

            var payload = file.AsSpan(at + 12, checked((int)length));
            if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 12 + (int)length)) != Masked(Crc32CBitwise(payload)))
            {
                throw new InvalidDataException($"data CRC at {at}");
            }

            events.Add(ParseEvent(payload));
            at += 12 + (int)length + 4;
        }

        return events;
    }

    private static Event ParseEvent(ReadOnlySpan<byte> m)
    {
        double wall = 0;
        long step = 0;
        string? version = null;
        var values = new List<Scalar>();
        var i = 0;
        while (i < m.Length)
        {
            var (field, wire) = Key(m, ref i);
            switch (field, wire)
            {
                case (1, 1):
                    wall = BinaryPrimitives.ReadDoubleLittleEndian(m[i..]);
                    i += 8;
                    break;
                case (2, 0):
                    step = (long)Varint(m, ref i);
                    break;
                case (3, 2):
                    version = Encoding.UTF8.GetString(Bytes(m, ref i));
                    break;
                case (5, 2):
                    var summary = Bytes(m, ref i);
                    for (var j = 0; j < summary.Length;)
                    {
                        var (f, w) = Key(summary, ref j);
                        Assert.Equal((1, 2), (f, w));
                        values.Add(ParseValue(Bytes(summary, ref j)));
                    }

                    break;
                default:
                    throw new InvalidDataException($"unexpected field {field} wire type {wire}");
            }
        }

        return new Event(wall, step, version, values);
    }

    private static Scalar ParseValue(ReadOnlySpan<byte> m)
    {
        string tag = string.Empty;
        var value = float.NaN;
        for (var i = 0; i < m.Length;)
        {
            var (field, wire) = Key(m, ref i);
            if ((field, wire) == (1, 2))
            {
                tag = Encoding.UTF8.GetString(Bytes(m, ref i));
            }
            else if ((field, wire) == (2, 5))
            {
                value = BinaryPrimitives.ReadSingleLittleEndian(m[i..]);
                i += 4;
            }
            else
            {
                throw new InvalidDataException($"unexpected Summary.Value field {field}");
            }
        }

        return new Scalar(tag, value);
    }

    private static (int Field, int Wire) Key(ReadOnlySpan<byte> m, ref int i)
    {
        var key = Varint(m, ref i);
        return ((int)(key >> 3), (int)(key & 7));
    }

    private static ReadOnlySpan<byte> Bytes(ReadOnlySpan<byte> m, ref int i)
    {
        var n = (int)Varint(m, ref i);
        var s = m.Slice(i, n);
        i += n;
        return s;
    }

    private static ulong Varint(ReadOnlySpan<byte> m, ref int i)
    {
        ulong v = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = m[i++];
            v |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return v;
            }
        }
    }

    private static uint Masked(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8u;

    // CRC-32C, reflected polynomial 0x82F63B78, one bit at a time
    private static uint Crc32CBitwise(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc >> 1) ^ (0x82F63B78u & (uint)-(int)(crc & 1));
            }
        }

        return ~crc;
    }
}
