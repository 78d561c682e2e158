// DatasetLoader: which source a --data value means, the MNIST location and its "not found"
// message, --test-split sizes, determinism and validation, and unknown sources.
using DistBackprop.Core.Data;

namespace DistBackprop.Core.Tests.Data;

public class DatasetLoaderTests
{
    private static readonly Lazy<string> Digits4 = new(() => Synthetic.Digits(4).Train.Fingerprint);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("DIGITS")]
    public void Default_is_the_synthetic_digits(string? source)
    {
        var split = DatasetLoader.Load(source, new DataOptions(Seed: 4));

        Assert.Equal(Digits4.Value, split.Train.Fingerprint);
        Assert.Equal(400, split.Train.FeatureCount);
    }

    [Fact]
    public void Spirals_by_name()
    {
        var split = DatasetLoader.Load("spirals", new DataOptions());

        Assert.Equal(3, split.Train.Classes);
        Assert.NotNull(split.Test);
    }

    [Fact]
    public void Missing_mnist_says_where_to_put_which_files()
    {
        using var dir = new TempDirectory();

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.Load("mnist", new DataOptions(DataDirectory: dir.Path)));

        Assert.Contains(Path.Combine(dir.Path, "mnist"), e.Message);
        foreach (var file in new[] { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" })
        {
            Assert.Contains(file, e.Message);
        }

        Assert.Contains("DISTBACKPROP_DATA", e.Message);
    }

    [Fact]
    public void Mnist_is_read_from_the_data_directory()
    {
        using var dir = new TempDirectory();
        var mnist = Directory.CreateDirectory(Path.Combine(dir.Path, "mnist")).FullName;
        Idx.Images(Path.Combine(mnist, IdxReader.TrainImages + ".gz"), 4, 28, 28, gzip: true);
        Idx.Labels(Path.Combine(mnist, IdxReader.TrainLabels + ".gz"), [0, 1, 2, 3], gzip: true);
        Idx.Images(Path.Combine(mnist, IdxReader.TestImages), 2, 28, 28);
        Idx.Labels(Path.Combine(mnist, IdxReader.TestLabels), [9, 8]);

        var split = DatasetLoader.Load("mnist", new DataOptions(TestSplit: 0.5, DataDirectory: dir.Path));

        Assert.Equal(4, split.Train.Count); // its own test set: --test-split ignored
        Assert.Equal(2, split.Test!.Count);
        Assert.Equal((28, 28), split.Train.ImageShape);
    }

    [Fact]
    public void Default_data_directory_is_under_home_or_the_variable()
    {
        var dir = DatasetLoader.DefaultDataDirectory;
        var variable = Environment.GetEnvironmentVariable(DatasetLoader.DataDirectoryVariable);
        Assert.Equal(string.IsNullOrEmpty(variable) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".distbackprop", "data") : variable, dir);
        Assert.Equal(Path.Combine(dir, "mnist"), DatasetLoader.MnistDirectory());
    }

    [Fact]
    public void Folder_and_csv_sources()
    {
        using var dir = new TempDirectory();
        Idx.Images(dir.File(IdxReader.TrainImages), 3, 2, 2);
        Idx.Labels(dir.File(IdxReader.TrainLabels), [0, 1, 2]);
        var csv = dir.WriteText("d.CSV", "1,2\n0,3\n");

        Assert.Equal(3, DatasetLoader.Load(dir.Path, new DataOptions()).Train.Count);
        var fromCsv = DatasetLoader.Load(csv, new DataOptions());
        Assert.Equal(2, fromCsv.Train.Count);
        Assert.Null(fromCsv.Test);
    }

    [Theory]
    [InlineData("cifar")]
    [InlineData("missing.csv")]
    public void Unknown_source_lists_the_choices(string source)
    {
        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.Load(source, new DataOptions()));

        Assert.Contains(source, e.Message);
        if (!source.EndsWith(".csv", StringComparison.Ordinal))
        {
            Assert.Contains("digits", e.Message);
            Assert.Contains("spirals", e.Message);
            Assert.Contains("mnist", e.Message);
            Assert.Contains(".csv", e.Message);
        }
        else
        {
            Assert.Contains("not found", e.Message);
        }
    }

    [Fact]
    public void A_file_that_is_not_csv_is_rejected()
    {
        using var dir = new TempDirectory();
        var path = dir.WriteText("data.txt", "1,2\n");

        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.Load(path, new DataOptions()));

        Assert.Contains(path, e.Message);
        Assert.Contains("not a .csv", e.Message);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Test_split_outside_0_1_names_the_option(double fraction)
    {
        var e = Assert.Throws<DataFormatException>(() => DatasetLoader.Load("spirals", new DataOptions(TestSplit: fraction)));
        Assert.Contains("--test-split", e.Message);
    }

    [Theory]
    [InlineData(0.2, 100, 20)]
    [InlineData(0.25, 10, 3)]  // 2.5 rounds away from zero
    [InlineData(0.5, 7, 4)]
    [InlineData(0.01, 1000, 10)]
    public void Test_split_sizes(double fraction, int rows, int expectedTest)
    {
        using var dir = new TempDirectory();
        var csv = dir.WriteText("rows.csv", string.Concat(Enumerable.Range(0, rows).Select(i => $"{i % 3},{i}\n")));

        var split = DatasetLoader.Load(csv, new DataOptions(Seed: 9, TestSplit: fraction));

        Assert.Equal(expectedTest, split.Test!.Count);
        Assert.Equal(rows - expectedTest, split.Train.Count);
        Assert.Equal(3, split.Test.Classes);
        // Both parts keep file order, and together they are every row exactly once.
        Assert.True(split.Train.Features.SequenceEqual(split.Train.Features.Order()));
        Assert.True(split.Test.Features.SequenceEqual(split.Test.Features.Order()));
        Assert.Equal(Enumerable.Range(0, rows).Select(i => (float)i), split.Train.Features.Concat(split.Test.Features).Order());
    }

    [Fact]
    public void Test_split_is_deterministic_per_seed()
    {
        var data = Synthetic.Spirals(1, 500, 0).Train;

        var a = TestSplit.Carve(data, 0.3, 7);
        var b = TestSplit.Carve(data, 0.3, 7);
        var c = TestSplit.Carve(data, 0.3, 8);

        Assert.Equal(a.Test!.Fingerprint, b.Test!.Fingerprint);
        Assert.Equal(a.Train.Fingerprint, b.Train.Fingerprint);
        Assert.NotEqual(a.Test.Fingerprint, c.Test!.Fingerprint);
    }

    [Fact]
    public void Test_split_with_no_rows_on_one_side_is_an_error()
    {
        var data = Synthetic.Spirals(1, 10, 0).Train;

        var e = Assert.Throws<DataFormatException>(() => TestSplit.Carve(data, 0.01, 1));

        Assert.Contains("--test-split", e.Message);
    }

    [Fact]
    public void Test_split_is_ignored_when_the_source_has_a_test_set()
    {
        var plain = DatasetLoader.Load("spirals", new DataOptions(Seed: 2));
        var split = DatasetLoader.Load("spirals", new DataOptions(Seed: 2, TestSplit: 0.5));

        Assert.Equal(plain.Train.Fingerprint, split.Train.Fingerprint);
        Assert.Equal(plain.Test!.Fingerprint, split.Test!.Fingerprint);
    }
}
