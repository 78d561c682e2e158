// --metrics: one row per step to CSV or JSON Lines (chosen by the file extension), flushed every
// step so a crash or Ctrl+C loses nothing. Columns (SPEC §6, then the training issue's two appended), epoch 1-based, times in ms:
//   step,epoch,loss,accuracy,samples_per_s,workers,compute_ms,serialize_ms,transport_ms,wait_ms,lr,grad_norm
// lr = the learning rate the step's update used; grad_norm = ‖ḡ‖₂ of its mean gradient over all parameters, before clipping.
// Leaves out: the System.Diagnostics.Metrics meter (a later issue).
using System.Globalization;
using DistBackprop.Core.Training;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Output;

public sealed class MetricsWriter : IDisposable
{
    public const string CsvHeader = "step,epoch,loss,accuracy,samples_per_s,workers,compute_ms,serialize_ms,transport_ms,wait_ms,lr,grad_norm";

    private readonly StreamWriter _writer;
    private readonly bool _json;

    private MetricsWriter(StreamWriter writer, bool json)
    {
        _writer = writer;
        _json = json;
    }

    /// <summary>True for .csv and .jsonl (also .json/.ndjson as JSON Lines).</summary>
    public static bool IsSupported(string path) => Format(path) is not null;

    /// <summary>Creates (truncates) the file and writes the CSV header.</summary>
    public static MetricsWriter Open(string path)
    {
        var json = Format(path) ?? throw new ArgumentException($"unsupported metrics file '{path}'", nameof(path));
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }

        var w = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false)) { NewLine = "\n" };
        if (!json)
        {
            w.WriteLine(CsvHeader);
            w.Flush();
        }

        return new MetricsWriter(w, json);
    }

    public void Write(StepOutcome o, StepTimings t)
    {
        var samplesPerSecond = t.StepMs > 0 ? o.Samples / (t.StepMs / 1000.0) : 0;
        var c = CultureInfo.InvariantCulture;
        if (_json)
        {
            _writer.WriteLine(string.Create(c,
                $"{{\"step\":{o.Step},\"epoch\":{o.Epoch + 1},\"loss\":{Num(o.Loss)},\"accuracy\":{Num(o.Accuracy)},\"samples_per_s\":{Num(samplesPerSecond)},\"workers\":{t.Workers},\"compute_ms\":{Num(t.ComputeMs)},\"serialize_ms\":{Num(t.SerializeMs)},\"transport_ms\":{Num(t.TransportMs)},\"wait_ms\":{Num(t.WaitMs)},\"lr\":{Rate(o.LearningRate)},\"grad_norm\":{Num(o.GradNorm)}}}"));
        }
        else
        {
            _writer.WriteLine(string.Create(c,
                $"{o.Step},{o.Epoch + 1},{Num(o.Loss)},{Num(o.Accuracy)},{Num(samplesPerSecond)},{t.Workers},{Num(t.ComputeMs)},{Num(t.SerializeMs)},{Num(t.TransportMs)},{Num(t.WaitMs)},{Rate(o.LearningRate)},{Num(o.GradNorm)}"));
        }

        _writer.Flush();
    }

    public void Dispose() => _writer.Dispose();

    // JSON has no NaN/Infinity: write null there (CSV too, as an empty-free marker "nan").
    private string Num(double v) =>
        double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : _json ? "null" : "nan";

    // the rate is a float32 (what the update used): its shortest round-trip form, "0.1" rather than 0.10000000149011612
    private string Rate(double v) =>
        double.IsFinite(v) ? ((float)v).ToString("R", CultureInfo.InvariantCulture) : _json ? "null" : "nan";

    private static bool? Format(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".csv" => false,
        ".jsonl" or ".ndjson" or ".json" => true,
        _ => null,
    };
}
