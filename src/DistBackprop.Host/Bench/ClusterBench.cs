// `bench --mode cluster --workers N`: a coordinator and N worker processes of this same `distbackprop`
// on loopback, started with the documented options of SPEC §6 (coordinator --host/--port/--min-workers/
// --shards/--max-steps/--metrics, worker --seed-nodes/--port 0/--threads). The random rows are written
// once as an IDX folder the coordinator loads and names to the workers. The figure comes from the
// coordinator's --metrics CSV (flushed every step), polled here: each new row is timestamped when seen,
// and the step-time split is read from its compute/serialize/transport/wait columns. Every spawned
// process is killed (with its children) and the temp folder removed, whatever happens.
// Leaves out: the coordinator and worker themselves (Commands/CoordinatorCommand, WorkerCommand).
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DistBackprop.Core.Data;

namespace DistBackprop.Host.Bench;

/// <summary>A bench run that could not be carried out (exit 1); the message is what the user sees.</summary>
public sealed class BenchFailedException(string message) : Exception(message);

public static class ClusterBench
{
    /// <summary>How long the cluster may take from the first process start to the first completed step.</summary>
    public static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(90);

    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    /// <summary>Runs <paramref name="c"/> (cluster mode); progress lines go to <paramref name="log"/>.</summary>
    public static async Task<BenchResult> RunAsync(BenchCase c, TextWriter log, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(log);
        var w = c.Workload;
        var dir = Directory.CreateTempSubdirectory("distbackprop-bench-").FullName;
        var processes = new List<ChildProcess>();
        try
        {
            var data = WriteIdx(Path.Combine(dir, "data"), w);
            var metrics = Path.Combine(dir, "metrics.csv");
            var port = FreePort();
            // the secure default: the bench's own cluster CA and a join token in its temp folder (or --insecure: plain TCP)
            string[] coordinatorSecurity = ["--insecure"], workerSecurity = ["--insecure"];
            if (!c.Insecure)
            {
                var state = Path.Combine(dir, "state");
                var token = DistBackprop.Cluster.Security.ClusterAuthority.OpenOrCreate(Path.Combine(state, "coordinator")).CreateToken(DistBackprop.Cluster.Hosting.NodeRole.Worker, TimeSpan.FromHours(1));
                coordinatorSecurity = ["--state-dir", state];
                workerSecurity = ["--state-dir", state, "--join", token.ToString()];
            }

            string[] coordinator = [
                "coordinator", "--host", "127.0.0.1", "--port", Num(port),
                "--min-workers", Num(c.Split.Workers), "--shards", Num(c.Split.Workers),
                "--data", data, "--layers", string.Join(',', w.Sizes), "--activation", Core.Model.Names.Of(w.Hidden),
                "--loss", "softmax-ce", "--optimizer", "sgd", "--lr", BenchWorkload.Optimizer.LearningRate.ToString(CultureInfo.InvariantCulture),
                "--batch", Num(c.Batch), "--max-steps", "100000000", "--seed", Num(BenchWorkload.Seed),
                "--metrics", metrics, "--plain", "--dropout", c.Dropout.ToString("R", CultureInfo.InvariantCulture), .. coordinatorSecurity];
            processes.Add(ChildProcess.Start("coordinator", coordinator));
            for (var i = 0; i < c.Split.Workers; i++)
            {
                processes.Add(ChildProcess.Start($"worker {i + 1}", [
                    "worker", "--seed-nodes", $"akka.{(c.Insecure ? "" : "ssl.")}tcp://distbackprop@127.0.0.1:{Num(port)}", "--host", "127.0.0.1", "--port", "0",
                    "--threads", Num(c.Split.ThreadsPerWorker), "--plain", .. workerSecurity]));
            }

            log.WriteLine($"bench {w.Name}: coordinator on 127.0.0.1:{Num(port)} and {c.Split.Workers} worker processes started ({(c.Insecure ? "--insecure: plain TCP" : "mutual TLS")})");
            return await Measure(c, metrics, processes, cancellation).ConfigureAwait(false);
        }
        finally
        {
            foreach (var p in processes)
            {
                p.Dispose();
            }

            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private static async Task<BenchResult> Measure(BenchCase c, string metrics, List<ChildProcess> processes, CancellationToken cancellation)
    {
        var meter = new SteadyState(c.Duration);
        var started = Stopwatch.GetTimestamp();
        MetricsTail? tail = null;
        long rows = 0;
        while (!meter.Done)
        {
            await Task.Delay(Poll, cancellation).ConfigureAwait(false);
            if (processes.FirstOrDefault(p => p.HasExited) is { } gone)
            {
                throw new BenchFailedException($"bench --mode cluster: the {gone.Name} exited with code {gone.ExitCode} after {rows} steps{gone.Tail()}");
            }

            if (rows == 0 && Stopwatch.GetElapsedTime(started) > StartupTimeout)
            {
                throw new BenchFailedException(
                    $"bench --mode cluster: no step completed within {StartupTimeout.TotalSeconds:0} s of starting the coordinator and {c.Split.Workers} workers{processes[0].Tail()}");
            }

            if (tail is null && File.Exists(metrics))
            {
                tail = new MetricsTail(metrics);
            }

            if (tail is null)
            {
                continue;
            }

            var now = Stopwatch.GetTimestamp();
            foreach (var row in tail.ReadNewRows())
            {
                rows++;
                meter.Step(now, SamplesOf(row.Step, c.Batch), row.Split);
            }
        }

        tail?.Dispose();
        return meter.Result(c);
    }

    /// <summary>Samples in step <paramref name="step"/> (1-based): the batch, or what is left of the epoch in its last step.</summary>
    internal static int SamplesOf(long step, int batch)
    {
        var perEpoch = (BenchWorkload.Samples + batch - 1) / batch;
        var position = (int)((step - 1) % perEpoch) * batch;
        return Math.Min(batch, BenchWorkload.Samples - position);
    }

    /// <summary>
    /// The workload's rows as an IDX folder (train-images-idx3-ubyte, train-labels-idx1-ubyte); images are
    /// square where the feature count is a square (20×20, 28×28), else 1×F. Returns the folder.
    /// </summary>
    internal static string WriteIdx(string folder, BenchWorkload w)
    {
        Directory.CreateDirectory(folder);
        var (pixels, labels) = w.RandomBytes();
        var side = (int)Math.Round(Math.Sqrt(w.Features));
        var (rows, cols) = side * side == w.Features ? (side, side) : (1, w.Features);
        WriteIdxFile(Path.Combine(folder, IdxReader.TrainImages), IdxReader.ImagesMagic, [BenchWorkload.Samples, rows, cols], pixels);
        WriteIdxFile(Path.Combine(folder, IdxReader.TrainLabels), IdxReader.LabelsMagic, [BenchWorkload.Samples], labels);
        return folder;
    }

    // written atomically (temp + flush + rename): `scaling data` writes into a user's folder
    private static void WriteIdxFile(string path, int magic, int[] dims, byte[] body) =>
        Core.Interchange.AtomicFile.Write(path, f =>
        {
            Span<byte> word = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(word, magic);
            f.Write(word);
            foreach (var d in dims)
            {
                BinaryPrimitives.WriteInt32BigEndian(word, d);
                f.Write(word);
            }

            f.Write(body);
        });

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string[] Args(params string[] args) => args;

    /// <summary>One metrics row: the step and its time split.</summary>
    private readonly record struct MetricsRow(long Step, StepSplit Split);

    /// <summary>Reads the rows appended to the coordinator's metrics CSV since the last call (whole lines only).</summary>
    private sealed class MetricsTail : IDisposable
    {
        private readonly StreamReader _reader;
        private string _partial = string.Empty;
        private Dictionary<string, int>? _columns;

        public MetricsTail(string path) =>
            _reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));

        public IEnumerable<MetricsRow> ReadNewRows()
        {
            var text = _partial + _reader.ReadToEnd();
            var end = text.LastIndexOf('\n');
            if (end < 0)
            {
                _partial = text;
                yield break;
            }

            _partial = text[(end + 1)..];
            foreach (var line in text[..end].Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var cells = line.Split(',');
                if (_columns is null)
                {
                    _columns = cells.Select((name, i) => (name, i)).ToDictionary(x => x.name, x => x.i, StringComparer.Ordinal);
                    foreach (var needed in (string[])["step", "compute_ms", "serialize_ms", "transport_ms", "wait_ms"])
                    {
                        if (!_columns.ContainsKey(needed))
                        {
                            throw new BenchFailedException($"bench --mode cluster: the coordinator's metrics file has no '{needed}' column (header: {line})");
                        }
                    }

                    continue;
                }

                yield return new MetricsRow(
                    long.Parse(cells[_columns["step"]], CultureInfo.InvariantCulture),
                    new StepSplit(Cell(cells, "compute_ms"), Cell(cells, "serialize_ms"), Cell(cells, "transport_ms"), Cell(cells, "wait_ms")));
            }
        }

        public void Dispose() => _reader.Dispose();

        private double Cell(string[] cells, string name) =>
            double.TryParse(cells[_columns![name]], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : 0;
    }
}
