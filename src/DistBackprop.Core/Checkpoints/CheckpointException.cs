// The one error type of model files and resume checkpoints: what the user sees when a file cannot
// be read, written or used. Leaves out: argument errors by the programmer (ArgumentException).
namespace DistBackprop.Core.Checkpoints;

/// <summary>A model file or checkpoint is unreadable, corrupt, unwritable or does not fit. The message is "{path}: {problem}".</summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The file (or checkpoint directory) concerned, as the caller named it.</summary>
    public string Path { get; }

    /// <summary>The problem alone, without the path.</summary>
    public string Problem { get; }
}
