// MNIST IDX files: images (magic 0x00000803, dims N, rows, cols, then N·rows·cols uint8 pixels)
// and labels (magic 0x00000801, dim N, then N uint8 labels), big-endian, gzipped or not (detected
// by the gzip magic 1f 8b, whatever the extension). Pixels are scaled by 1/255. Every problem —
// wrong magic, truncated or oversized file, counts that disagree, label > 9 — is a
// DataFormatException naming the file; there is no partial load. The file is read as a stream: the
// header first, then exactly the bytes it declares (the buffer grows only as they arrive), then at
// most 64 KiB more to see whether anything follows — a small .gz that expands to far more than its
// header says is refused after reading what the header says, never decompressed whole.
// Leaves out: other IDX element types (only uint8 is MNIST) and downloading (MnistFiles.cs).
using System.Buffers.Binary;
using System.IO.Compression;

namespace DistBackprop.Core.Data;

/// <summary>Decoded IDX images: (Count, Rows·Cols) row-major pixels in [0, 1].</summary>
public sealed record IdxImages(int Count, int Rows, int Cols, float[] Pixels);

public static class IdxReader
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;

    /// <summary>MNIST has ten classes; labels outside 0..9 are an error.</summary>
    public const int Classes = 10;

    public const string TrainImages = "train-images-idx3-ubyte";
    public const string TrainLabels = "train-labels-idx1-ubyte";
    public const string TestImages = "t10k-images-idx3-ubyte";
    public const string TestLabels = "t10k-labels-idx1-ubyte";

    /// <summary>Reads an images file (plain or gzip).</summary>
    public static IdxImages ReadImages(string path)
    {
        using var input = Open(path);
        var dims = Header(path, input, ImagesMagic, "images", dims: 3);
        int count = dims[0], rows = dims[1], cols = dims[2];
        if (rows < 1 || cols < 1)
        {
            throw new DataFormatException($"{path}: images have size {rows}×{cols}; both must be at least 1");
        }

        var body = ReadBody(path, input, (long)count * rows * cols, $"{count} images of {rows}×{cols} pixels");
        var pixels = new float[body.Length];
        // x = byte / 255
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = body[i] / 255f;
        }

        return new IdxImages(count, rows, cols, pixels);
    }

    /// <summary>Reads a labels file (plain or gzip); every label must be in 0..<see cref="Classes"/>−1.</summary>
    public static int[] ReadLabels(string path)
    {
        using var input = Open(path);
        var count = Header(path, input, LabelsMagic, "labels", dims: 1)[0];
        var body = ReadBody(path, input, count, $"{count} labels");
        var labels = new int[count];
        for (var i = 0; i < count; i++)
        {
            labels[i] = body[i];
            if (labels[i] >= Classes)
            {
                throw new DataFormatException($"{path}: label {labels[i]} of sample {i} is out of range 0..{Classes - 1}");
            }
        }

        return labels;
    }

    /// <summary>One images file with its labels file; the two counts must agree.</summary>
    public static Dataset Read(string imagesPath, string labelsPath, string name)
    {
        var images = ReadImages(imagesPath);
        var labels = ReadLabels(labelsPath);
        if (images.Count != labels.Length)
        {
            throw new DataFormatException(
                $"{imagesPath} holds {images.Count} images but {labelsPath} holds {labels.Length} labels; the counts must agree");
        }

        if (images.Count == 0)
        {
            throw new DataFormatException($"{imagesPath}: no images");
        }

        return new Dataset(name, images.Pixels, labels, images.Rows * images.Cols, Classes, (images.Rows, images.Cols));
    }

    /// <summary>
    /// A folder with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], and optionally the
    /// t10k-* pair (the test set). Names with a dot before "idx" (train-images.idx3-ubyte) are accepted too.
    /// </summary>
    public static DataSplit ReadFolder(string folder, string name)
    {
        var trainImages = Find(folder, TrainImages);
        var trainLabels = Find(folder, TrainLabels);
        if (trainImages is null || trainLabels is null)
        {
            throw new DataFormatException(
                $"{folder} is not an IDX dataset folder: it needs {TrainImages}[.gz] and {TrainLabels}[.gz] " +
                $"(and optionally {TestImages}[.gz] and {TestLabels}[.gz] for the test set)");
        }

        var train = Read(trainImages, trainLabels, name);
        var testImages = Find(folder, TestImages);
        var testLabels = Find(folder, TestLabels);
        if ((testImages is null) != (testLabels is null))
        {
            throw new DataFormatException(
                $"{folder} has {(testImages is null ? TestLabels : TestImages)} but not its partner " +
                $"{(testImages is null ? TestImages : TestLabels)}[.gz]; add it or remove the other");
        }

        if (testImages is null || testLabels is null)
        {
            return new DataSplit(train, null);
        }

        var test = Read(testImages, testLabels, name + " (test)");
        if (test.FeatureCount != train.FeatureCount)
        {
            throw new DataFormatException(
                $"{testImages} has images of {test.ImageShape}, but {trainImages} has {train.ImageShape}; they must agree");
        }

        return new DataSplit(train, test);
    }

    /// <summary>The file for <paramref name="baseName"/> in <paramref name="folder"/> (plain, .gz, or the dotted spelling), or null.</summary>
    public static string? Find(string folder, string baseName)
    {
        var dotted = baseName.Replace("-idx", ".idx", StringComparison.Ordinal);
        foreach (var candidate in new[] { baseName, baseName + ".gz", dotted, dotted + ".gz" })
        {
            var path = Path.Combine(folder, candidate);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    /// <summary>How far past the declared body a reader looks for trailing bytes.</summary>
    private const int TrailingLook = 64 * 1024;

    // the file, decompressed on the fly when it starts with the gzip magic
    private static IdxStream Open(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException($"{path}: cannot read ({e.Message})", e);
        }

        Span<byte> magic = stackalloc byte[2];
        var n = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        var gzip = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        return new IdxStream(path, file, gzip ? new GZipStream(file, CompressionMode.Decompress) : file, gzip);
    }

    // Checks the magic number and reads the big-endian dimensions.
    private static int[] Header(string path, IdxStream input, int magic, string kind, int dims)
    {
        var headerLength = 4 * (1 + dims);
        var header = new byte[headerLength];
        var got = input.Read(header);
        if (got < 4)
        {
            throw new DataFormatException($"{path}: truncated: {got} bytes, too short for an IDX header");
        }

        var found = BinaryPrimitives.ReadInt32BigEndian(header);
        if (found != magic)
        {
            throw new DataFormatException(
                $"{path}: wrong magic number 0x{found:x8}, expected 0x{magic:x8} for an IDX {kind} file");
        }

        if (got < headerLength)
        {
            throw new DataFormatException($"{path}: truncated: {got} bytes, the IDX {kind} header needs {headerLength}");
        }

        var sizes = new int[dims];
        for (var d = 0; d < dims; d++)
        {
            sizes[d] = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4 * (1 + d)));
            if (sizes[d] < 0)
            {
                throw new DataFormatException($"{path}: dimension {d} is negative ({sizes[d]})");
            }
        }

        return sizes;
    }

    // exactly `expected` bytes after the header, and nothing after them
    private static byte[] ReadBody(string path, IdxStream input, long expected, string what)
    {
        if (expected > Array.MaxLength)
        {
            throw new DataFormatException($"{path}: {what} is too large to load");
        }

        if (!input.Gzip)
        {
            // a plain file says its length: compare before reading anything
            var actual = input.File.Length - input.File.Position;
            CheckLength(path, actual, expected, what);
        }

        // grows as bytes arrive (a header may declare more than the file holds), up to the declared length
        var body = new byte[Math.Min(expected, 1 << 20)];
        long read = 0;
        while (read < expected)
        {
            if (read == body.Length)
            {
                Array.Resize(ref body, (int)Math.Min(expected, 2L * body.Length));
            }

            var n = input.Read(body.AsSpan((int)read));
            if (n == 0)
            {
                CheckLength(path, read, expected, what); // truncated
            }

            read += n;
        }

        var more = input.Read(new byte[TrailingLook]); // reads until the buffer is full or the data ends
        if (more == TrailingLook)
        {
            throw new DataFormatException($"{path}: at least {TrailingLook} unexpected bytes after the {what} the header declares (not read further)");
        }

        CheckLength(path, expected + more, expected, what);
        return body;
    }

    private static void CheckLength(string path, long actual, long expected, string what)
    {
        if (actual < expected)
        {
            throw new DataFormatException($"{path}: truncated: the header declares {what} ({expected} bytes) but only {actual} bytes follow");
        }

        if (actual > expected)
        {
            throw new DataFormatException($"{path}: {actual - expected} unexpected bytes after the {what} the header declares");
        }
    }

    /// <summary>An open IDX file: the bytes as stored, and the stream to read (the same, or its gzip decompression).</summary>
    private sealed class IdxStream(string path, FileStream file, Stream data, bool gzip) : IDisposable
    {
        public FileStream File { get; } = file;

        public bool Gzip { get; } = gzip;

        /// <summary>Fills as much of <paramref name="buffer"/> as the stream has; corrupt gzip data is a DataFormatException.</summary>
        public int Read(Span<byte> buffer)
        {
            try
            {
                return data.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                throw new DataFormatException($"{path}: the gzip data is corrupt or truncated ({e.Message})", e);
            }
        }

        public void Dispose()
        {
            data.Dispose();
            File.Dispose();
        }
    }
}
