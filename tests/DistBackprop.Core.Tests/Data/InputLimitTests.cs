// Input that would have cost far more than it should (issue 11 item 9): a 100 KiB-sized .gz that expands to
// 100 MiB behind a header declaring 10 labels is refused after reading what the header declares (allocations
// counted), a header that declares 2 G labels over a few bytes allocates only what arrives, a CSV cell is quoted
// to at most ~80 characters, a model too large to index is an ArgumentException/SizeProblem naming its size (not an
// OverflowException), and a model file holding NaN or ∞ names the tensor and the element.
using System.Buffers.Binary;
using System.IO.Compression;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Data;

public sealed class InputLimitTests(ITestOutputHelper output)
{
    [Fact]
    public void A_gzip_that_expands_past_its_header_is_refused_without_decompressing_it_whole()
    {
        using var dir = new TempDirectory();
        var path = dir.File("bomb-labels-idx1-ubyte.gz");
        const long expanded = 100L << 20;
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.SmallestSize))
        {
            var header = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(header, IdxReader.LabelsMagic);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 10); // 10 labels declared
            gz.Write(header);
            var zeros = new byte[1 << 20];
            for (long written = 0; written < expanded; written += zeros.Length)
            {
                gz.Write(zeros);
            }
        }

        var compressed = new FileInfo(path).Length;
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        output.WriteLine($"{compressed:N0} bytes of gzip expanding to {expanded:N0}: {e.Message}; allocated {allocated:N0} bytes");
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected bytes after the 10 labels the header declares", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < 4 << 20, $"allocated {allocated:N0} bytes reading a file whose header declares 10 bytes");
    }

    [Fact]
    public void A_header_declaring_far_more_than_follows_allocates_only_what_arrives()
    {
        using var dir = new TempDirectory();
        var path = Idx.Write(dir.File("huge-labels.gz"), IdxReader.LabelsMagic, [2_000_000_000], new byte[1000], gzip: true);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("truncated: the header declares 2000000000 labels", e.Message, StringComparison.Ordinal);
        Assert.Contains("only 1000 bytes follow", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < 4 << 20, $"allocated {allocated:N0} bytes for 1,000 bytes of data");
    }

    [Fact]
    public void Plain_and_gzip_files_still_read_and_trailing_bytes_are_counted()
    {
        using var dir = new TempDirectory();
        foreach (var gzip in new[] { false, true })
        {
            var ok = Idx.Images(dir.File($"ok{gzip}"), 7, 3, 5, gzip);
            var images = IdxReader.ReadImages(ok);
            Assert.Equal(Idx.Pixels(7, 3, 5).Select(b => b / 255f), images.Pixels);

            var extra = Idx.Write(dir.File($"extra{gzip}"), IdxReader.LabelsMagic, [3], [1, 2, 3, 4, 5], gzip);
            var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(extra));
            Assert.Contains("2 unexpected bytes after the 3 labels", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_long_bad_csv_cell_is_quoted_to_at_most_80_characters()
    {
        var cell = new string('x', 5000);
        var e = Assert.Throws<DataFormatException>(() => CsvReader.Read(new StringReader($"1,0.5,{cell},2\n"), "long.csv"));
        output.WriteLine(e.Message);
        Assert.Contains("long.csv line 1, column 3: 'xxxx", e.Message, StringComparison.Ordinal);
        Assert.Contains("(5,000 characters) is not a number", e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Length < 160, $"{e.Message.Length} characters");

        var label = Assert.Throws<DataFormatException>(() => CsvReader.Read(new StringReader($"{new string('9', 300)}.5,1\n"), "l.csv"));
        Assert.Contains("label 9999", label.Message, StringComparison.Ordinal);
        Assert.Contains("(302 characters) is out of range", label.Message, StringComparison.Ordinal);
        Assert.True(label.Message.Length < 200, label.Message);
        var shortCell = Assert.Throws<DataFormatException>(() => CsvReader.Read(new StringReader("1,abc\n"), "s.csv"));
        Assert.Contains("'abc' is not a number", shortCell.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { 400, 100_000_000, 10 }, "the model 400,100000000,10 has 41,100,000,010 parameters; at most 2,147,483,591 fit in one buffer")]
    [InlineData(new[] { 17_000_000, 128, 10 }, "the model 17000000,128,10 has 2,176,001,418 parameters")] // the default model of a 17 M-feature CSV
    public void A_model_too_large_to_index_says_so_in_numbers(int[] sizes, string expected)
    {
        Assert.StartsWith(expected, ModelSpec.SizeProblem(sizes, rows: 1), StringComparison.Ordinal);
        var e = Assert.Throws<ArgumentException>(() => new ModelSpec(sizes, Activation.Relu, LossKind.SoftmaxCrossEntropy));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rows_times_the_widest_layer_must_fit_one_buffer()
    {
        int[] sizes = [16_700_000, 128, 10];
        Assert.Equal(2_137_601_418, ModelSpec.ParameterCountOf(sizes)); // just fits
        Assert.Null(ModelSpec.SizeProblem(sizes, 64));
        Assert.Equal("200 rows × a layer of 16,700,000 units (model 16700000,128,10) is 3,340,000,000 values; at most 2,147,483,591 fit in one buffer",
            ModelSpec.SizeProblem(sizes, 200));
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "Infinity")]
    [InlineData(float.NegativeInfinity, "-Infinity")]
    public void A_model_file_with_a_non_finite_value_names_the_tensor_and_element(float bad, string shown)
    {
        using var dir = new TempDirectory();
        var spec = new ModelSpec([4, 3, 2], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var parameters = Initializer.Create(spec, 1);
        parameters[spec.Layout.WeightOffset(1) + 4] = bad; // layers.1.weight [2, 3]: row 1, column 1
        var path = dir.File("bad.safetensors");
        ModelFile.Save(path, spec, parameters);

        var e = Assert.Throws<CheckpointException>(() => ModelFile.Load(path));
        output.WriteLine(e.Message);
        Assert.Equal($"{path}: tensor layers.1.weight holds {shown} at [1, 1] (1 non-finite value(s) in it): a model's weights must be finite numbers", e.Message);
    }
}
