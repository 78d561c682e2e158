// The "digits" glyphs and their rasteriser. Each digit is a few polylines in a unit box
// (u → right, v → down); one sample = the glyph under a random smooth warp, scale, shear,
// rotation and shift, drawn as an anti-aliased thick line on a 20×20 canvas, plus pixel noise.
// Leaves out: dataset assembly and random streams (Synthetic.cs).
using DistBackprop.Core.Tensors;

namespace DistBackprop.Core.Data;

internal static class SyntheticDigits
{
    /// <summary>Canvas side in pixels.</summary>
    public const int Side = 20;

    private const double GlyphWidth = 10;   // pixels spanned by u ∈ [0, 1] before jitter
    private const double GlyphHeight = 14;  // pixels spanned by v ∈ [0, 1] before jitter

    // Per digit: polylines as (u, v) pairs.
    private static readonly double[][][] Glyphs =
    [
        /* 0 */ [Arc(0.5, 0.5, 0.45, 0.5, 0, 360, 20)],
        /* 1 */ [[0.25, 0.22, 0.55, 0.0, 0.55, 1.0]],
        /* 2 */ [[.. Arc(0.5, 0.28, 0.43, 0.28, 200, 400, 10), 0.02, 1.0, 0.98, 1.0]],
        /* 3 */ [Arc(0.5, 0.25, 0.4, 0.25, 210, 450, 10), Arc(0.5, 0.74, 0.45, 0.26, 270, 510, 10)],
        /* 4 */ [[0.75, 1.0, 0.75, 0.0, 0.0, 0.68, 1.0, 0.68]],
        /* 5 */ [[0.92, 0.0, 0.18, 0.0, .. Arc(0.48, 0.68, 0.45, 0.32, 225, 510, 12)]],
        /* 6 */ [[0.8, 0.02, 0.45, 0.12, 0.18, 0.4], Arc(0.5, 0.7, 0.42, 0.3, 180, 540, 16)],
        /* 7 */ [[0.0, 0.0, 1.0, 0.0, 0.35, 1.0]],
        /* 8 */ [Arc(0.5, 0.25, 0.36, 0.25, 0, 360, 16), Arc(0.5, 0.73, 0.44, 0.27, 0, 360, 16)],
        /* 9 */ [Arc(0.5, 0.3, 0.42, 0.3, 0, 360, 16), [0.92, 0.3, 0.88, 0.65, 0.6, 1.0]],
    ];

    private static readonly int MaxPoints = Glyphs.Max(g => g.Sum(p => p.Length / 2));

