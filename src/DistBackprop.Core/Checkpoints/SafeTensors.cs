// A small safetensors reader and writer (https://github.com/huggingface/safetensors), the format
// of model files and resume checkpoints (SPEC §5):
//   [N: u64 little-endian][N bytes of UTF-8 JSON header, space-padded to a multiple of 8][data]
//   header = {"__metadata__": {string: string}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
//   offsets are relative to the data section; the tensors tile it exactly (no gaps, no overlap).
// Writes are atomic: a temporary file in the same directory, flushed to disk, then renamed over
// the target. The directory entry is not fsynced, so a power cut right after the rename may bring
// back the old file — never a half-written one.
// Leaves out: reading values of dtypes other than F32 (they are size-checked and skipped), mmap.
using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DistBackprop.Core.Checkpoints;

/// <summary>One F32 tensor to write. <see cref="Data"/> holds exactly the product of <see cref="Shape"/> values, row-major.</summary>
internal readonly record struct TensorToWrite(string Name, int[] Shape, ReadOnlyMemory<float> Data);

/// <summary>A tensor entry of a header: offsets relative to the data section, end exclusive.</summary>
internal sealed record TensorEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}

/// <summary>What <see cref="SafeTensors.Read"/> found: the header, the values asked for, and the data checksum.</summary>
internal sealed record SafeTensorsContent(
    string Path,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyDictionary<string, TensorEntry> Tensors,
    IReadOnlyDictionary<string, float[]> Values,
    string DataSha256);

internal static class SafeTensors
{
    /// <summary>The reference implementation refuses headers above 100 MB; so do we.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    /// <summary>Metadata keys that some loaders mistake for tensor entries (SPEC §5).</summary>
    public static readonly IReadOnlySet<string> ForbiddenMetadataKeys = new HashSet<string>(StringComparer.Ordinal) { "shape", "dtype", "data_offsets" };

