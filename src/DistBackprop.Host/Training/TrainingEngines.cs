// Which engine `train` uses. Today: Core's reference loop (the actor trainer has not landed on
// this branch yet). When it does, Default returns the actor engine and the reference engine stays
// reachable only through CliContext.EngineFactory (tests), per issue 3.
namespace DistBackprop.Host.Training;

internal static class TrainingEngines
{
    public static ITrainingEngine Default() => new ReferenceEngine();

    public static ITrainingEngine Reference() => new ReferenceEngine();
}
