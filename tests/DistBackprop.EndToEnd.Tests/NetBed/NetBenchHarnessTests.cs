// Guards deploy/netns-bench.sh, the scaling study's measurement harness (docs/scaling.md): a short real run — the
// coordinator and 2 workers on 3 hosts, 200 Mbit/s links, the mnist-sized model, 15 measured steps — must write one CSV
// row that BedMeasurement reads, with the coordinator's received and sent bytes per step within a factor of the star's
// N·4P each way (2·N·4P through its link), a step time consistent with samples/s, every worker live, and the bed gone
// afterwards. Skipped (counted) where network namespaces cannot be made; the bed is taken down even if the test fails.
// Leaves out: the sweeps (a user runs them) and the model's fit (Host tests).
using System.Diagnostics;
using System.Text;
using DistBackprop.Host.Scaling;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests.NetBed;

public sealed class NetBenchHarnessTests(ITestOutputHelper output)
{
    private static readonly string Script = Path.Combine(Path.GetDirectoryName(NetBed.Script)!, "netns-bench.sh");

    [SkippableFact(Timeout = 60_000)]
    public async Task TheHarnessReportsTheStarsBytesPerStepThroughTheCoordinatorsLink()
    {
        Skip.If(NetBed.WhyUnavailable is not null, $"network namespaces unavailable: {NetBed.WhyUnavailable}");
        const int workers = 2, steps = 15;
        using var dir = new TempFolder();
        using var bed = NetBed.ForScript(workers + 1);
        var csv = dir.File("bench.csv");
        var (code, text) = await RunAsync(TimeSpan.FromSeconds(55), "--dll", NodeProcess.Program, "--bed", bed.Name, "--models", "mnist",
            "--workers", $"{workers}", "--rate", "200mbit", "--steps", $"{steps}", "--warmup", "3", "--out", csv, "--keep", dir.File("runs"), "--timeout", "50");
        try
        {
            Assert.True(code == 0, $"netns-bench.sh exited {code}");
            var row = Assert.Single(BedMeasurement.Read(csv));
            var copy = 4.0 * row.Parameters;
            Assert.Equal(235_146, row.Parameters); // 784-256-128-10
            Assert.Equal(workers, row.Workers);
            Assert.Null(row.FanIn);
            Assert.Equal(workers, row.MinWorkers);
            Assert.Equal(25_000_000, row.RateBytesPerSecond);
            Assert.InRange(row.WindowSteps, steps, steps + 3);

            // the star: each step the coordinator receives N gradients and sends N weight copies of 4P bytes
            Assert.InRange(row.RxBytesPerStep / (workers * copy), 0.95, 1.25);
            Assert.InRange(row.TxBytesPerStep / (workers * copy), 0.95, 1.25);

            // at 25 MB/s a step cannot beat its own bytes through the link; samples/s is batch / step time
            Assert.True(row.StepMs >= 1000 * workers * copy / row.RateBytesPerSecond, $"{row.StepMs} ms per step is faster than the link allows");
            Assert.InRange(row.SamplesPerSecond * row.StepMs / 1000 / row.Batch, 0.99, 1.01);
            Assert.InRange(row.MetricsStepMs / row.StepMs, 0.3, 1.5);
            Assert.Equal("tls", row.Security);
            Assert.InRange(row.CoordinatorCpuMsPerStep!.Value, 0.01, row.Cores * row.StepMs); // /proc/PID/stat ticks over the window
            Assert.InRange(row.WorkerCpuMsPerStep!.Value, 0.01, row.Cores * row.StepMs);
            Assert.False(bed.Exists, "the script left its bed up");
            output.WriteLine($"FIGURES mnist N={workers} star on 200 Mbit/s: rx {row.RxBytesPerStep / 1e6:0.000} MB, tx {row.TxBytesPerStep / 1e6:0.000} MB per step " +
                $"({(row.RxBytesPerStep + row.TxBytesPerStep) / (2 * workers * copy):0.000} × 2·N·4P), {row.StepMs:0.0} ms per step, {row.SamplesPerSecond:0} samples/s; CPU per step: coordinator {row.CoordinatorCpuMsPerStep:0.00} ms, a worker {row.WorkerCpuMsPerStep:0.00} ms");
        }
        catch
        {
            output.WriteLine(text);
            foreach (var log in Directory.Exists(dir.File("runs")) ? Directory.GetFiles(dir.File("runs"), "*.log", SearchOption.AllDirectories) : [])
            {
                output.WriteLine($"--- {log}\n{File.ReadAllText(log)}");
            }

            throw;
        }
    }

    [SkippableFact(Timeout = 60_000)]
    public async Task BadOptionsAreRefusedWithExitCode2NamingTheOption()
    {
        Skip.If(NetBed.WhyUnavailable is not null, $"network namespaces unavailable: {NetBed.WhyUnavailable}");
        using var dir = new TempFolder();
        foreach (var (args, named) in new[]
        {
            (new[] { "--rate", "fast" }, "--rate"),
            (["--workers", "2,x"], "--workers"),
            (["--models", "resnet"], "--models"),
            (["--dll", dir.File("missing.dll")], "--dll"),
            (["--bogus"], "--bogus"),
            (["--fan-in", "1"], "--fan-in"),
            (["--fan-in", "2", "--", "--fan-in", "4"], "--fan-in"),
            (["--security", "plain"], "--security"),
        })
        {
            var (code, text) = await RunAsync(TimeSpan.FromSeconds(30), [.. args, "--out", dir.File("x.csv"), .. args.Contains("--dll") ? Array.Empty<string>() : ["--dll", NodeProcess.Program]]);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}\n{text}");
            Assert.Contains(named, text, StringComparison.Ordinal);
        }
    }

    private static async Task<(int Code, string Text)> RunAsync(TimeSpan timeout, params string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Script);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("DISTBACKPROP", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key);
        }

        var text = new StringBuilder();
        using var p = new Process { StartInfo = info };
        p.OutputDataReceived += (_, e) => Append(text, e.Data);
        p.ErrorDataReceived += (_, e) => Append(text, e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"netns-bench.sh did not finish within {timeout.TotalSeconds:0} s\n{Snapshot(text)}");
        }

        p.WaitForExit();
        return (p.ExitCode, Snapshot(text));
    }

    private static void Append(StringBuilder text, string? line)
    {
        if (line is not null)
        {
            lock (text)
            {
                text.AppendLine(line);
            }
        }
    }

    private static string Snapshot(StringBuilder text)
    {
        lock (text)
        {
            return text.ToString();
        }
    }
}
