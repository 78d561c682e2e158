// An RGBA pixel buffer and the few drawing operations a Figure needs: anti-aliased thick lines
// (coverage from the distance to the segment), filled/outlined rectangles, anti-aliased circles and
// bitmap-font text (horizontal or reading bottom-up). Colours are opaque; coverage blends toward them,
// so overlapping segments of one line do not darken. Leaves out: PNG encoding (PngEncoder).
namespace DistBackprop.Host.Plotting;

public sealed class Raster
{
    public Raster(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        Width = width;
        Height = height;
        Pixels = new byte[width * height * 4];
        Array.Fill(Pixels, (byte)255);
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>Row-major RGBA, 4 bytes per pixel: (Height, Width, 4).</summary>
    public byte[] Pixels { get; }

    public (byte R, byte G, byte B, byte A) this[int x, int y]
    {
        get
        {
            var i = ((y * Width) + x) * 4;
            return (Pixels[i], Pixels[i + 1], Pixels[i + 2], Pixels[i + 3]);
        }
    }

    /// <summary>p ← p + (c − p)·coverage, for coverage in [0, 1].</summary>
    public void Blend(int x, int y, Rgb c, double coverage)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height || coverage <= 0)
        {
            return;
        }

        coverage = Math.Min(1, coverage);
        var i = ((y * Width) + x) * 4;
        Pixels[i] = Mix(Pixels[i], c.R, coverage);
        Pixels[i + 1] = Mix(Pixels[i + 1], c.G, coverage);
        Pixels[i + 2] = Mix(Pixels[i + 2], c.B, coverage);
        Pixels[i + 3] = 255;
    }

    /// <summary>Fills the pixels whose centres lie in [x, x + w) × [y, y + h).</summary>
    public void FillRect(double x, double y, double w, double h, Rgb c)
    {
        int x0 = (int)Math.Round(x), y0 = (int)Math.Round(y), x1 = (int)Math.Round(x + w), y1 = (int)Math.Round(y + h);
        for (var py = Math.Max(0, y0); py < Math.Min(Height, y1); py++)
        {
            for (var px = Math.Max(0, x0); px < Math.Min(Width, x1); px++)
            {
                Blend(px, py, c, 1);
            }
        }
    }

    /// <summary>A segment of the given width with round caps; pixel centres are at (px + 0.5, py + 0.5).</summary>
    public void Line(double x0, double y0, double x1, double y1, double width, Rgb c)
    {
        var r = Math.Max(width, 1) / 2;
        int minX = (int)Math.Floor(Math.Min(x0, x1) - r - 1), maxX = (int)Math.Ceiling(Math.Max(x0, x1) + r + 1);
        int minY = (int)Math.Floor(Math.Min(y0, y1) - r - 1), maxY = (int)Math.Ceiling(Math.Max(y0, y1) + r + 1);
        double dx = x1 - x0, dy = y1 - y0;
        var len2 = (dx * dx) + (dy * dy);

        // thin lines (width < 1) are drawn 1 px wide but fainter
        var strength = Math.Min(1, width);
        for (var py = Math.Max(0, minY); py <= Math.Min(Height - 1, maxY); py++)
        {
            for (var px = Math.Max(0, minX); px <= Math.Min(Width - 1, maxX); px++)
            {
                double cx = px + 0.5, cy = py + 0.5;

                // distance from the pixel centre to the segment
                var t = len2 > 0 ? Math.Clamp((((cx - x0) * dx) + ((cy - y0) * dy)) / len2, 0, 1) : 0;
                double ex = cx - (x0 + (t * dx)), ey = cy - (y0 + (t * dy));
                var d = Math.Sqrt((ex * ex) + (ey * ey));
                var coverage = Math.Clamp(r + 0.5 - d, 0, 1);
                if (coverage > 0)
                {
                    Blend(px, py, c, coverage * strength);
                }
            }
        }
    }

    /// <summary>A filled circle with a 1.5 px outline.</summary>
    public void Circle(double x, double y, double radius, Rgb fill, Rgb stroke)
    {
        var outer = radius + 1.5;
        for (var py = (int)Math.Floor(y - outer - 1); py <= (int)Math.Ceiling(y + outer + 1); py++)
        {
            for (var px = (int)Math.Floor(x - outer - 1); px <= (int)Math.Ceiling(x + outer + 1); px++)
            {
                double ex = px + 0.5 - x, ey = py + 0.5 - y;
                var d = Math.Sqrt((ex * ex) + (ey * ey));
                Blend(px, py, stroke, Math.Clamp(outer + 0.5 - d, 0, 1));
                Blend(px, py, fill, Math.Clamp(radius + 0.5 - d, 0, 1));
            }
        }
    }

    /// <summary>Text in the bitmap font; (x, y) is the anchor point, vertically the middle of the capitals.</summary>
    public void Text(double x, double y, string text, int size, Rgb c, TextAnchor anchor, bool vertical, bool bold)
    {
        var s = BitmapFont.ScaleFor(size);
        var advance = (BitmapFont.GlyphWidth + 1) * s;
        var width = (text.Length * advance) - s;
        var start = anchor switch
        {
            TextAnchor.Start => 0.0,
            TextAnchor.Middle => -width / 2.0,
            _ => -width,
        };
        // integer origin, so every glyph pixel is a whole s×s block (no rounding gaps)
        var ou = (int)Math.Floor(start + 0.5);
        var ov = -(int)Math.Floor((BitmapFont.CapHeight * s / 2.0) + 0.5);
        int ax = (int)Math.Floor(x + 0.5), ay = (int)Math.Floor(y + 0.5);
        for (var i = 0; i < text.Length; i++)
        {
            for (var row = 0; row < BitmapFont.GlyphHeight; row++)
            {
                for (var col = 0; col < BitmapFont.GlyphWidth; col++)
                {
                    if (!BitmapFont.IsSet(text[i], col, row))
                    {
                        continue;
                    }

                    // (u, v): position along and across the text, relative to the anchor; bold adds one column
                    var u = ou + (i * advance) + (col * s);
                    var v = ov + (row * s);
                    for (var a = 0; a < (bold ? s + 1 : s); a++)
                    {
                        for (var b = 0; b < s; b++)
                        {
                            // horizontal: (x + u, y + v); vertical (reads bottom-up): (x + v, y − u)
                            if (vertical)
                            {
                                Blend(ax + v + b, ay - u - a, c, 1);
                            }
                            else
                            {
                                Blend(ax + u + a, ay + v + b, c, 1);
                            }
                        }
                    }
                }
            }
        }
    }

    private static byte Mix(byte p, byte c, double coverage) => (byte)Math.Round(p + ((c - p) * coverage));
}
