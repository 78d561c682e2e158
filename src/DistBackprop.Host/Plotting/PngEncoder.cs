// A minimal PNG encoder for RGBA rasters: signature, IHDR (8-bit RGBA, no interlace), one IDAT
// (zlib via System.IO.Compression.ZLibStream; each scanline with filter byte 0 or 1 "Sub", whichever
// has the smaller sum of absolute bytes), IEND; every chunk with its CRC-32 (ISO 3309, table below).
// Leaves out: other colour types, interlacing, ancillary chunks.
using System.Buffers.Binary;
using System.IO.Compression;

namespace DistBackprop.Host.Plotting;

public static class PngEncoder
{
    public static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private static readonly uint[] CrcTable = MakeCrcTable();

    public static byte[] Encode(Raster raster)
    {
        ArgumentNullException.ThrowIfNull(raster);
        using var png = new MemoryStream();
        png.Write(Signature);

        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(0), (uint)raster.Width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)raster.Height);
        ihdr[8] = 8;   // bit depth
        ihdr[9] = 6;   // colour type: RGBA
        ihdr[10] = 0;  // compression: deflate
        ihdr[11] = 0;  // filter method 0
        ihdr[12] = 0;  // no interlace
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", Compress(raster));
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>CRC-32 (polynomial 0xEDB88320, reflected, initial and final XOR 0xFFFFFFFF) as PNG uses.</summary>
    public static uint Crc32(ReadOnlySpan<byte> data, uint crc = 0)
    {
        crc ^= 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc ^ 0xFFFFFFFFu;
    }

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)data.Length);
        for (var i = 0; i < 4; i++)
        {
            header[4 + i] = (byte)type[i];
        }

        png.Write(header);
        png.Write(data);

        // CRC over the type and the data, not the length
        var crc = Crc32(header[4..]);
        crc = Crc32(data, crc);
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        png.Write(tail);
    }

    private static byte[] Compress(Raster raster)
    {
        var stride = raster.Width * 4;
        var none = new byte[stride + 1];
        var sub = new byte[stride + 1];
        using var output = new MemoryStream();
        using (var z = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            for (var y = 0; y < raster.Height; y++)
            {
                var line = raster.Pixels.AsSpan(y * stride, stride);
                none[0] = 0;
                line.CopyTo(none.AsSpan(1));

                // Sub: each byte minus the same channel of the pixel to its left
                sub[0] = 1;
                long sumNone = 0, sumSub = 0;
                for (var i = 0; i < stride; i++)
                {
                    var left = i >= 4 ? line[i - 4] : (byte)0;
                    sub[i + 1] = (byte)(line[i] - left);
                    sumNone += (sbyte)line[i] is var a && a < 0 ? -a : a;
                    sumSub += (sbyte)sub[i + 1] is var s && s < 0 ? -s : s;
                }

                z.Write(sumSub < sumNone ? sub : none);
            }
        }

        return output.ToArray();
    }
}
