// TorchSharp 0.107's native shim (libLibTorchSharp.so) lists GLIBCXX_3.4.32 as a needed version for a
// single symbol it never calls (std::ios_base_library_init); on Debian 12 (libstdc++ up to 3.4.30) the
// loader then refuses the library. Marking that one version need weak (VER_FLG_WEAK in its Vernaux entry
// of .gnu.version_r) turns the refusal into nothing at all. This patches the copies in this program's own
// output folder, once (idempotent), before TorchSharp loads them. Leaves out: the NuGet cache copy.
using System.Buffers.Binary;
using System.Text;

namespace TorchCompare;

public static class GlibcxxPatch
{
    private const string Version = "GLIBCXX_3.4.32";
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    /// <summary>Patches every libLibTorchSharp.so under <paramref name="folder"/>; returns the paths changed.</summary>
    public static IReadOnlyList<string> Apply(string folder)
    {
        var changed = new List<string>();
        foreach (var path in Directory.EnumerateFiles(folder, "libLibTorchSharp.so", SearchOption.AllDirectories))
        {
            var bytes = File.ReadAllBytes(path);
            if (MarkWeak(bytes))
            {
                File.WriteAllBytes(path, bytes);
                changed.Add(path);
            }
        }

        return changed;
    }

    /// <summary>Sets VER_FLG_WEAK on the GLIBCXX_3.4.32 need of a little-endian ELF64 image; true if it changed anything.</summary>
    public static bool MarkWeak(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2 || elf[5] != 1)
        {
            return false;
        }

        var s = elf.AsSpan();
        var shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(s[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(s[0x3a..]), shnum = BinaryPrimitives.ReadUInt16LittleEndian(s[0x3c..]);
        var changed = false;
        for (var i = 0; i < shnum; i++)
        {
            var sh = s[(int)(shoff + (i * shentsize))..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed)
            {
                continue;
            }

            var offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(sh[0x18..]);
            var link = BinaryPrimitives.ReadUInt32LittleEndian(sh[0x28..]);
            var strtab = (long)BinaryPrimitives.ReadUInt64LittleEndian(s[(int)(shoff + (link * shentsize) + 0x18)..]);
            var count = BinaryPrimitives.ReadUInt32LittleEndian(sh[0x2c..]); // sh_info: number of Verneed entries
            var need = offset;
            for (var n = 0; n < count; n++)
            {
                // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32
                int cnt = BinaryPrimitives.ReadUInt16LittleEndian(s[(int)(need + 2)..]);
                var aux = need + BinaryPrimitives.ReadUInt32LittleEndian(s[(int)(need + 8)..]);
                for (var a = 0; a < cnt; a++)
                {
                    // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
                    var name = CString(s, strtab + BinaryPrimitives.ReadUInt32LittleEndian(s[(int)(aux + 8)..]));
                    var flags = BinaryPrimitives.ReadUInt16LittleEndian(s[(int)(aux + 4)..]);
                    if (name == Version && (flags & VerFlgWeak) == 0)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(s[(int)(aux + 4)..], (ushort)(flags | VerFlgWeak));
                        changed = true;
                    }

                    aux += BinaryPrimitives.ReadUInt32LittleEndian(s[(int)(aux + 12)..]);
                }

                need += BinaryPrimitives.ReadUInt32LittleEndian(s[(int)(need + 12)..]);
            }
        }

        return changed;
    }

    private static string CString(ReadOnlySpan<byte> s, long at)
    {
        var rest = s[(int)at..];
        var end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]);
    }
}
