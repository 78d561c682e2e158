// CSV datasets: one sample per line, the integer label (≥ 0) in the first column, features after.
// An optional header is recognised when the first row's first cell is not a number. Numbers use
// the invariant culture ('.' decimal point). Blank lines are skipped. Every row must have as many
// columns as the first; a non-numeric or non-finite cell, or a bad label, is a DataFormatException
// naming the file, line, column and problem (quoting at most 80 characters of the cell), and so is a file whose
// features would not fit one buffer. Classes = max label + 1.
// Leaves out: quoting rules beyond trimming one pair of surrounding double quotes; other separators.
using System.Globalization;

namespace DistBackprop.Core.Data;

public static class CsvReader
{
    /// <summary>The largest label accepted (it sets the output width, so a typo must not make it huge).</summary>
    public const int MaxLabel = 65535;

    public static Dataset Read(string path)
    {
        StreamReader reader;
        try
        {
            reader = new StreamReader(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException($"{path}: cannot read ({e.Message})", e);
        }

        using (reader)
        {
            return Read(reader, path);
        }
    }

    /// <summary>Parses CSV text from <paramref name="reader"/>; <paramref name="path"/> is only used in messages and the name.</summary>
    public static Dataset Read(TextReader reader, string path)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var features = new List<float>();
        var labels = new List<int>();
        var columns = -1;
        var columnsFrom = 0;
        var maxLabel = 0;
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            var text = line.AsSpan();
            if (text.IsWhiteSpace())
            {
                continue;
            }

            var cells = CountCells(text);
            if (columns < 0)
            {
                if (cells < 2)
                {
                    throw new DataFormatException(
                        $"{path} line {lineNumber}: {cells} column; a CSV dataset needs the label in column 1 and at least one feature column after it");
                }

                columns = cells;
                columnsFrom = lineNumber;
                if (!double.TryParse(Cell(FirstCell(text)), NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                {
                    continue; // a header row
                }
            }
            else if (cells != columns)
            {
                throw new DataFormatException(
                    $"{path} line {lineNumber}: {cells} columns, but line {columnsFrom} has {columns}; every row must have the same number of columns");
            }

            var column = 0;
            foreach (var range in text.Split(','))
            {
                column++;
                var cell = Cell(text[range]);
                if (column == 1)
                {
                    var label = ParseLabel(cell, path, lineNumber);
                    labels.Add(label);
                    maxLabel = Math.Max(maxLabel, label);
                }
                else
                {
                    features.Add(ParseFeature(cell, path, lineNumber, column));
                }
            }

            if (features.Count > Array.MaxLength - (columns - 1))
            {
                throw new DataFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"{path} line {lineNumber}: {labels.Count:N0} rows × {columns - 1:N0} features so far; at most {Array.MaxLength:N0} feature values fit in one buffer"));
            }
        }

        if (labels.Count == 0)
        {
            throw new DataFormatException($"{path}: no data rows (a header alone, or an empty file)");
        }

        return new Dataset(Path.GetFileName(path), [.. features], [.. labels], columns - 1, maxLabel + 1);
    }

    private static int ParseLabel(ReadOnlySpan<char> cell, string path, int line)
    {
        var where = $"{path} line {line}, column 1 (label)";
        if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            throw new DataFormatException($"{where}: {Quote(cell)} is not a number");
        }

        if (!double.IsFinite(value))
        {
            throw new DataFormatException($"{where}: {Quote(cell)} is not finite; a label must be an integer ≥ 0");
        }

        if (value < 0)
        {
            throw new DataFormatException($"{where}: label {Cut(cell)} is negative; labels must be integers ≥ 0");
        }

        if (value != Math.Floor(value))
        {
            throw new DataFormatException($"{where}: label {Cut(cell)} is not an integer");
        }

        if (value > MaxLabel)
        {
            throw new DataFormatException($"{where}: label {Cut(cell)} is out of range (at most {MaxLabel})");
        }

        return (int)value;
    }

    private static float ParseFeature(ReadOnlySpan<char> cell, string path, int line, int column)
    {
        if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            throw new DataFormatException($"{path} line {line}, column {column}: {Quote(cell)} is not a number");
        }

        if (!float.IsFinite(value))
        {
            throw new DataFormatException($"{path} line {line}, column {column}: {Quote(cell)} is not a finite number (NaN and infinities are not allowed)");
        }

        return value;
    }

    /// <summary>The cell in quotes, cut to its first 72 characters (and its length said) when longer than 80.</summary>
    internal static string Quote(ReadOnlySpan<char> cell) =>
        cell.Length <= 80 ? $"'{cell}'" : string.Create(CultureInfo.InvariantCulture, $"'{cell[..72]}…' ({cell.Length:N0} characters)");

    /// <summary>As <see cref="Quote"/>, without the quotes (a label shown as a number).</summary>
    internal static string Cut(ReadOnlySpan<char> cell) =>
        cell.Length <= 80 ? cell.ToString() : string.Create(CultureInfo.InvariantCulture, $"{cell[..72]}… ({cell.Length:N0} characters)");

    private static int CountCells(ReadOnlySpan<char> line) => line.Count(',') + 1;

    private static ReadOnlySpan<char> FirstCell(ReadOnlySpan<char> line)
    {
        var comma = line.IndexOf(',');
        return comma < 0 ? line : line[..comma];
    }

    // Trims blanks and one pair of surrounding double quotes.
    private static ReadOnlySpan<char> Cell(ReadOnlySpan<char> cell)
    {
        cell = cell.Trim();
        if (cell.Length >= 2 && cell[0] == '"' && cell[^1] == '"')
        {
            cell = cell[1..^1].Trim();
        }

        return cell;
    }
}
