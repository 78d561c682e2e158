// `train` end to end, in process: --out readable by ModelFile, --init/--out round trip, the SPEC's
// MNIST command against an independent double-precision torch-style oracle, divergence (exit 3),
// resume equivalence through the CLI, and a graceful stop that still writes its files.
using System.Buffers.Binary;
using System.Text;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Model;
using Xunit.Abstractions;

namespace DistBackprop.Host.Tests;

public sealed class TrainTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly ITestOutputHelper _log;

    public TrainTests(ITestOutputHelper log) => _log = log;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Default_digits_for_30_steps_writes_a_model_that_loads()
    {
        var outPath = _dir.File("model.safetensors");
        var r = Cli.Run(_dir.Path, "train", "--max-steps", "30", "--out", outPath);
        Assert.True(r.ExitCode == 0, r.ToString());
        var model = ModelFile.Load(outPath);
        Assert.Equal(3, model.Sizes.Length);
        Assert.Equal(128, model.Sizes[1]);
        Assert.Equal(Activation.Relu, model.Activation);
        Assert.Equal(LossKind.SoftmaxCrossEntropy, model.Loss);
        Assert.Equal("30", model.Metadata["step"]);
        Assert.Equal("sgd", model.Metadata["optimizer"]);
        Assert.Equal("1", model.Metadata["seed"]);
        Assert.All(model.Parameters, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Init_then_out_with_zero_learning_rate_round_trips_the_weights()
    {
        var features = Core.Data.DatasetLoader.Load(null, new Core.Data.DataOptions()).Train.FeatureCount;
        var sizes = new[] { features, 9, 10 };
        var init = RandomParameters(sizes, seed: 5);
        var initPath = _dir.File("init.safetensors");
        WriteSafetensors(initPath, sizes, init);
        var outPath = _dir.File("out.safetensors");
        var r = Cli.Run(_dir.Path, "train", "--init", initPath, "--lr", "0", "--max-steps", "2", "--out", outPath);
        Assert.True(r.ExitCode == 0, r.ToString());
        var model = ModelFile.Load(outPath);
        Assert.Equal(sizes, model.Sizes);
        Assert.Equal(init, model.Parameters);
    }

    /// <summary>
    /// The SPEC §6 command on a 200-image IDX folder, against torch's Linear+ReLU+Linear,
    /// CrossEntropyLoss(mean) and plain SGD written out here in float64 (no shuffle: batches are
    /// consecutive slices; 200 = 6×32 + 8, so every epoch ends with a batch of 8).
    /// </summary>
    [Fact]
    public void Spec_mnist_command_matches_a_double_precision_torch_oracle()
    {
        const int n = 200, pixels = 784, hidden = 32, classes = 10, steps = 50, batch = 32;
        const double lr = 0.1;
        var rng = new Random(11);
        var images = new byte[n * pixels];
        rng.NextBytes(images);
        var labels = new byte[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = (byte)rng.Next(classes);
        }

        var folder = Directory.CreateDirectory(_dir.File("mnist")).FullName;
        WriteIdx(Path.Combine(folder, "train-images-idx3-ubyte"), 0x803, [n, 28, 28], images);
        WriteIdx(Path.Combine(folder, "train-labels-idx1-ubyte"), 0x801, [n], labels);
        int[] sizes = [pixels, hidden, classes];
        var init = RandomParameters(sizes, seed: 3);
        var a = _dir.File("a.safetensors");
        var b = _dir.File("b.safetensors");
        WriteSafetensors(a, sizes, init);

        var r = Cli.Run(_dir.Path, "train", "--data", folder, "--layers", "784,32,10", "--activation", "relu", "--loss", "softmax-ce",
            "--optimizer", "sgd", "--lr", "0.1", "--batch", "32", "--max-steps", "50", "--no-shuffle", "--init", a, "--out", b);
        Assert.True(r.ExitCode == 0, r.ToString());
        var trained = ModelFile.Load(b).Parameters;

        // the oracle, in torch's layout: W1 [32,784], b1 [32], W2 [10,32], b2 [10]
        var w1 = init[..(hidden * pixels)].Select(v => (double)v).ToArray();
        var b1 = init[(hidden * pixels)..((hidden * pixels) + hidden)].Select(v => (double)v).ToArray();
        var w2Start = (hidden * pixels) + hidden;
        var w2 = init[w2Start..(w2Start + (classes * hidden))].Select(v => (double)v).ToArray();
        var b2 = init[(w2Start + (classes * hidden))..].Select(v => (double)v).ToArray();
        var position = 0;
        for (var step = 0; step < steps; step++)
        {
            var rows = Math.Min(batch, n - position);
            var gw1 = new double[w1.Length];
            var gb1 = new double[b1.Length];
            var gw2 = new double[w2.Length];
            var gb2 = new double[b2.Length];
            for (var r0 = 0; r0 < rows; r0++)
            {
                var s = position + r0;
                var x = new double[pixels];
                for (var p = 0; p < pixels; p++)
                {
                    x[p] = images[(s * pixels) + p] / 255.0;
                }

                var z1 = new double[hidden];
                var h = new double[hidden];
                for (var j = 0; j < hidden; j++)
                {
                    z1[j] = b1[j];
                    for (var p = 0; p < pixels; p++)
                    {
                        z1[j] += w1[(j * pixels) + p] * x[p];
                    }

                    h[j] = Math.Max(0, z1[j]);
                }

                var z2 = new double[classes];
                for (var k = 0; k < classes; k++)
                {
                    z2[k] = b2[k];
                    for (var j = 0; j < hidden; j++)
                    {
                        z2[k] += w2[(k * hidden) + j] * h[j];
                    }
                }

                var max = z2.Max();
                var sum = z2.Sum(z => Math.Exp(z - max));
                var dh = new double[hidden];
                for (var k = 0; k < classes; k++)
                {
                    // CrossEntropyLoss(mean): dL/dz2 = (softmax − onehot) / B
                    var dz = ((Math.Exp(z2[k] - max) / sum) - (labels[s] == k ? 1 : 0)) / rows;
                    gb2[k] += dz;
                    for (var j = 0; j < hidden; j++)
                    {
                        gw2[(k * hidden) + j] += dz * h[j];
                        dh[j] += dz * w2[(k * hidden) + j];
                    }
                }

                for (var j = 0; j < hidden; j++)
                {
                    var dz = z1[j] > 0 ? dh[j] : 0;
                    gb1[j] += dz;
                    for (var p = 0; p < pixels; p++)
                    {
                        gw1[(j * pixels) + p] += dz * x[p];
                    }
                }
            }

            Sgd(w1, gw1);
            Sgd(b1, gb1);
            Sgd(w2, gw2);
            Sgd(b2, gb2);
            position = (position + rows) % n;
        }

        var expected = w1.Concat(b1).Concat(w2).Concat(b2).ToArray();
        Assert.Equal(expected.Length, trained.Length);
        var maxDiff = expected.Zip(trained, (e, t) => Math.Abs(e - t)).Max();
        _log.WriteLine($"max |torch oracle − distbackprop| over {expected.Length} weights after {steps} steps: {maxDiff:E2}");
        Assert.True(maxDiff <= 1e-5, $"max diff {maxDiff:E2} > 1e-5");

        void Sgd(double[] w, double[] g)
        {
            for (var i = 0; i < w.Length; i++)
            {
                w[i] -= lr * g[i];
            }
        }
    }

    [Fact]
    public void Divergence_exits_3_naming_the_step_and_keeping_the_last_checkpoint()
    {
        var ckpt = _dir.File("ckpt");
        var r = Cli.Run(_dir.Path, "train", "--lr", "1e30", "--max-steps", "20", "--checkpoint-dir", ckpt, "--checkpoint-every", "1", "--out", _dir.File("never.safetensors"));
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("diverged at step", r.Err, StringComparison.Ordinal);
        Assert.Contains("layers.", r.Err, StringComparison.Ordinal);
        Assert.Contains("last good checkpoint", r.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.File("never.safetensors")));
        Assert.NotEmpty(Directory.GetFiles(ckpt, "ckpt-*.safetensors"));
        Assert.DoesNotContain("   at ", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Resuming_from_step_20_ends_with_the_same_weights_as_an_uninterrupted_run()
    {
        string[] common = ["train", "--optimizer", "momentum", "--lr", "0.05", "--batch", "32", "--workers", "2", "--shards", "2", "--max-steps", "40"];
        var full = _dir.File("full.safetensors");
        var ckpt = _dir.File("ckpt");
        var r1 = Cli.Run(_dir.Path, [.. common, "--checkpoint-dir", ckpt, "--checkpoint-every", "20", "--out", full]);
        Assert.True(r1.ExitCode == 0, r1.ToString());
        var resumed = _dir.File("resumed.safetensors");
        var r2 = Cli.Run(_dir.Path, [.. common, "--resume", Path.Combine(ckpt, "ckpt-00000020.safetensors"), "--out", resumed]);
        Assert.True(r2.ExitCode == 0, r2.ToString());
        Assert.Contains("resuming from", r2.Out, StringComparison.Ordinal);
        var a = ModelFile.Load(full);
        var b = ModelFile.Load(resumed);
        Assert.Equal("40", b.Metadata["step"]);
        Assert.Equal(a.Parameters, b.Parameters);
    }

    [Fact]
    public void Actor_engine_and_reference_loop_write_bit_identical_models()
    {
        string[] args = ["train", "--optimizer", "adam", "--lr", "0.01", "--batch", "50", "--workers", "2", "--shards", "3", "--max-steps", "25"];
        var actors = _dir.File("actors.safetensors");
        var reference = _dir.File("reference.safetensors");
        var r1 = Cli.Run(_dir.Path, [.. args, "--out", actors]);
        Assert.True(r1.ExitCode == 0, r1.ToString());
        Assert.Contains("engine: actors", r1.Out, StringComparison.Ordinal);
        var r2 = Cli.Run(_dir.Path, null, default, reference: true, [.. args, "--out", reference]);
        Assert.True(r2.ExitCode == 0, r2.ToString());
        Assert.Contains("engine: reference loop", r2.Out, StringComparison.Ordinal);
        Assert.Equal(ModelFile.Load(reference).Parameters, ModelFile.Load(actors).Parameters);
    }

    [Fact]
    public void Stop_request_still_writes_out_and_a_checkpoint_and_exits_0()
    {
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        var outPath = _dir.File("stopped.safetensors");
        var ckpt = _dir.File("ckpt");
        var r = Cli.Run(_dir.Path, null, stop.Token, "train", "--out", outPath, "--checkpoint-dir", ckpt);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("stopped at step", r.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(outPath));
        Assert.Single(Directory.GetFiles(ckpt, "ckpt-*.safetensors"));
    }

    [Fact]
    public async Task Stop_request_mid_run_stops_after_the_current_step_and_writes_the_files()
    {
        var outPath = _dir.File("stopped.safetensors");
        var metrics = _dir.File("m.csv");
        using var stop = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            // stop once the run has demonstrably started (a few metrics rows), not after a fixed time
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(20);
                if (File.Exists(metrics) && ReadShared(metrics).Count(c => c == '\n') > 20)
                {
                    stop.Cancel();
                }
            }
        });
        var r = Cli.Run(_dir.Path, null, stop.Token, "train", "--epochs", "1000", "--out", outPath, "--metrics", metrics);
        await watcher;
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("stopped at step", r.Out, StringComparison.Ordinal);
        var model = ModelFile.Load(outPath);
        Assert.Equal((File.ReadAllLines(metrics).Length - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), model.Metadata["step"]);
    }

    private static string ReadShared(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(f).ReadToEnd();
    }

    internal static float[] RandomParameters(int[] sizes, int seed)
    {
        var rng = new Random(seed);
        var count = 0;
        for (var l = 0; l + 1 < sizes.Length; l++)
        {
            count += (sizes[l] * sizes[l + 1]) + sizes[l + 1];
        }

        var p = new float[count];
        for (var i = 0; i < p.Length; i++)
        {
            p[i] = (float)((rng.NextDouble() - 0.5) * 0.1);
        }

        return p;
    }

    /// <summary>A minimal independent safetensors writer: layers.{i}.weight/bias F32, no metadata.</summary>
    internal static void WriteSafetensors(string path, int[] sizes, float[] parameters)
    {
        var header = new StringBuilder("{");
        long offset = 0;
        for (var l = 0; l + 1 < sizes.Length; l++)
        {
            long w = sizes[l] * sizes[l + 1] * 4, b = sizes[l + 1] * 4;
            header.Append($"\"layers.{l}.weight\":{{\"dtype\":\"F32\",\"shape\":[{sizes[l + 1]},{sizes[l]}],\"data_offsets\":[{offset},{offset + w}]}},");
            offset += w;
            header.Append($"\"layers.{l}.bias\":{{\"dtype\":\"F32\",\"shape\":[{sizes[l + 1]}],\"data_offsets\":[{offset},{offset + b}]}},");
            offset += b;
        }

        header.Length--;
        header.Append('}');
        var json = Encoding.UTF8.GetBytes(header.ToString());
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)json.Length);
        f.Write(len);
        f.Write(json);
        var data = new byte[parameters.Length * 4];
        for (var i = 0; i < parameters.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), parameters[i]);
        }

        f.Write(data);
    }

    /// <summary>IDX: magic (big-endian int32: 0x08 = ubyte, low byte = dimensions), sizes (big-endian int32), data.</summary>
    internal static void WriteIdx(string path, int magic, int[] dims, byte[] data)
    {
        using var f = File.Create(path);
        Span<byte> be = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(be, magic);
        f.Write(be);
        foreach (var d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(be, d);
            f.Write(be);
        }

        f.Write(data);
    }
}
