// Which engine `train` uses: the actor trainer in local mode (issue 3). Core's reference loop stays
// as the test oracle only: reachable through CliContext.EngineFactory (internal, for tests), never
// from the command line.
using DistBackprop.Host.Commands;

namespace DistBackprop.Host.Training;

internal static class TrainingEngines
{
    public static ITrainingEngine Default(CliContext context) =>
        new ActorEngine(context.Err, context.Verbose, notice => context.Out.WriteLine(notice));

    public static ITrainingEngine Reference(CliContext context) => new ReferenceEngine();
}
