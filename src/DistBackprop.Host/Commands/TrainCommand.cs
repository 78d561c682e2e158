// `distbackprop train`: local-mode training (SPEC §6). Binds TrainingOptions from the layered
// configuration, validates everything it can before loading data, then hands over to TrainRun.
using System.CommandLine;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Commands;

public static class TrainCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("train", "Train an MLP in this process (local mode). Example: distbackprop train --data digits --epochs 5 --out model.safetensors");
        TrainingCommandLine.AddTo(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var bound = OptionsBinder.Bind<TrainingOptions>(context.Environment, TrainingCommandLine.CommandLineValues(parseResult));
            context.Verbose = bound.Value.Verbose;
            var resolved = TrainingOptionsValidator.Resolve(bound, context.ProcessorCount);
            return new TrainRun(context, bound, resolved).Execute();
        }));
        return command;
    }
}
