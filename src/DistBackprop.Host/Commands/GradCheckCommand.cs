// `distbackprop gradcheck`: backprop's gradients against central finite differences (and float32
// against float64) for a chosen architecture, using Core's GradientCheck; prints one row per tensor
// and PASS/FAIL. Exit 0 on pass, 1 on fail. Options come from the command line only (a
// DISTBACKPROP__LAYERS meant for `train` must not turn this into a check of a 100k-parameter model).
using System.CommandLine;
using DistBackprop.Core.Model;

namespace DistBackprop.Host.Commands;

public static class GradCheckCommand
{
    public static Command Create(CliContext context)
    {
        var layers = TrainingCommandLine.Text("--layers", "layer sizes, input first", "4,5,3");
        var activation = TrainingCommandLine.Text("--activation", "hidden activation: relu|leaky-relu|sigmoid|tanh", "tanh");
        var loss = TrainingCommandLine.Text("--loss", "output/loss pair: softmax-ce|sigmoid-ce|mse", "softmax-ce");
        var seed = TrainingCommandLine.Value("--seed", "seed of the weights and random rows", 1L);
        var rows = TrainingCommandLine.Value("--rows", "random rows in the batch", 8);
        var command = new Command("gradcheck", "Check backprop against finite differences. Example: distbackprop gradcheck --layers 4,5,3 --activation sigmoid --loss mse")
        {
            layers, activation, loss, seed, rows,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            context.Verbose = parseResult.GetValue<bool>("--verbose");
            var errors = new List<string>();
            var sizes = Names.TryParseLayers(parseResult.GetValue(layers), out var why);
            if (sizes is null)
            {
                errors.Add($"--layers: '{parseResult.GetValue(layers)}' is malformed: {why} (expected sizes like 4,5,3)");
            }

            if (!Names.TryParseActivation(parseResult.GetValue(activation), out var a))
            {
                errors.Add($"--activation: unknown activation '{parseResult.GetValue(activation)}' (expected relu, leaky-relu, sigmoid or tanh)");
            }

            if (!Names.TryParseLoss(parseResult.GetValue(loss), out var l))
            {
                errors.Add($"--loss: unknown loss '{parseResult.GetValue(loss)}' (expected softmax-ce, sigmoid-ce or mse)");
            }

            var n = parseResult.GetValue(rows);
            if (n < 1)
            {
                errors.Add($"--rows must be at least 1 (got {n})");
            }

            if (errors.Count > 0)
            {
                throw new UsageException(errors);
            }

            var report = GradientCheck.Run(new ModelSpec(sizes!, a, l), parseResult.GetValue(seed), n);
            context.Out.WriteLine(report.ToString());
            return report.Passed ? ExitCodes.Ok : ExitCodes.RuntimeFailure;
        }));
        return command;
    }
}
