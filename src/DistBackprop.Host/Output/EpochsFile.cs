// The --metrics sidecar with the per-epoch test figures, next to the metrics file and named after it
// (metrics.csv → metrics.epochs.csv, also for .jsonl), written only when the run has a test or validation set:
//   epoch,step,test_loss,test_accuracy                      (no --val-split)
//   epoch,step,test_loss,test_accuracy,val_loss,val_accuracy (--val-split; test columns "nan" without a test set)
// epoch 1-based, step = the epoch's last step, flushed per line. The metrics file itself keeps the per-step
// columns; `distbackprop plot` reads this file when it is there (Plotting/MetricsReader).
// Leaves out: the per-step rows (MetricsWriter).
using System.Globalization;

namespace DistBackprop.Host.Output;

public sealed class EpochsFile : IDisposable
{
    public const string Header = "epoch,step,test_loss,test_accuracy";

    /// <summary>The header with --val-split: the validation columns appended.</summary>
    public const string ValidationHeader = Header + ",val_loss,val_accuracy";

    private readonly StreamWriter _writer;
    private readonly bool _validation;

    private EpochsFile(StreamWriter writer, bool validation)
    {
        _writer = writer;
        _validation = validation;
    }

    /// <summary>"dir/metrics.csv" → "dir/metrics.epochs.csv".</summary>
    public static string PathFor(string metricsPath)
    {
        ArgumentNullException.ThrowIfNull(metricsPath);
        var dir = Path.GetDirectoryName(metricsPath);
        var name = Path.GetFileNameWithoutExtension(metricsPath) + ".epochs.csv";
        return string.IsNullOrEmpty(dir) ? name : Path.Combine(dir, name);
    }

    /// <summary>Creates (truncates) the file and writes the header (<see cref="ValidationHeader"/> when <paramref name="validation"/>).</summary>
    public static EpochsFile Open(string path, bool validation = false)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }

        var w = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false)) { NewLine = "\n" };
        w.WriteLine(validation ? ValidationHeader : Header);
        w.Flush();
        return new EpochsFile(w, validation);
    }

    public void Write(EpochSample e)
    {
        var c = CultureInfo.InvariantCulture;
        var line = string.Create(c, $"{e.Epoch + 1},{e.Step},{Num(e.TestLoss)},{Num(e.TestAccuracy)}");
        if (_validation)
        {
            line += string.Create(c, $",{Num(e.ValLoss)},{Num(e.ValAccuracy)}");
        }

        _writer.WriteLine(line);
        _writer.Flush();
    }

    // as the metrics file: "nan" for a figure the run does not have (a non-finite value)
    private static string Num(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "nan";

    public void Dispose() => _writer.Dispose();
}
