// The --metrics sidecar with the per-epoch test figures, next to the metrics file and named after it
// (metrics.csv → metrics.epochs.csv, also for .jsonl), written only when the run has a test set:
//   epoch,step,test_loss,test_accuracy
// epoch 1-based, step = the epoch's last step, flushed per line. The metrics file itself keeps exactly the
// SPEC §6 columns; `distbackprop plot` reads this file when it is there (Plotting/MetricsReader).
// Leaves out: the per-step rows (MetricsWriter).
using System.Globalization;

namespace DistBackprop.Host.Output;

public sealed class EpochsFile : IDisposable
{
    public const string Header = "epoch,step,test_loss,test_accuracy";

    private readonly StreamWriter _writer;

    private EpochsFile(StreamWriter writer) => _writer = writer;

    /// <summary>"dir/metrics.csv" → "dir/metrics.epochs.csv".</summary>
    public static string PathFor(string metricsPath)
    {
        ArgumentNullException.ThrowIfNull(metricsPath);
        var dir = Path.GetDirectoryName(metricsPath);
        var name = Path.GetFileNameWithoutExtension(metricsPath) + ".epochs.csv";
        return string.IsNullOrEmpty(dir) ? name : Path.Combine(dir, name);
    }

    /// <summary>Creates (truncates) the file and writes the header.</summary>
    public static EpochsFile Open(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }

        var w = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false)) { NewLine = "\n" };
        w.WriteLine(Header);
        w.Flush();
        return new EpochsFile(w);
    }

    public void Write(EpochSample e)
    {
        var c = CultureInfo.InvariantCulture;
        _writer.WriteLine(string.Create(c, $"{e.Epoch + 1},{e.Step},{e.TestLoss.ToString("R", c)},{e.TestAccuracy.ToString("R", c)}"));
        _writer.Flush();
    }

    public void Dispose() => _writer.Dispose();
}
