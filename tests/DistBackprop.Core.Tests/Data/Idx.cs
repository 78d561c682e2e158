// Test helper for the data loaders: a writer of tiny
// IDX files (plain or gzip) so the readers are tested without MNIST on disk.
using System.Buffers.Binary;
using System.IO.Compression;
using DistBackprop.Core.Data;

namespace DistBackprop.Core.Tests.Data;

internal static class Idx
{
    /// <summary>Writes magic, big-endian dims, then payload (optionally gzipped); returns the path.</summary>
    public static string Write(string path, int magic, int[] dims, byte[] payload, bool gzip = false)
    {
        var bytes = new byte[4 * (1 + dims.Length) + payload.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (var d = 0; d < dims.Length; d++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 * (1 + d)), dims[d]);
        }

        payload.CopyTo(bytes, 4 * (1 + dims.Length));
        if (gzip)
        {
            using var file = System.IO.File.Create(path);
            using var gz = new GZipStream(file, CompressionLevel.Fastest);
            gz.Write(bytes);
        }
        else
        {
            System.IO.File.WriteAllBytes(path, bytes);
        }

        return path;
    }

    /// <summary>count images of rows×cols with pixel (i, p) = (7·i + p) mod 256.</summary>
    public static byte[] Pixels(int count, int rows, int cols)
    {
        var p = new byte[count * rows * cols];
        for (var i = 0; i < p.Length; i++)
        {
            p[i] = (byte)(((7 * (i / (rows * cols))) + (i % (rows * cols))) % 256);
        }

        return p;
    }

    public static string Images(string path, int count, int rows, int cols, bool gzip = false) =>
        Write(path, IdxReader.ImagesMagic, [count, rows, cols], Pixels(count, rows, cols), gzip);

    public static string Labels(string path, byte[] labels, bool gzip = false) =>
        Write(path, IdxReader.LabelsMagic, [labels.Length], labels, gzip);
}
