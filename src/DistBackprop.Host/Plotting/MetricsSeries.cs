// What a plot draws: one row per training step (train loss and batch accuracy) plus, on the rows
// where the run evaluated its test set (each epoch's last step), the test loss and accuracy.
// A run writes those to the sidecar <metrics name>.epochs.csv (epoch,step,test_loss,test_accuracy; see
// Output/EpochsFile), since the metrics file keeps exactly the SPEC §6 columns; `train --plot` fills them
// from memory. Leaves out: reading (MetricsReader), drawing.
namespace DistBackprop.Host.Plotting;

/// <summary>One step. Non-finite values (NaN: "nan", empty, null) are not drawn.</summary>
/// <param name="Step">1-based step number (the x axis).</param>
/// <param name="Epoch">1-based epoch of the step.</param>
/// <param name="Loss">Mean train loss of the step's batch.</param>
/// <param name="Accuracy">Train accuracy of the step's batch, 0..1.</param>
/// <param name="TestLoss">Test loss at the end of this step's epoch, NaN on other rows.</param>
/// <param name="TestAccuracy">Test accuracy (0..1) at the end of this step's epoch, NaN on other rows.</param>
public sealed record MetricsRow(long Step, int Epoch, double Loss, double Accuracy, double TestLoss = double.NaN, double TestAccuracy = double.NaN);

/// <summary>The rows of one run, in file order; <paramref name="Name"/> goes into the plot's title (e.g. the file name).</summary>
public sealed record MetricsSeries(string Name, IReadOnlyList<MetricsRow> Rows)
{
    /// <summary>True when some row carries a test figure.</summary>
    public bool HasTest => Rows.Any(r => double.IsFinite(r.TestAccuracy) || double.IsFinite(r.TestLoss));
}
