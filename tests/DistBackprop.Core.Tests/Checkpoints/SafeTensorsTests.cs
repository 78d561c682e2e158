// The safetensors layer: the exact bytes written, files from an independent writer, every kind of
// corruption → CheckpointException naming the file, and atomic replacement.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Model;

namespace DistBackprop.Core.Tests.Checkpoints;

/// <summary>An independent minimal safetensors writer: the header is a hand-written JSON string.</summary>
internal static class HandWritten
{
    public static byte[] File(string headerJson, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    public static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        }

        return bytes;
    }
}

public class SafeTensorsTests
{
    private static readonly ModelSpec Small = new([3, 4, 2], Activation.Tanh, LossKind.SoftmaxCrossEntropy);

    [Fact]
    public void Header_bytes_follow_the_format()
    {
        using var dir = new TempDirectory();
        var path = dir.File("m.safetensors");
        var p = TestParameters.Random(Small, 1);
        ModelFile.Save(path, Small, p, [new("step", "7")]);

        var bytes = File.ReadAllBytes(path);
        var n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.True(n % 8 == 0, $"header length {n} is not a multiple of 8");
        Assert.Equal(bytes.Length, 8 + (long)n + (4L * Small.ParameterCount));
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var root = header.RootElement;
        Assert.Equal("7", root.GetProperty("__metadata__").GetProperty("step").GetString());
        Assert.Equal("distbackprop", root.GetProperty("__metadata__").GetProperty("format").GetString());

        // Offsets contiguous from 0 in header order, shapes [out, in] / [out], data at 8 + N.
        long expected = 0;
        var layout = Small.Layout;
        var names = root.EnumerateObject().Where(e => e.Name != "__metadata__").Select(e => e.Name).ToArray();
        Assert.Equal(["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"], names);
        for (var l = 0; l < 2; l++)
        {
            foreach (var (name, shape, offset) in new[]
            {
                (ParameterLayout.WeightName(l), new long[] { Small.Sizes[l + 1], Small.Sizes[l] }, layout.WeightOffset(l)),
                (ParameterLayout.BiasName(l), new long[] { Small.Sizes[l + 1] }, layout.BiasOffset(l)),
            })
            {
                var t = root.GetProperty(name);
                Assert.Equal("F32", t.GetProperty("dtype").GetString());
                Assert.Equal(shape, t.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
                var offsets = t.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                Assert.Equal(expected, offsets[0]);
                Assert.Equal(expected + (4 * shape.Aggregate(1L, (a, b) => a * b)), offsets[1]);
                expected = offsets[1];
                Assert.Equal(p[offset], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + (int)n + (int)offsets[0])));
            }
        }

