// The font of the plots: a sans-serif family that is really installed (ScottPlot's default "Segoe UI" is not on
// Linux), found through Skia's font manager, which reads the system's font folders headless (no X, no fontconfig).
// With no font at all a plot would be unreadable boxes or a native crash, so it is a clear usage error instead.
// Leaves out: drawing (TrainingFigure), the font package (deploy/Dockerfile and .ci/run install fonts-dejavu-core).
using SkiaSharp;

namespace DistBackprop.Host.Plotting;

public static class PlotFonts
{
    /// <summary>Preferred families, first match wins; any installed family after these.</summary>
    public static readonly IReadOnlyList<string> Preferred = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "FreeSans", "Arial", "Helvetica"];

    /// <summary>The family to draw with, from the fonts installed on this machine.</summary>
    public static string Choose() => Choose(SKFontManager.Default.GetFontFamilies());

    /// <summary>The first of <see cref="Preferred"/> in <paramref name="installed"/>, else the first installed family in name order.</summary>
    /// <exception cref="UsageException">no font is installed.</exception>
    public static string Choose(IEnumerable<string> installed)
    {
        ArgumentNullException.ThrowIfNull(installed);
        var families = installed.Where(f => !string.IsNullOrWhiteSpace(f)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var name in Preferred)
        {
            if (families.Contains(name))
            {
                return name;
            }
        }

        return families.Order(StringComparer.Ordinal).FirstOrDefault()
            ?? throw new UsageException(
                "plot: no font is installed, so no text can be drawn; install one (Debian/Ubuntu: apt-get install fonts-dejavu-core) and try again");
    }
}
