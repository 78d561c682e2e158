// The one place a run's resume checkpoints are written (Core's CheckpointStore: atomic, with optimizer state and
// data position): after every N-th step with --checkpoint-every N, else at each epoch's end when only
// --checkpoint-dir is given, and once more when the run ends (completed or stopped) unless the last step has one
// already. Never after a diverged step, so the newest file is always the last good state.
// Leaves out: when a step is complete (CoordinatorMachine) and the file format (Core).
using System.Diagnostics;
using System.Globalization;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Coordination;

/// <summary>Writes checkpoints for one run. Throws <see cref="CheckpointWriteException"/> when a file cannot be written.</summary>
public sealed class CheckpointWriter
{
    private readonly string? _directory;
    private readonly int _every;
    private readonly DatasetDescriptor _dataset;
    private readonly Func<TrainingState, IEnumerable<KeyValuePair<string, string>>>? _metadata;
    private long _lastWritten;

    /// <param name="directory">--checkpoint-dir; null: no checkpoints at all.</param>
    /// <param name="every">--checkpoint-every; 0: at epoch ends.</param>
    /// <param name="dataset">Recorded as data_source, data_seed, data_fingerprint.</param>
    /// <param name="metadata">The caller's extra keys (e.g. the host's run description), asked at each write.</param>
    /// <param name="startStep">The step the run starts from: a resumed run does not write its starting point again.</param>
    public CheckpointWriter(string? directory, int every, DatasetDescriptor dataset, Func<TrainingState, IEnumerable<KeyValuePair<string, string>>>? metadata, long startStep)
    {
        _directory = directory;
        _every = every;
        _dataset = dataset ?? throw new ArgumentNullException(nameof(dataset));
        _metadata = metadata;
        _lastWritten = startStep > 0 ? startStep : -1;
    }

    public bool Enabled => _directory is not null;

    /// <summary>After a completed step: the checkpoint written, or null when none is due.</summary>
    public CheckpointWritten? AfterStep(TrainingState state, bool epochCompleted) =>
        _directory is not null && (_every > 0 ? state.Step % _every == 0 : epochCompleted) ? Write(state) : null;

    /// <summary>The run ends: a checkpoint of the final state, unless it has one already.</summary>
    public CheckpointWritten? Final(TrainingState state) => _directory is not null && _lastWritten != state.Step ? Write(state) : null;

    private CheckpointWritten Write(TrainingState state)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var metadata = new List<KeyValuePair<string, string>>
            {
                new("data_source", _dataset.Source ?? string.Empty),
                new("data_seed", _dataset.DataSeed.ToString(CultureInfo.InvariantCulture)),
                new("data_fingerprint", _dataset.Fingerprint),
            };
            if (_metadata?.Invoke(state) is { } extra)
            {
                metadata.AddRange(extra.Where(p => p.Key is not ("data_source" or "data_seed" or "data_fingerprint")));
            }

            var path = CheckpointStore.Save(_directory!, state, metadata);
            _lastWritten = state.Step;
            return new CheckpointWritten(state.Step, path, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        catch (Exception e) when (e is CheckpointException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CheckpointWriteException($"could not write the checkpoint after step {state.Step} into {_directory}: {e.Message}", e);
        }
    }
}

/// <summary>A checkpoint could not be written (the run fails with exit code 1).</summary>
public sealed class CheckpointWriteException(string message, Exception inner) : Exception(message, inner);