    /// <summary>Draws digit <paramref name="digit"/> into <paramref name="pixels"/> (Side×Side, row-major, values in [0, 1]).</summary>
    public static void Render(int digit, DeterministicRandom rng, Span<float> pixels)
    {
        if (pixels.Length != Side * Side)
        {
            throw new ArgumentException($"need {Side * Side} pixels, got {pixels.Length}", nameof(pixels));
        }

        // One sample's style, all from its own generator, in a fixed order.
        var sx = GlyphWidth * rng.NextDouble(0.8, 1.15);
        var sy = GlyphHeight * rng.NextDouble(0.85, 1.1);
        var shear = rng.NextDouble(-0.25, 0.25);
        var angle = rng.NextDouble(-0.2, 0.2);
        var dx = rng.NextDouble(-2, 2);
        var dy = rng.NextDouble(-2, 2);
        var half = rng.NextDouble(0.55, 1.15);          // half stroke width, pixels
        var contrast = rng.NextDouble(0.7, 1.0);
        var warpU = rng.NextDouble(-0.06, 0.06);
        var warpV = rng.NextDouble(-0.06, 0.06);
        var phaseU = rng.NextDouble(0, 2 * Math.PI);
        var phaseV = rng.NextDouble(0, 2 * Math.PI);
        const double vertexJitter = 0.02;
        const double noise = 0.08;
        var (sin, cos) = Math.SinCos(angle);

        // Transform the glyph into pixel space: (x, y) = R·(shear·(s ⊙ (warp(u, v) − ½))) + centre + shift
        var polylines = Glyphs[digit];
        Span<double> xs = stackalloc double[MaxPoints];
        Span<double> ys = stackalloc double[MaxPoints];
        Span<int> ends = stackalloc int[polylines.Length];
        var n = 0;
        for (var p = 0; p < polylines.Length; p++)
        {
            var line = polylines[p];
            for (var k = 0; k < line.Length; k += 2)
            {
                double u = line[k], v = line[k + 1];
                var wu = u + (warpU * Math.Sin((Math.PI * 2 * v) + phaseU)) + (vertexJitter * rng.NextGaussian());
                var wv = v + (warpV * Math.Sin((Math.PI * 2 * u) + phaseV)) + (vertexJitter * rng.NextGaussian());
                var px = (wu - 0.5) * sx;
                var py = (wv - 0.5) * sy;
                px += shear * py;
                xs[n] = (cos * px) - (sin * py) + (Side / 2.0) + dx;
                ys[n] = (sin * px) + (cos * py) + (Side / 2.0) + dy;
                n++;
            }

            ends[p] = n;
        }

        // d²(pixel) = min over segments of the squared distance from the pixel centre, visiting only
        // pixels within reach (half + ½) of each segment; the rest stay "far" and get no ink.
        var reach = half + 0.5;
        Span<double> d2 = stackalloc double[Side * Side];
        d2.Fill(double.MaxValue);
        var start = 0;
        foreach (var end in ends)
        {
            for (var k = start; k + 1 < end; k++)
            {
                var x0 = Math.Max(0, (int)Math.Floor(Math.Min(xs[k], xs[k + 1]) - reach));
                var x1 = Math.Min(Side - 1, (int)Math.Ceiling(Math.Max(xs[k], xs[k + 1]) + reach));
                var y0 = Math.Max(0, (int)Math.Floor(Math.Min(ys[k], ys[k + 1]) - reach));
                var y1 = Math.Min(Side - 1, (int)Math.Ceiling(Math.Max(ys[k], ys[k + 1]) + reach));
                for (var y = y0; y <= y1; y++)
                {
                    for (var x = x0; x <= x1; x++)
                    {
                        var d = SegmentDistanceSquared(x + 0.5, y + 0.5, xs[k], ys[k], xs[k + 1], ys[k + 1]);
                        d2[(y * Side) + x] = Math.Min(d2[(y * Side) + x], d);
                    }
                }
            }

            start = end;
        }

        // pixel = contrast · clamp(half + ½ − distance to the nearest segment, 0, 1) + noise·N(0,1), clamped to [0, 1]
        for (var p = 0; p < Side * Side; p++)
        {
            var ink = d2[p] < reach * reach ? Math.Clamp(reach - Math.Sqrt(d2[p]), 0, 1) * contrast : 0;
            var value = ink + (noise * rng.NextGaussian());
            pixels[p] = (float)Math.Clamp(value, 0, 1);
        }
    }

    // Squared distance from (x, y) to the segment a–b.
    private static double SegmentDistanceSquared(double x, double y, double ax, double ay, double bx, double by)
    {
        double ex = bx - ax, ey = by - ay;
        var len2 = (ex * ex) + (ey * ey);
        var t = len2 > 0 ? Math.Clamp((((x - ax) * ex) + ((y - ay) * ey)) / len2, 0, 1) : 0;
        double qx = ax + (t * ex) - x, qy = ay + (t * ey) - y;
        return (qx * qx) + (qy * qy);
    }

    // An elliptic arc centre (cx, cy), radii (rx, ry), from a0° to a1° (y down: 90° is the bottom), as `segments` segments.
    private static double[] Arc(double cx, double cy, double rx, double ry, double a0, double a1, int segments)
    {
        var points = new double[2 * (segments + 1)];
        for (var i = 0; i <= segments; i++)
        {
            var a = (a0 + ((a1 - a0) * i / segments)) * Math.PI / 180;
            points[2 * i] = cx + (rx * Math.Cos(a));
            points[(2 * i) + 1] = cy + (ry * Math.Sin(a));
        }

        return points;
    }
}
