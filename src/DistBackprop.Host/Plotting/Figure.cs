// A figure as a flat list of shapes in pixel coordinates (origin top-left, y down). FigureLayout
// builds it once; SvgWriter and PngWriter draw the same list, so the two files show the same picture.
// Leaves out: axes/ticks logic (FigureLayout) and any rendering.
namespace DistBackprop.Host.Plotting;

/// <summary>An opaque colour.</summary>
public readonly record struct Rgb(byte R, byte G, byte B)
{
    public string Hex => $"#{R:x2}{G:x2}{B:x2}";

    public static Rgb Parse(string hex) => new(
        Convert.ToByte(hex.Substring(1, 2), 16), Convert.ToByte(hex.Substring(3, 2), 16), Convert.ToByte(hex.Substring(5, 2), 16));
}

public enum TextAnchor
{
    Start,
    Middle,
    End,
}

public abstract record Shape;

/// <summary>A polyline through <paramref name="Points"/>; <paramref name="Series"/> names the data series it draws (null for decoration).</summary>
public sealed record PolylineShape(IReadOnlyList<(double X, double Y)> Points, Rgb Color, double Width, string? Series = null, bool Dashed = false) : Shape;

/// <summary>A rectangle; no fill when <paramref name="Fill"/> is null, no outline when <paramref name="Stroke"/> is null.</summary>
public sealed record RectShape(double X, double Y, double Width, double Height, Rgb? Fill, Rgb? Stroke, double StrokeWidth = 1) : Shape;

/// <summary>A filled circle with an outline (a data marker).</summary>
public sealed record CircleShape(double X, double Y, double Radius, Rgb Fill, Rgb Stroke, string? Series = null) : Shape;

/// <summary>
/// One line of text. (<paramref name="X"/>, <paramref name="Y"/>) is the anchor point: horizontally at the start,
/// middle or end of the text, vertically at its middle. <paramref name="Size"/> is the pixel height of capitals
/// (the PNG's bitmap font draws them at 7·scale pixels). <paramref name="Vertical"/> turns the text to read bottom-up.
/// </summary>
public sealed record TextShape(double X, double Y, string Text, int Size, Rgb Color, TextAnchor Anchor = TextAnchor.Start, bool Vertical = false, bool Bold = false) : Shape;

/// <summary>The whole picture: size, title (for the SVG's &lt;title&gt;) and shapes in drawing order.</summary>
public sealed record Figure(int Width, int Height, string Title, IReadOnlyList<Shape> Shapes);
