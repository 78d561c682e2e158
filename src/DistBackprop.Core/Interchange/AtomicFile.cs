// Writes a whole file atomically: a temporary file beside the target, flushed to disk, then renamed over it,
// so a crash never leaves half a file (SPEC §5). Used by the ONNX export and the Host's picture writers.
// Leaves out: what goes into the file, and the safetensors writer (it has its own, with a test hook).
using System.Security.Cryptography;

namespace DistBackprop.Core.Interchange;

public static class AtomicFile
{
    /// <summary>Creates the directory if needed, runs <paramref name="write"/> on a temporary file, flushes it and renames it to <paramref name="path"/>.</summary>
    /// <exception cref="IOException">or <see cref="UnauthorizedAccessException"/>: the file could not be written; the old one, if any, is untouched.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $"{Path.GetFileName(full)}.tmp-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}");
        var committed = false;
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
            committed = true;
        }
        finally
        {
            if (!committed)
            {
                try
                {
                    File.Delete(temp);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // best effort: the target is untouched either way
                }
            }
        }
    }

    /// <summary>Writes <paramref name="bytes"/> as the whole file (see <see cref="Write(string, Action{Stream})"/>).</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }
}
