// What the commands write: the metrics file (CSV header, one row per step; JSONL that parses),
// eval's single JSON line, gradcheck's verdict.
using System.Text.Json;

namespace DistBackprop.Host.Tests;

public sealed class OutputTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Metrics_csv_has_the_spec_header_then_lr_and_grad_norm_and_one_row_per_step()
    {
        var r = Cli.Run(_dir.Path, "train", "--max-steps", "7", "--metrics", _dir.File("m.csv"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = File.ReadAllLines(_dir.File("m.csv"));
        Assert.Equal("step,epoch,loss,accuracy,samples_per_s,workers,compute_ms,serialize_ms,transport_ms,wait_ms,lr,grad_norm", lines[0]);
        Assert.Equal(8, lines.Length);
        for (var i = 1; i < lines.Length; i++)
        {
            var cells = lines[i].Split(',');
            Assert.Equal(12, cells.Length);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), cells[0]);
            Assert.InRange(double.Parse(cells[3], System.Globalization.CultureInfo.InvariantCulture), 0, 1);
            Assert.Equal("0.1", cells[10]); // the constant --lr, as the update used it (float32, shortest form)
            Assert.True(double.Parse(cells[11], System.Globalization.CultureInfo.InvariantCulture) > 0);
        }
    }

    [Fact]
    public void Metrics_jsonl_lines_parse_with_the_same_keys()
    {
        var r = Cli.Run(_dir.Path, "train", "--max-steps", "5", "--metrics", _dir.File("m.jsonl"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = File.ReadAllLines(_dir.File("m.jsonl"));
        Assert.Equal(5, lines.Length);
        var keys = "step,epoch,loss,accuracy,samples_per_s,workers,compute_ms,serialize_ms,transport_ms,wait_ms,lr,grad_norm".Split(',');
        for (var i = 0; i < lines.Length; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            Assert.Equal(keys, doc.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(i + 1, doc.RootElement.GetProperty("step").GetInt64());
            Assert.True(doc.RootElement.GetProperty("loss").GetDouble() > 0);
        }
    }

    [Fact]
    public void Eval_json_prints_exactly_one_json_line()
    {
        var model = _dir.File("m.safetensors");
        Assert.Equal(0, Cli.Run(_dir.Path, "train", "--max-steps", "20", "--out", model).ExitCode);
        var r = Cli.Run(_dir.Path, "eval", "--model", model, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        using var doc = JsonDocument.Parse(lines[0]);
        var root = doc.RootElement;
        Assert.InRange(root.GetProperty("accuracy").GetDouble(), 0, 1);
        Assert.True(root.GetProperty("loss").GetDouble() > 0);
        var samples = root.GetProperty("samples").GetInt32();
        var confusion = root.GetProperty("confusion");
        Assert.Equal(10, confusion.GetArrayLength());
        Assert.Equal(samples, confusion.EnumerateArray().Sum(row => row.EnumerateArray().Sum(c => c.GetInt64())));
        Assert.Contains("evaluating", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Eval_plain_prints_loss_accuracy_and_confusion_matrix()
    {
        var model = _dir.File("m.safetensors");
        Assert.Equal(0, Cli.Run(_dir.Path, "train", "--max-steps", "20", "--out", model).ExitCode);
        var r = Cli.Run(_dir.Path, "eval", "--model", model, "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("accuracy", r.Out, StringComparison.Ordinal);
        Assert.Contains("confusion matrix", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Gradcheck_passes_and_prints_every_tensor()
    {
        var r = Cli.Run(_dir.Path, "gradcheck", "--layers", "4,5,3", "--activation", "sigmoid", "--loss", "mse", "--seed", "3", "--rows", "6");
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (var t in new[] { "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "PASS" })
        {
            Assert.Contains(t, r.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Train_prints_the_kernel_path_progress_and_epoch_lines()
    {
        var r = Cli.Run(_dir.Path, "train", "--epochs", "1", "--batch", "500", "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("kernels ", r.Out, StringComparison.Ordinal);
        Assert.Contains("step 1/", r.Out, StringComparison.Ordinal);
        Assert.Contains("epoch 1/1 done", r.Out, StringComparison.Ordinal);
        Assert.Contains("test loss", r.Out, StringComparison.Ordinal);
    }
}
