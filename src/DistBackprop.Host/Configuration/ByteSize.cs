// Sizes as the user writes them for --max-frame-size: 1048576, 64MiB, 128KiB, 1GiB (binary, also
// K/M/G and Ki/Mi/Gi), or 64MB / 500kB (decimal, as in HOCON). Case-insensitive; spaces allowed
// between the number and the unit. Leaves out: range checks beyond what fits Akka's frame (int).
using System.Globalization;

namespace DistBackprop.Host.Configuration;

public static class ByteSize
{
    /// <summary>The largest frame Akka.Remote's TCP transport accepts (its maximum-frame-size is an int).</summary>
    public const long Max = int.MaxValue;

    /// <summary>Parses <paramref name="text"/> into bytes; false (with <paramref name="why"/>) when malformed or out of range.</summary>
    public static bool TryParse(string? text, out long bytes, out string why)
    {
        bytes = 0;
        why = "expected a size like 64MiB, 128KiB or 1048576";
        var s = text?.Trim() ?? string.Empty;
        var end = 0;
        while (end < s.Length && char.IsAsciiDigit(s[end]))
        {
            end++;
        }

        if (end == 0 || !long.TryParse(s.AsSpan(0, end), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        long? unit = s[end..].Trim().ToLowerInvariant() switch
        {
            "" or "b" => 1,
            "k" or "ki" or "kib" => 1L << 10,
            "m" or "mi" or "mib" => 1L << 20,
            "g" or "gi" or "gib" => 1L << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => null,
        };
        if (unit is not long u)
        {
            why = $"unknown unit '{s[end..].Trim()}' (expected B, KiB, MiB, GiB, kB, MB or GB)";
            return false;
        }

        if (n > Max / u)
        {
            why = $"at most {Max} bytes (2GiB - 1)";
            return false;
        }

        bytes = n * u;
        return true;
    }

    /// <summary>"64MiB", "128KiB" when exact, else "N bytes".</summary>
    public static string Format(long bytes) =>
        bytes > 0 && bytes % (1L << 30) == 0 ? $"{bytes >> 30}GiB"
        : bytes > 0 && bytes % (1L << 20) == 0 ? $"{bytes >> 20}MiB"
        : bytes > 0 && bytes % (1L << 10) == 0 ? $"{bytes >> 10}KiB"
        : $"{bytes} bytes";
}
