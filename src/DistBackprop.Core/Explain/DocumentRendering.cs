// Renders ExplainDocument blocks as Markdown (the --markdown file) or as plain text (--plain, or
// when standard output is not a terminal). Pure strings; writing files and consoles is the Host's job.
// Leaves out: the coloured terminal view (Host, Spectre.Console).
using System.Text;

namespace DistBackprop.Core.Explain;

public static class DocumentRendering
{
    /// <summary>GitHub-flavoured Markdown: # headings, ```text blocks for equations, pipe tables.</summary>
    public static string ToMarkdown(IReadOnlyList<DocBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var sb = new StringBuilder();
        foreach (var block in blocks)
        {
            switch (block)
            {
                case DocHeading h:
                    sb.Append('#', h.Level).Append(' ').Append(h.Text).Append('\n');
                    break;
                case DocParagraph p:
                    sb.Append(p.Text).Append('\n');
                    break;
                case DocEquations q:
                    sb.Append("```text\n");
                    foreach (var line in q.Lines)
                    {
                        sb.Append(line).Append('\n');
                    }

                    sb.Append("```\n");
                    break;
                case DocTable t:
                    sb.Append("| ").Append(string.Join(" | ", t.Headers.Select(Cell))).Append(" |\n");
                    sb.Append('|').Append(string.Join('|', t.RightAligned.Select(r => r ? " ---: " : " --- "))).Append("|\n");
                    foreach (var row in t.Rows)
                    {
                        sb.Append("| ").Append(string.Join(" | ", row.Select(Cell))).Append(" |\n");
                    }

                    break;
                default:
                    throw new ArgumentException($"unknown block {block.GetType().Name}", nameof(blocks));
            }

            sb.Append('\n');
        }

        return sb.ToString();

        // Inside a table cell: escape the pipe, keep the text otherwise as is (inline code for formulas).
        static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);
    }

    /// <summary>Plain text: underlined headings, wrapped paragraphs, indented equations, space-aligned tables.</summary>
    public static string ToPlainText(IReadOnlyList<DocBlock> blocks, int width = 100)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var sb = new StringBuilder();
        foreach (var block in blocks)
        {
            switch (block)
            {
                case DocHeading h:
                    sb.Append(h.Text).Append('\n');
                    if (h.Level <= 2)
                    {
                        sb.Append(h.Level == 1 ? '=' : '-', h.Text.Length).Append('\n');
                    }

                    break;
                case DocParagraph p:
                    foreach (var line in Wrap(p.Text, width))
                    {
                        sb.Append(line).Append('\n');
                    }

                    break;
                case DocEquations q:
                    foreach (var line in q.Lines)
                    {
                        sb.Append("    ").Append(line).Append('\n');
                    }

                    break;
                case DocTable t:
                    AppendTable(sb, t);
                    break;
                default:
                    throw new ArgumentException($"unknown block {block.GetType().Name}", nameof(blocks));
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    private static void AppendTable(StringBuilder sb, DocTable t)
    {
        var widths = t.Headers.Select(h => h.Length).ToArray();
        foreach (var row in t.Rows)
        {
            for (var c = 0; c < row.Count; c++)
            {
                widths[c] = Math.Max(widths[c], row[c].Length);
            }
        }

        void Row(IReadOnlyList<string> cells)
        {
            sb.Append("  ");
            for (var c = 0; c < cells.Count; c++)
            {
                var s = t.RightAligned[c] ? cells[c].PadLeft(widths[c]) : cells[c].PadRight(widths[c]);
                sb.Append(s).Append(c < cells.Count - 1 ? "  " : string.Empty);
            }

            // no trailing blanks after a left-aligned last column
            while (sb.Length > 0 && sb[^1] == ' ')
            {
                sb.Length--;
            }

            sb.Append('\n');
        }

        Row(t.Headers);
        Row(widths.Select(w => new string('-', w)).ToArray());
        foreach (var row in t.Rows)
        {
            Row(row);
        }
    }

    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new StringBuilder();
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }

            if (line.Length > 0)
            {
                line.Append(' ');
            }

            line.Append(word);
        }

        if (line.Length > 0)
        {
            yield return line.ToString();
        }
    }
}
