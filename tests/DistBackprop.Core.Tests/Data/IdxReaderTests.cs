// IDX reader: plain and gzip round trips through a folder, and one test per bad file, each checking
// that the message names the file and the problem.
using DistBackprop.Core.Data;

namespace DistBackprop.Core.Tests.Data;

public class IdxReaderTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Folder_round_trips_pixels_labels_and_test_set(bool gzip)
    {
        using var dir = new TempDirectory();
        var ext = gzip ? ".gz" : string.Empty;
        Idx.Images(dir.File(IdxReader.TrainImages + ext), 5, 3, 2, gzip);
        Idx.Labels(dir.File(IdxReader.TrainLabels + ext), [0, 9, 3, 3, 1], gzip);
        Idx.Images(dir.File(IdxReader.TestImages + ext), 2, 3, 2, gzip);
        Idx.Labels(dir.File(IdxReader.TestLabels + ext), [4, 5], gzip);

        var split = IdxReader.ReadFolder(dir.Path, "tiny");

        var train = split.Train;
        Assert.Equal(5, train.Count);
        Assert.Equal(6, train.FeatureCount);
        Assert.Equal(10, train.Classes);
        Assert.Equal((3, 2), train.ImageShape);
        Assert.Equal([0, 9, 3, 3, 1], train.Labels);
        var expected = Idx.Pixels(5, 3, 2).Select(b => b / 255f).ToArray();
        Assert.Equal(expected, train.Features);
        Assert.NotNull(split.Test);
        Assert.Equal([4, 5], split.Test.Labels);
        Assert.Equal(2, split.Test.Count);
    }

    [Fact]
    public void Gzip_is_detected_by_magic_not_extension()
    {
        using var dir = new TempDirectory();
        Idx.Images(dir.File(IdxReader.TrainImages), 2, 2, 2, gzip: true);
        Idx.Labels(dir.File(IdxReader.TrainLabels), [1, 2], gzip: true);

        var split = IdxReader.ReadFolder(dir.Path, "tiny");

        Assert.Equal(2, split.Train.Count);
        Assert.Null(split.Test);
        Assert.Equal(Idx.Pixels(2, 2, 2).Select(b => b / 255f), split.Train.Features);
    }

    [Fact]
    public void Same_content_plain_or_gzip_has_the_same_fingerprint()
    {
        using var plain = new TempDirectory();
        using var gz = new TempDirectory();
        foreach (var (dir, gzip) in new[] { (plain, false), (gz, true) })
        {
            Idx.Images(dir.File(IdxReader.TrainImages), 4, 2, 2, gzip);
            Idx.Labels(dir.File(IdxReader.TrainLabels), [1, 2, 3, 4], gzip);
        }

        Assert.Equal(IdxReader.ReadFolder(plain.Path, "a").Train.Fingerprint, IdxReader.ReadFolder(gz.Path, "b").Train.Fingerprint);
    }

    [Fact]
    public void Wrong_magic_is_named()
    {
        using var dir = new TempDirectory();
        var path = Idx.Write(dir.File("x-images"), IdxReader.LabelsMagic, [1, 2, 2], new byte[4]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("wrong magic number 0x00000801", e.Message);
        Assert.Contains("0x00000803", e.Message);
    }

    [Fact]
    public void Truncated_images_are_named()
    {
        using var dir = new TempDirectory();
        var path = Idx.Write(dir.File("x-images"), IdxReader.ImagesMagic, [3, 2, 2], new byte[11]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("3 images of 2×2", e.Message);
    }

    [Fact]
    public void Truncated_gzip_stream_is_named()
    {
        using var dir = new TempDirectory();
        var path = Idx.Images(dir.File("x-images.gz"), 50, 4, 4, gzip: true);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Truncated_labels_are_named()
    {
        using var dir = new TempDirectory();
        var path = Idx.Write(dir.File("x-labels"), IdxReader.LabelsMagic, [5], [1, 2, 3]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("5 labels", e.Message);
    }

    [Fact]
    public void Truncated_header_is_named()
    {
        using var dir = new TempDirectory();
        var path = dir.File("x-images");
        File.WriteAllBytes(path, [0, 0, 8, 3, 0, 0]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Count_mismatch_names_both_files()
    {
        using var dir = new TempDirectory();
        var images = Idx.Images(dir.File(IdxReader.TrainImages), 3, 2, 2);
        var labels = Idx.Labels(dir.File(IdxReader.TrainLabels), [1, 2]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadFolder(dir.Path, "x"));

        Assert.Contains(images, e.Message);
        Assert.Contains(labels, e.Message);
        Assert.Contains("3 images", e.Message);
        Assert.Contains("2 labels", e.Message);
    }

    [Fact]
    public void Label_out_of_range_is_named()
    {
        using var dir = new TempDirectory();
        var path = Idx.Labels(dir.File("x-labels"), [1, 10, 2]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("label 10 of sample 1 is out of range 0..9", e.Message);
    }

    [Fact]
    public void Folder_without_train_files_says_which_files_it_needs()
    {
        using var dir = new TempDirectory();

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadFolder(dir.Path, "x"));

        Assert.Contains(dir.Path, e.Message);
        Assert.Contains(IdxReader.TrainImages, e.Message);
        Assert.Contains(IdxReader.TrainLabels, e.Message);
    }

    [Fact]
    public void Test_images_without_labels_is_an_error()
    {
        using var dir = new TempDirectory();
        Idx.Images(dir.File(IdxReader.TrainImages), 2, 2, 2);
        Idx.Labels(dir.File(IdxReader.TrainLabels), [1, 2]);
        Idx.Images(dir.File(IdxReader.TestImages), 2, 2, 2);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadFolder(dir.Path, "x"));

        Assert.Contains(IdxReader.TestLabels, e.Message);
    }
}
