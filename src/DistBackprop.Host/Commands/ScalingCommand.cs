// `distbackprop scaling` (hidden from --help; docs/scaling.md): the tools of the scaling study. `data` writes a bench
// workload's random rows as an IDX folder (what deploy/netns-bench.sh trains on), `fit` calibrates the scaling model on
// the bed's measurements and extends it to 256 workers (table, JSON, plot), `predict` evaluates the model for one
// configuration. Leaves out: the model and the fit (Scaling/), the measuring (deploy/netns-bench.sh).
using System.CommandLine;
using System.Globalization;
using DistBackprop.Host.Bench;
using DistBackprop.Host.Scaling;

namespace DistBackprop.Host.Commands;

public static class ScalingCommand
{
    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var command = new Command("scaling", "The scaling study (docs/scaling.md): bed data, the calibrated model's fit and predictions. Example: distbackprop scaling fit --measurements docs/scaling-data/bed-200mbit.csv --bench docs/scaling-data/bench.json")
        {
            Hidden = true,
        };
        command.Subcommands.Add(Data(context));
        command.Subcommands.Add(ScalingFitCommand.Fit(context));
        command.Subcommands.Add(ScalingFitCommand.Predict(context));
        return command;
    }

    private static Command Data(CliContext context)
    {
        var workload = new Option<string>("--workload") { Description = "mnist (784-256-128-10) | wide (784-1024-1024-10) | seed (400-25-10)", DefaultValueFactory = _ => "mnist" };
        var output = new Option<string>("--out") { Description = "the folder to write train-images-idx3-ubyte and train-labels-idx1-ubyte into" };
        var command = new Command("data", "Write a bench workload's 8192 random rows as an IDX folder. Example: distbackprop scaling data --workload wide --out /tmp/wide")
        {
            workload, output,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var name = parseResult.GetValue(workload) ?? "mnist";
            var w = BenchWorkload.Find(name) ?? throw new UsageException($"--workload: '{name}' is not one of {string.Join(", ", BenchWorkload.All.Select(x => x.Name))}");
            var folder = parseResult.GetValue(output);
            if (string.IsNullOrWhiteSpace(folder))
            {
                throw new UsageException("--out is required: the folder to write the IDX files into");
            }

            folder = PlotCommand.Resolve(context, folder);
            try
            {
                ClusterBench.WriteIdx(folder, w);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--out: cannot write '{folder}': {e.Message}");
            }

            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {folder}: {BenchWorkload.Samples} rows of {w.Features} features, {w.Classes} classes ({w.Name}: {string.Join(',', w.Sizes)}, {w.Spec.Layout.Count} parameters)"));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
