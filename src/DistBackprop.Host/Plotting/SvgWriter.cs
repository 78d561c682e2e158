// Writes a Figure as SVG 1.1 with XmlWriter: a viewBox, a <title>, plain shapes (rect, polyline,
// circle, text), no scripts, fonts or links. Data lines are <polyline data-series="…"> with one
// point per drawn value, markers are <circle data-series="…">. Leaves out: the layout (FigureLayout).
using System.Globalization;
using System.Text;
using System.Xml;

namespace DistBackprop.Host.Plotting;

public static class SvgWriter
{
    private const string Ns = "http://www.w3.org/2000/svg";

    /// <summary>SVG font-size for a cap height: sans-serif capitals are about 0.72 em.</summary>
    public static double FontSize(int capHeight) => Math.Round(capHeight / 0.72, 1);

    public static byte[] Write(Figure figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        using var stream = new MemoryStream();
        var settings = new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = true, NewLineChars = "\n" };
        using (var w = XmlWriter.Create(stream, settings))
        {
            w.WriteStartDocument();
            w.WriteStartElement("svg", Ns);
            w.WriteAttributeString("width", I(figure.Width));
            w.WriteAttributeString("height", I(figure.Height));
            w.WriteAttributeString("viewBox", $"0 0 {I(figure.Width)} {I(figure.Height)}");
            w.WriteAttributeString("font-family", "DejaVu Sans, Helvetica, Arial, sans-serif");
            w.WriteElementString("title", Ns, figure.Title);
            foreach (var shape in figure.Shapes)
            {
                WriteShape(w, shape);
            }

            w.WriteEndElement();
            w.WriteEndDocument();
        }

        return stream.ToArray();
    }

    private static void WriteShape(XmlWriter w, Shape shape)
    {
        switch (shape)
        {
            case RectShape r:
                w.WriteStartElement("rect", Ns);
                w.WriteAttributeString("x", F(r.X));
                w.WriteAttributeString("y", F(r.Y));
                w.WriteAttributeString("width", F(r.Width));
                w.WriteAttributeString("height", F(r.Height));
                w.WriteAttributeString("fill", r.Fill?.Hex ?? "none");
                if (r.Stroke is { } s)
                {
                    w.WriteAttributeString("stroke", s.Hex);
                    w.WriteAttributeString("stroke-width", F(r.StrokeWidth));
                }

                w.WriteEndElement();
                break;
            case PolylineShape p:
                w.WriteStartElement("polyline", Ns);
                if (p.Series is not null)
                {
                    w.WriteAttributeString("data-series", p.Series);
                }

                w.WriteAttributeString("points", string.Join(' ', p.Points.Select(q => $"{F(q.X)},{F(q.Y)}")));
                w.WriteAttributeString("fill", "none");
                w.WriteAttributeString("stroke", p.Color.Hex);
                w.WriteAttributeString("stroke-width", F(p.Width));
                w.WriteAttributeString("stroke-linejoin", "round");
                w.WriteAttributeString("stroke-linecap", "round");
                if (p.Dashed)
                {
                    w.WriteAttributeString("stroke-dasharray", "4 4");
                }

                w.WriteEndElement();
                break;
            case CircleShape c:
                w.WriteStartElement("circle", Ns);
                if (c.Series is not null)
                {
                    w.WriteAttributeString("data-series", c.Series);
                }

                w.WriteAttributeString("cx", F(c.X));
                w.WriteAttributeString("cy", F(c.Y));
                w.WriteAttributeString("r", F(c.Radius));
                w.WriteAttributeString("fill", c.Fill.Hex);
                w.WriteAttributeString("stroke", c.Stroke.Hex);
                w.WriteAttributeString("stroke-width", "1.5");
                w.WriteEndElement();
                break;
            case TextShape t:
                var size = FontSize(t.Size);

                // y is the middle of the capitals: the baseline sits half a cap height below it
                w.WriteStartElement("text", Ns);
                w.WriteAttributeString("x", F(t.X));
                w.WriteAttributeString("y", F(t.Y + (t.Size / 2.0)));
                w.WriteAttributeString("font-size", F(size));
                w.WriteAttributeString("fill", t.Color.Hex);
                w.WriteAttributeString("text-anchor", t.Anchor switch { TextAnchor.Start => "start", TextAnchor.Middle => "middle", _ => "end" });
                if (t.Bold)
                {
                    w.WriteAttributeString("font-weight", "bold");
                }

                if (t.Vertical)
                {
                    w.WriteAttributeString("transform", $"rotate(-90 {F(t.X)} {F(t.Y)})");
                }

                w.WriteString(t.Text);
                w.WriteEndElement();
                break;
            default:
                throw new ArgumentException($"unknown shape {shape.GetType().Name}", nameof(shape));
        }
    }

    private static string F(double v) => Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture);

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
}