    private static readonly Dictionary<string, int> ElementSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1,
        ["U8"] = 1,
        ["I8"] = 1,
        ["F8_E5M2"] = 1,
        ["F8_E4M3"] = 1,
        ["I16"] = 2,
        ["U16"] = 2,
        ["F16"] = 2,
        ["BF16"] = 2,
        ["I32"] = 4,
        ["U32"] = 4,
        ["F32"] = 4,
        ["I64"] = 8,
        ["U64"] = 8,
        ["F64"] = 8,
    };

    /// <summary>
    /// SHA-256 (lowercase hex) of the data section the tensors make when written in this order:
    /// each tensor's raw little-endian float bytes, concatenated. It covers no header byte.
    /// </summary>
    public static string DataSha256(IReadOnlyList<TensorToWrite> tensors)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var scratch = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            foreach (var t in tensors)
            {
                ForEachLittleEndianChunk(t.Data.Span, scratch, hash.AppendData);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// Writes the tensors (in this order, offsets contiguous) and the metadata to <paramref name="path"/> atomically.
    /// <paramref name="beforeCommit"/> (tests only) runs after the temporary file is flushed, before the rename.
    /// </summary>
    /// <exception cref="ArgumentException">a bad name, shape, or metadata key (a programming error).</exception>
    /// <exception cref="CheckpointException">the file could not be written; the old file, if any, is untouched.</exception>
    public static void Write(string path, IReadOnlyList<TensorToWrite> tensors, IEnumerable<KeyValuePair<string, string>> metadata, Action<string>? beforeCommit = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        var header = BuildHeader(tensors, metadata);

        var full = System.IO.Path.GetFullPath(path);
        var directory = System.IO.Path.GetDirectoryName(full) ?? ".";
        var temp = System.IO.Path.Combine(directory, $"{System.IO.Path.GetFileName(full)}.tmp-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}");
        var committed = false;
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                stream.Write(length);
                stream.Write(header);
                var scratch = ArrayPool<byte>.Shared.Rent(1 << 16);
                try
                {
                    foreach (var t in tensors)
                    {
                        ForEachLittleEndianChunk(t.Data.Span, scratch, stream.Write);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(scratch);
                }

                stream.Flush(flushToDisk: true);
            }

            beforeCommit?.Invoke(temp);
            File.Move(temp, full, overwrite: true);
            committed = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"could not be written: {e.Message}", e);
        }
        finally
        {
            if (!committed)
            {
                TryDelete(temp);
            }
        }
    }

    /// <summary>
    /// Reads and validates the header, reads the whole data section (hashing it), and returns the values of the
    /// tensors <paramref name="load"/> selects, which must be F32. Every problem is a <see cref="CheckpointException"/>.
    /// </summary>
    public static SafeTensorsContent Read(string path, Func<string, bool> load)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(load);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            return Read(path, stream, load);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CheckpointException(path, "does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"could not be read: {e.Message}", e);
        }
    }

    private static SafeTensorsContent Read(string path, FileStream stream, Func<string, bool> load)
    {
        var fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw Bad(path, $"is truncated: {fileLength} bytes, too short for the 8-byte header length");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength < 2 || headerLength > MaxHeaderBytes)
        {
            throw Bad(path, $"is not a safetensors file: header length {headerLength} is out of range (2 to {MaxHeaderBytes} bytes)");
        }

        if ((long)headerLength > fileLength - 8)
        {
            throw Bad(path, $"is truncated or not a safetensors file: the header length {headerLength} exceeds the {fileLength - 8} bytes after it");
        }

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var dataLength = fileLength - 8 - (long)headerLength;
        var (metadata, tensors) = ParseHeader(path, header);
        Validate(path, tensors, dataLength);

        foreach (var t in tensors)
        {
            if (load(t.Name) && t.DType != "F32")
            {
                throw Bad(path, $"tensor {t.Name} has dtype {t.DType}; only F32 is supported");
            }

            if (load(t.Name) && (t.End - t.Begin) / 4 > Array.MaxLength)
            {
                throw Bad(path, $"tensor {t.Name} {t.ShapeText} is too large to load");
            }
        }

        var values = new Dictionary<string, float[]>(StringComparer.Ordinal);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var scratch = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            foreach (var t in tensors)
            {
                if (load(t.Name))
                {
                    var data = new float[(t.End - t.Begin) / 4];
                    var bytes = MemoryMarshal.AsBytes(data.AsSpan());
                    stream.ReadExactly(bytes);
                    hash.AppendData(bytes);
                    if (!BitConverter.IsLittleEndian)
                    {
                        var ints = MemoryMarshal.Cast<float, int>(data.AsSpan());
                        BinaryPrimitives.ReverseEndianness(ints, ints);
                    }

                    values[t.Name] = data;
                }
                else
                {
                    for (var left = t.End - t.Begin; left > 0;)
                    {
                        var chunk = scratch.AsSpan(0, (int)Math.Min(left, scratch.Length));
                        stream.ReadExactly(chunk);
                        hash.AppendData(chunk);
                        left -= chunk.Length;
                    }
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointException(path, "is truncated: it ended while reading tensor data", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }

        var byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return new SafeTensorsContent(path, metadata, byName, values, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private static (Dictionary<string, string> Metadata, List<TensorEntry> Tensors) ParseHeader(string path, byte[] header)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"has a header that is not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Bad(path, $"has a header that is a JSON {root.ValueKind}, not an object");
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<TensorEntry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw Bad(path, $"has the header key \"{property.Name}\" twice");
                }

                if (property.Name == MetadataKey)
                {
                    ParseMetadata(path, property.Value, metadata);
                }
                else
                {
                    tensors.Add(ParseTensor(path, property.Name, property.Value));
                }
            }

            return (metadata, tensors);
        }
    }

    private static void ParseMetadata(string path, JsonElement element, Dictionary<string, string> into)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, $"has {MetadataKey} as a JSON {element.ValueKind}, not an object of strings");
        }

        foreach (var item in element.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
            {
                throw Bad(path, $"has metadata \"{item.Name}\" as a JSON {item.Value.ValueKind}; safetensors metadata values are strings");
            }

            if (!into.TryAdd(item.Name, item.Value.GetString()!))
            {
                throw Bad(path, $"has the metadata key \"{item.Name}\" twice");
            }
        }
    }

    private static TensorEntry ParseTensor(string path, string name, JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, $"has tensor {name} as a JSON {element.ValueKind}, not an object");
        }

        if (!element.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String)
        {
            throw Bad(path, $"tensor {name} has no \"dtype\" string");
        }

        var shape = ReadIntegers(path, name, element, "shape", expectedCount: null);
        var offsets = ReadIntegers(path, name, element, "data_offsets", expectedCount: 2);
        return new TensorEntry(name, dtype.GetString()!, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadIntegers(string path, string name, JsonElement element, string key, int? expectedCount)
    {
        if (!element.TryGetProperty(key, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            throw Bad(path, $"tensor {name} has no \"{key}\" array");
        }

        var values = new List<long>();
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var v) || v < 0)
            {
                throw Bad(path, $"tensor {name} has \"{key}\" {array.GetRawText()}, not a list of non-negative integers");
            }

            values.Add(v);
        }

        if (expectedCount is int n && values.Count != n)
        {
            throw Bad(path, $"tensor {name} has \"{key}\" {array.GetRawText()}, expected {n} integers");
        }

        return values.ToArray();
    }

    /// <summary>dtypes known, shape × element size = offset span, tensors tile [0, dataLength) exactly.</summary>
    private static void Validate(string path, List<TensorEntry> tensors, long dataLength)
    {
        foreach (var t in tensors)
        {
            if (!ElementSizes.TryGetValue(t.DType, out var size))
            {
                throw Bad(path, $"tensor {t.Name} has dtype {t.DType}, which this reader does not know (only F32 is loaded)");
            }

            if (t.End < t.Begin)
            {
                throw Bad(path, $"tensor {t.Name} has data_offsets [{t.Begin}, {t.End}] that end before they begin");
            }

            long bytes;
            try
            {
                bytes = size;
                foreach (var d in t.Shape)
                {
                    bytes = checked(bytes * d);
                }
            }
            catch (OverflowException)
            {
                throw Bad(path, $"tensor {t.Name} has shape {t.ShapeText}, too large");
            }

            if (bytes != t.End - t.Begin)
            {
                throw Bad(path, $"tensor {t.Name} ({t.DType} {t.ShapeText}) needs {bytes} bytes but its data_offsets [{t.Begin}, {t.End}] span {t.End - t.Begin}");
            }
        }

        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        foreach (var t in tensors)
        {
            if (t.Begin != expected)
            {
                var what = t.Begin < expected ? "overlaps the previous tensor" : "leaves a gap after the previous tensor";
                throw Bad(path, $"tensor {t.Name} data_offsets [{t.Begin}, {t.End}] {what} (expected to begin at {expected})");
            }

            expected = t.End;
        }

        if (expected > dataLength)
        {
            throw Bad(path, $"is truncated: the header describes {expected} data bytes, the file holds {dataLength}");
        }

        if (expected < dataLength)
        {
            throw Bad(path, $"has {dataLength - expected} bytes after the last tensor that the header does not describe");
        }
    }

    private static byte[] BuildHeader(IReadOnlyList<TensorToWrite> tensors, IEnumerable<KeyValuePair<string, string>> metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartObject(MetadataKey);
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (key, value) in metadata)
            {
                ArgumentNullException.ThrowIfNull(key, nameof(metadata));
                ArgumentNullException.ThrowIfNull(value, nameof(metadata));
                if (ForbiddenMetadataKeys.Contains(key))
                {
                    throw new ArgumentException($"metadata key \"{key}\" is avoided: some loaders mistake it for a tensor entry", nameof(metadata));
                }

                if (!keys.Add(key))
                {
                    throw new ArgumentException($"metadata key \"{key}\" appears twice", nameof(metadata));
                }

                json.WriteString(key, value);
            }

            json.WriteEndObject();
            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (var t in tensors)
            {
                if (string.IsNullOrEmpty(t.Name) || t.Name == MetadataKey || !names.Add(t.Name))
                {
                    throw new ArgumentException($"tensor name \"{t.Name}\" is empty, reserved or repeated", nameof(tensors));
                }

                long count = 1;
                foreach (var d in t.Shape)
                {
                    ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(tensors));
                    count *= d;
                }

                if (count != t.Data.Length)
                {
                    throw new ArgumentException($"tensor {t.Name} has shape [{string.Join(", ", t.Shape)}] but {t.Data.Length} values", nameof(tensors));
                }

                json.WriteStartObject(t.Name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (var d in t.Shape)
                {
                    json.WriteNumberValue(d);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + (4 * count));
                json.WriteEndArray();
                json.WriteEndObject();
                offset += 4 * count;
            }

            json.WriteEndObject();
        }

        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        var padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    /// <summary>Hands <paramref name="values"/> to <paramref name="sink"/> as little-endian bytes, without copying on little-endian machines.</summary>
    private static void ForEachLittleEndianChunk(ReadOnlySpan<float> values, byte[] scratch, SpanSink sink)
    {
        if (BitConverter.IsLittleEndian)
        {
            sink(MemoryMarshal.AsBytes(values));
            return;
        }

        var ints = MemoryMarshal.Cast<float, int>(values);
        var chunk = scratch.Length / 4;
        for (var i = 0; i < ints.Length; i += chunk)
        {
            var part = ints.Slice(i, Math.Min(chunk, ints.Length - i));
            var dest = MemoryMarshal.Cast<byte, int>(scratch.AsSpan(0, part.Length * 4));
            BinaryPrimitives.ReverseEndianness(part, dest);
            sink(scratch.AsSpan(0, part.Length * 4));
        }
    }

    private delegate void SpanSink(ReadOnlySpan<byte> bytes);

    private static CheckpointException Bad(string path, string problem) => new(path, problem);

    private static void TryDelete(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                File.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the temporary name never shadows the real file.
        }
    }
}