        // Padding is spaces after the closing brace.
        var text = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.Equal(text.TrimEnd(' ').Length, text.LastIndexOf('}') + 1);
    }

    [Fact]
    public void Read_returns_the_values_metadata_and_data_checksum()
    {
        using var dir = new TempDirectory();
        var path = dir.File("t.safetensors");
        var a = new float[] { 1, -2, 3.5f, float.NaN, -0f, float.PositiveInfinity };
        var b = new float[] { 42 };
        SafeTensors.Write(path, [new("a", [2, 3], a), new("b", [], b), new("empty", [0], Array.Empty<float>())], [new("k", "v ü \"quoted\"")]);

        var content = SafeTensors.Read(path, _ => true);
        TestParameters.AssertBitIdentical(a, content.Values["a"]);
        TestParameters.AssertBitIdentical(b, content.Values["b"]);
        Assert.Empty(content.Values["empty"]);
        Assert.Equal([2L, 3L], content.Tensors["a"].Shape);
        Assert.Empty(content.Tensors["b"].Shape);
        Assert.Equal("v ü \"quoted\"", content.Metadata["k"]);
        Assert.Equal(SafeTensors.DataSha256([new("a", [2, 3], a), new("b", [], b)]), content.DataSha256);
    }

    [Fact]
    public void A_file_from_an_independent_writer_loads()
    {
        // Key order inside entries differs, the data order differs from the header order,
        // the header is not padded, foreign metadata (even a key named "shape") and a foreign I64 tensor.
        var header = """
            {"layers.1.bias":{"data_offsets":[0,8],"shape":[2],"dtype":"F32"},
             "extra.step":{"dtype":"I64","data_offsets":[8,16],"shape":[]},
             "layers.0.weight":{"shape":[3,2],"data_offsets":[16,40],"dtype":"F32"},
             "layers.1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[40,64]},
             "layers.0.bias":{"shape":[3],"dtype":"F32","data_offsets":[64,76]},
             "__metadata__":{"format":"pt","shape":"not a tensor","activation":"sigmoid"}}
            """;
        var data = HandWritten.Floats(21, 22).Concat(new byte[8]).Concat(HandWritten.Floats(1, 2, 3, 4, 5, 6))
            .Concat(HandWritten.Floats(11, 12, 13, 14, 15, 16)).Concat(HandWritten.Floats(7, 8, 9)).ToArray();
        using var dir = new TempDirectory();
        var path = dir.File("foreign.safetensors");
        File.WriteAllBytes(path, HandWritten.File(header, data));

        var model = ModelFile.Load(path);
        Assert.Equal([2, 3, 2], model.Sizes);
        Assert.Equal([1f, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 21, 22], model.Parameters);
        Assert.Equal(Activation.Sigmoid, model.Activation);
        Assert.Null(model.Loss);
        Assert.Equal("pt", model.Metadata["format"]);
        var spec = new ModelSpec([2, 3, 2], Activation.Sigmoid, LossKind.Mse);
        Assert.Equal(model.Parameters, ModelFile.LoadFor(path, spec));
    }

    public static TheoryData<string, string> Corruptions => new()
    {
        { "truncated-data", "truncated" },
        { "truncated-header", "exceeds" },
        { "short", "too short" },
        { "huge-length", "out of range" },
        { "bad-json", "not valid JSON" },
        { "not-object", "not an object" },
        { "wrong-dtype", "layers.0.weight has dtype F64" },
        { "unknown-dtype", "dtype Q4" },
        { "span-mismatch", "needs 24 bytes" },
        { "gap", "gap" },
        { "overlap", "overlaps" },
        { "trailing", "after the last tensor" },
        { "metadata-number", "metadata \"step\"" },
        { "negative-shape", "non-negative" },
        { "duplicate-key", "twice" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Corrupt_files_raise_CheckpointException_naming_file_and_problem(string kind, string problem)
    {
        using var dir = new TempDirectory();
        var path = dir.File($"{kind}.safetensors");
        var good = GoodModelBytes();
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(good);
        var headerText = Encoding.UTF8.GetString(good, 8, n);
        var data = good.AsSpan(8 + n).ToArray();
        var w = """{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}""";
        var b = """{"dtype":"F32","shape":[2],"data_offsets":[24,32]}""";
        byte[] bytes = kind switch
        {
            "truncated-data" => good[..^3],
            "truncated-header" => good[..(8 + (n / 2))],
            "short" => good[..5],
            "huge-length" => WithLength(good, ulong.MaxValue - 5),
            "bad-json" => HandWritten.File(headerText.Replace("\"shape\"", "shape", StringComparison.Ordinal), data),
            "not-object" => HandWritten.File("[1, 2, 3]", []),
            "wrong-dtype" => HandWritten.File("""{"layers.0.weight":{"dtype":"F64","shape":[2,3],"data_offsets":[0,48]},"layers.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[48,56]}}""", new byte[56]),
            "unknown-dtype" => HandWritten.File("""{"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}""", new byte[1]),
            "span-mismatch" => HandWritten.File($$"""{"layers.0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,28]},"layers.0.bias":{{b.Replace("24,32", "28,36", StringComparison.Ordinal)}}}""", new byte[36]),
            "gap" => HandWritten.File($$"""{"layers.0.weight":{{w}},"layers.0.bias":{{b.Replace("24,32", "28,36", StringComparison.Ordinal)}}}""", new byte[36]),
            "overlap" => HandWritten.File($$"""{"layers.0.weight":{{w}},"layers.0.bias":{{b.Replace("24,32", "20,28", StringComparison.Ordinal)}}}""", new byte[32]),
            "trailing" => [.. good, 0, 0, 0, 0],
            "metadata-number" => HandWritten.File($$"""{"__metadata__":{"step":7},"layers.0.weight":{{w}},"layers.0.bias":{{b}}}""", new byte[32]),
            "negative-shape" => HandWritten.File($$"""{"layers.0.weight":{"dtype":"F32","shape":[-2,3],"data_offsets":[0,24]},"layers.0.bias":{{b}}}""", new byte[32]),
            "duplicate-key" => HandWritten.File($$"""{"layers.0.weight":{{w}},"layers.0.weight":{{w}},"layers.0.bias":{{b}}}""", new byte[32]),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<CheckpointException>(() => ModelFile.Load(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.Path);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        using var dir = new TempDirectory();
        var path = dir.File("absent.safetensors");
        var e = Assert.Throws<CheckpointException>(() => ModelFile.Load(path));
        Assert.Equal($"{path}: does not exist", e.Message);
    }

    [Fact]
    public void Atomic_write_leaves_no_temporary_file_and_replaces_the_old_one()
    {
        using var dir = new TempDirectory();
        var path = dir.File("m.safetensors");
        ModelFile.Save(path, Small, TestParameters.Random(Small, 1));
        var second = TestParameters.Random(Small, 2);
        ModelFile.Save(path, Small, second);
        Assert.Equal(["m.safetensors"], dir.Names());
        TestParameters.AssertBitIdentical(second, ModelFile.LoadFor(path, Small));
    }

    [Fact]
    public void A_write_that_fails_before_the_rename_keeps_the_old_file_and_deletes_the_temporary()
    {
        using var dir = new TempDirectory();
        var path = dir.File("m.safetensors");
        var old = TestParameters.Random(Small, 1);
        ModelFile.Save(path, Small, old);
        var before = File.ReadAllBytes(path);
        string? temp = null;

        // The temporary is complete and flushed here; a crash now must not touch the real file.
        var e = Assert.Throws<CheckpointException>(() => SafeTensors.Write(
            path,
            ModelFile.LayerTensors(Small, TestParameters.Random(Small, 2)),
            [],
            beforeCommit: t =>
            {
                temp = t;
                Assert.True(File.Exists(t));
                Assert.Equal(dir.Path, Path.GetDirectoryName(t));
                throw new IOException("simulated crash before rename");
            }));

        Assert.Contains("simulated crash", e.Message, StringComparison.Ordinal);
        Assert.NotNull(temp);
        Assert.False(File.Exists(temp));
        Assert.Equal(["m.safetensors"], dir.Names());
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_write_whose_rename_fails_leaves_no_temporary_file()
    {
        // A directory where the file should go makes File.Move fail, even as root.
        using var dir = new TempDirectory();
        var path = dir.File("taken.safetensors");
        Directory.CreateDirectory(path);
        var e = Assert.Throws<CheckpointException>(() => ModelFile.Save(path, Small, TestParameters.Random(Small, 1)));
        Assert.StartsWith(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("could not be written", e.Message, StringComparison.Ordinal);
        Assert.Equal(["taken.safetensors"], dir.Names());
        Assert.True(Directory.Exists(path));
    }

    [Theory]
    [InlineData("shape")]
    [InlineData("dtype")]
    [InlineData("data_offsets")]
    public void Metadata_keys_that_loaders_misread_are_refused(string key)
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<ArgumentException>(() => ModelFile.Save(dir.File("m.safetensors"), Small, TestParameters.Random(Small, 1), [new(key, "x")]));
        Assert.Contains(key, e.Message, StringComparison.Ordinal);
        Assert.Empty(dir.Names());
    }

    private static byte[] GoodModelBytes()
    {
        using var dir = new TempDirectory();
        var spec = new ModelSpec([3, 2], Activation.Relu, LossKind.Mse);
        var path = dir.File("good.safetensors");
        ModelFile.Save(path, spec, TestParameters.Random(spec, 3));
        return File.ReadAllBytes(path);
    }

    private static byte[] WithLength(byte[] bytes, ulong length)
    {
        var copy = bytes.ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, length);
        return copy;
    }
}
