// Early stopping on the validation loss, as Keras' EarlyStopping(monitor = "val_loss", patience = N, min_delta = 0) and
// Lightning's: after every epoch the validation loss is observed; it improves when it is below the best so far (NaN never
// improves); after N epochs in a row without improvement the run stops (at the end of that epoch). The best epoch is what
// --best-out keeps. The state (best loss, its epoch, epochs since) is saved in resume checkpoints, so a resumed run stops
// where the uninterrupted one would. Leaves out: computing the validation loss (the host's evaluator) and writing files.
using System.Globalization;

namespace DistBackprop.Core.Training;

/// <summary>What one observation decided.</summary>
public readonly record struct EarlyStopDecision(bool Improved, bool Stop);

/// <summary>Best validation loss so far and the patience counter. <see cref="Patience"/> null: track the best, never stop.</summary>
public sealed class EarlyStopping
{
    public EarlyStopping(int? patience)
    {
        if (patience is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(patience), patience, "--early-stop must be at least 1");
        }

        Patience = patience;
    }

    public int? Patience { get; }

    /// <summary>The lowest validation loss observed (+∞ before the first).</summary>
    public double BestLoss { get; private set; } = double.PositiveInfinity;

    /// <summary>The 0-based epoch of <see cref="BestLoss"/>; −1 before the first observation.</summary>
    public int BestEpoch { get; private set; } = -1;

    /// <summary>Epochs in a row since the last improvement.</summary>
    public int EpochsWithoutImprovement { get; private set; }

    /// <summary>Epochs observed (0: nothing to save or restore).</summary>
    public int Observed { get; private set; }

    /// <summary>The patience is used up: the run ends after the epoch that used it up.</summary>
    public bool ShouldStop => Patience is int p && EpochsWithoutImprovement >= p;

    /// <summary>Takes the validation loss at the end of 0-based epoch <paramref name="epoch"/>.</summary>
    public EarlyStopDecision Observe(int epoch, double validationLoss)
    {
        Observed++;
        if (validationLoss < BestLoss)
        {
            (BestLoss, BestEpoch, EpochsWithoutImprovement) = (validationLoss, epoch, 0);
            return new EarlyStopDecision(true, ShouldStop);
        }

        EpochsWithoutImprovement++;
        return new EarlyStopDecision(false, ShouldStop);
    }

    /// <summary>Checkpoint metadata: early_stop_best_loss ("R" format), early_stop_best_epoch, early_stop_bad_epochs, early_stop_observed.</summary>
    public IEnumerable<KeyValuePair<string, string>> ToMetadata()
    {
        var g = CultureInfo.InvariantCulture;
        yield return new("early_stop_best_loss", BestLoss.ToString("R", g));
        yield return new("early_stop_best_epoch", BestEpoch.ToString(g));
        yield return new("early_stop_bad_epochs", EpochsWithoutImprovement.ToString(g));
        yield return new("early_stop_observed", Observed.ToString(g));
    }

    /// <summary>
    /// Restores what <see cref="ToMetadata"/> wrote; without those keys (a checkpoint from before the first epoch end, or from a
    /// run without validation) the fresh state. Returns a problem to report, or null.
    /// </summary>
    public string? Restore(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue("early_stop_observed", out var observedText))
        {
            (BestLoss, BestEpoch, EpochsWithoutImprovement, Observed) = (double.PositiveInfinity, -1, 0, 0);
            return null;
        }

        var g = CultureInfo.InvariantCulture;
        if (!int.TryParse(observedText, NumberStyles.None, g, out var observed) ||
            !metadata.TryGetValue("early_stop_best_loss", out var best) || !double.TryParse(best, NumberStyles.Float, g, out var bestLoss) ||
            !metadata.TryGetValue("early_stop_best_epoch", out var epochText) || !int.TryParse(epochText, NumberStyles.AllowLeadingSign, g, out var bestEpoch) ||
            !metadata.TryGetValue("early_stop_bad_epochs", out var badText) || !int.TryParse(badText, NumberStyles.None, g, out var bad))
        {
            return "its early-stopping metadata (early_stop_*) is malformed";
        }

        (BestLoss, BestEpoch, EpochsWithoutImprovement, Observed) = (bestLoss, bestEpoch, bad, observed);
        return null;
    }
}
