// `distbackprop explain [--steps N] [--lr α] [--markdown FILE] [--plain]`: how the new weights are
// calculated, with real numbers, on the two fixed tiny networks of Core/Explain (sigmoid output with
// binary cross-entropy; softmax output with cross-entropy). The numbers come from
// Core's Walkthrough (the product's Mlp<double> plus a hand-derived chain rule and finite differences);
// this file only renders them: a Spectre.Console view on a terminal, plain text with --plain or when
// output is redirected, and the same document as Markdown with --markdown (written atomically).
// Options come from the command line only.
using System.CommandLine;
using System.Globalization;
using System.Text;
using DistBackprop.Core.Explain;
using Spectre.Console;

namespace DistBackprop.Host.Commands;

public static class ExplainCommand
{
    /// <summary>More steps than this make a table nobody reads.</summary>
    public const int MaxSteps = 10_000;

    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var steps = TrainingCommandLine.Value("--steps", "repeat the update N times and show the loss after each step", 1);
        var lr = TrainingCommandLine.Value("--lr", "learning rate α of the update (≥ 0)", Walkthrough.DefaultLearningRate);
        var markdown = TrainingCommandLine.Text("--markdown", "also write the explanation as a Markdown document to FILE");
        var command = new Command("explain", "Show how backprop computes the new weights, with real numbers. Example: distbackprop explain --steps 10 --markdown explain.md")
        {
            steps, lr, markdown,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            context.Verbose = parseResult.GetValue<bool>("--verbose");
            var n = parseResult.GetValue(steps);
            var alpha = parseResult.GetValue(lr);
            var file = parseResult.GetValue(markdown);
            var errors = new List<string>();
            if (n is < 1 or > MaxSteps)
            {
                errors.Add($"--steps must be between 1 and {MaxSteps} (got {n})");
            }

            if (!double.IsFinite(alpha) || alpha < 0)
            {
                errors.Add($"--lr must be a finite number ≥ 0 (got {alpha.ToString("R", CultureInfo.InvariantCulture)})");
            }

            if (file is not null && string.IsNullOrWhiteSpace(file))
            {
                errors.Add("--markdown needs a file name");
            }

            if (errors.Count > 0)
            {
                throw new UsageException(errors);
            }

            var parts = new[] { ExplainExample.SigmoidOutput, ExplainExample.SoftmaxOutput }
                .Select(e => Walkthrough.Run(e, alpha, n))
                .ToList();
            var blocks = ExplainDocument.Build(parts);
            if (file is not null)
            {
                WriteMarkdown(PlotCommand.Resolve(context, file), file, DocumentRendering.ToMarkdown(blocks));
            }

            var plain = parseResult.GetValue<bool>("--plain") || !context.IsTerminal;
            if (plain)
            {
                context.Out.Write(DocumentRendering.ToPlainText(blocks));
            }
            else
            {
                RenderToTerminal(context.Out, blocks);
            }

            if (file is not null)
            {
                context.Out.WriteLine($"wrote {file}");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static void WriteMarkdown(string path, string shown, string text)
    {
        var full = Path.GetFullPath(path);
        var temp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            File.WriteAllText(temp, text, new UTF8Encoding(false));
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception d) when (d is IOException or UnauthorizedAccessException)
            {
            }

            throw new UsageException($"--markdown: cannot write '{shown}': {e.Message}");
        }
    }

    private static void RenderToTerminal(TextWriter output, IReadOnlyList<DocBlock> blocks)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        foreach (var block in blocks)
        {
            switch (block)
            {
                case DocHeading { Level: 1 } h:
                    console.Write(new Rule($"[bold]{Markup.Escape(h.Text)}[/]") { Justification = Justify.Left });
                    break;
                case DocHeading { Level: 2 } h:
                    console.WriteLine();
                    console.Write(new Rule($"[bold yellow]{Markup.Escape(h.Text)}[/]") { Justification = Justify.Left, Style = Style.Parse("yellow") });
                    break;
                case DocHeading h:
                    console.MarkupLine($"[bold]{Markup.Escape(h.Text)}[/]");
                    break;
                case DocParagraph p:
                    console.Write(new Padder(new Markup(Markup.Escape(p.Text)), new Padding(0, 0, 0, 1)));
                    break;
                case DocEquations q:
                    foreach (var line in q.Lines)
                    {
                        console.MarkupLine($"    [cyan]{Markup.Escape(line)}[/]");
                    }

                    console.WriteLine();
                    break;
                case DocTable t:
                    var table = new Table { Border = TableBorder.Rounded };
                    for (var c = 0; c < t.Headers.Count; c++)
                    {
                        var column = new TableColumn($"[bold]{Markup.Escape(t.Headers[c])}[/]");
                        table.AddColumn(t.RightAligned[c] ? column.RightAligned() : column);
                    }

                    foreach (var row in t.Rows)
                    {
                        table.AddRow(row.Select(cell => Markup.Escape(cell)).ToArray());
                    }

                    console.Write(table);
                    console.WriteLine();
                    break;
                default:
                    throw new ArgumentException($"unknown block {block.GetType().Name}", nameof(blocks));
            }
        }
    }
}
