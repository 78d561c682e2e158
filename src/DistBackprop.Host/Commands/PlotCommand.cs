// `distbackprop plot metrics.csv -o curve.svg|curve.png`: loss and accuracy against step, test
// accuracy per epoch as markers, from a --metrics file (CSV or JSONL; see Plotting/MetricsSeries for
// the optional test columns). The format comes from -o's extension. Exit 2 for an unknown extension
// (naming -o) and for a missing or malformed metrics file (naming the file and line).
// Options come from the command line only.
using System.CommandLine;
using DistBackprop.Host.Plotting;

namespace DistBackprop.Host.Commands;

public static class PlotCommand
{
    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var metrics = new Argument<string>("metrics") { Description = "the metrics file written by train --metrics (.csv or .jsonl)" };
        var output = new Option<string>("--output", "-o") { Description = "the picture to write: curve.svg or curve.png" };
        var command = new Command("plot", "Draw loss and accuracy against step. Example: distbackprop plot metrics.csv -o curve.svg")
        {
            metrics, output,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            context.Verbose = parseResult.GetValue<bool>("--verbose");
            var metricsPath = parseResult.GetValue(metrics);
            var outputPath = parseResult.GetValue(output);
            if (string.IsNullOrWhiteSpace(outputPath))
            {
                throw new UsageException("-o is required: the picture to write, e.g. -o curve.svg or -o curve.png");
            }

            if (string.IsNullOrWhiteSpace(metricsPath))
            {
                throw new UsageException("the metrics file is required, e.g. distbackprop plot metrics.csv -o curve.svg");
            }

            if (PlotRenderer.FormatOf(outputPath) is null)
            {
                throw new UsageException($"-o: '{outputPath}' must end in .svg or .png (the format comes from the extension)");
            }

            var series = MetricsReader.Read(Resolve(context, metricsPath));
            PlotRenderer.Write(series, Resolve(context, outputPath), "-o");
            context.Out.WriteLine($"wrote {outputPath} ({series.Rows.Count} steps{(series.HasTest ? ", with test figures" : string.Empty)})");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>A path relative to the command's working directory (the process's, or the test's).</summary>
    internal static string Resolve(CliContext context, string path) => Path.Combine(context.Environment.CurrentDirectory, path);
}
