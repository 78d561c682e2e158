// CSV reader: header detection, invariant parsing, classes from the labels, and one test per bad
// cell or row, each checking that the message names the file, line, column and problem.
using DistBackprop.Core.Data;

namespace DistBackprop.Core.Tests.Data;

public class CsvReaderTests
{
    [Fact]
    public void Reads_rows_without_header()
    {
        using var dir = new TempDirectory();
        var path = dir.WriteText("plain.csv", "1,0.5,-2\n0,1e-3,3.25\r\n\n4, 7 ,\"8\"\n");

        var data = CsvReader.Read(path);

        Assert.Equal("plain.csv", data.Name);
        Assert.Equal(3, data.Count);
        Assert.Equal(2, data.FeatureCount);
        Assert.Equal(5, data.Classes);
        Assert.Equal([1, 0, 4], data.Labels);
        Assert.Equal([0.5f, -2f, 1e-3f, 3.25f, 7f, 8f], data.Features);
        Assert.Null(data.ImageShape);
    }

    [Fact]
    public void Header_is_detected_and_skipped()
    {
        using var dir = new TempDirectory();
        var withHeader = dir.WriteText("h.csv", "label,x,y\n2,1.5,2.5\n0,3,4\n");
        var without = dir.WriteText("n.csv", "2,1.5,2.5\n0,3,4\n");

        var a = CsvReader.Read(withHeader);
        var b = CsvReader.Read(without);

        Assert.Equal(2, a.Count);
        Assert.Equal([2, 0], a.Labels);
        Assert.Equal(3, a.Classes);
        Assert.Equal(b.Fingerprint, a.Fingerprint);
    }

    [Fact]
    public void Label_with_decimal_zero_is_an_integer()
    {
        using var dir = new TempDirectory();
        var data = CsvReader.Read(dir.WriteText("d.csv", "3.0,1\n"));
        Assert.Equal([3], data.Labels);
    }

    [Theory]
    [InlineData("1,2\n0,abc\n", 2, 2, "'abc' is not a number")]
    [InlineData("1,2\n0,1,5\n", 2, 0, "3 columns, but line 1 has 2")]
    [InlineData("1,2,3\n0,1\n", 2, 0, "2 columns, but line 1 has 3")]
    [InlineData("1,2\n0,NaN\n", 2, 2, "'NaN' is not a finite number")]
    [InlineData("1,2,3\n0,1,Infinity\n", 2, 3, "'Infinity' is not a finite number")]
    [InlineData("1,2\n0,1e40\n", 2, 2, "'1e40' is not a finite number")]
    [InlineData("1,2\n-1,5\n", 2, 1, "label -1 is negative")]
    [InlineData("1,2\n1.5,5\n", 2, 1, "label 1.5 is not an integer")]
    [InlineData("1,2\n\n9999999,5\n", 3, 1, "label 9999999 is out of range")]
    [InlineData("a,b\n1,2\nx,5\n", 3, 1, "'x' is not a number")]
    [InlineData("1,2\n0,1,5\n", 2, 0, "every row must have the same number of columns")]
    [InlineData("1,2\n0,1,2;3\n", 2, 0, "3 columns")]
    [InlineData("1,2\n0,1;5\n", 2, 2, "'1;5' is not a number")]
    public void Bad_cell_names_file_line_column_and_problem(string text, int line, int column, string problem)
    {
        using var dir = new TempDirectory();
        var path = dir.WriteText("bad.csv", text);

        var e = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Contains(path, e.Message);
        Assert.Contains($"line {line}", e.Message);
        if (column > 0)
        {
            Assert.Contains($"column {column}", e.Message);
        }

        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void Header_only_file_has_no_rows()
    {
        using var dir = new TempDirectory();
        var path = dir.WriteText("empty.csv", "label,x\n");

        var e = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("no data rows", e.Message);
    }

    [Fact]
    public void Single_column_is_rejected()
    {
        using var dir = new TempDirectory();
        var path = dir.WriteText("one.csv", "1\n2\n");

        var e = Assert.Throws<DataFormatException>(() => CsvReader.Read(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("at least one feature column", e.Message);
    }
}
