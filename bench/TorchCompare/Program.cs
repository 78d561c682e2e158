// The SPEC §8 workloads (float32, plain SGD lr 0.01, softmax-ce, 8192 random samples, shuffled batches)
// on libtorch through TorchSharp, measured the way `distbackprop bench` measures them: steady-state
// samples/s after a warm-up (the first 3 steps and the first 20% of the time, at most 2 s), GFLOP/s =
// 6 × weights × samples/s. Standard output: one JSON line shaped like `distbackprop bench --json`
// (mode "libtorch", workers 1); progress on standard error.
// Usage: TorchCompare [--workload seed,mnist,wide] [--threads 1,2] [--seconds 10]
//        TorchCompare --sgemm 1024 [--threads 1,2]   (torch.mm GFLOP/s, the issue's matrix-multiply bar:
//        median of 15 timed rounds after a 1 s warm-up, like `DistBackprop.Benchmarks quick n1024`)
using System.Diagnostics;
using System.Globalization;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

var patched = TorchCompare.GlibcxxPatch.Apply(AppContext.BaseDirectory);
foreach (var p in patched)
{
    Console.Error.WriteLine($"patched {p}: GLIBCXX_3.4.32 need marked weak (see GlibcxxPatch.cs)");
}

string[] workloads = ["seed", "mnist", "wide"];
int[] threads = [Environment.ProcessorCount];
var seconds = 10.0;
var sgemm = 0;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    var values = args[i + 1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    switch (args[i])
    {
        case "--workload": workloads = values; break;
        case "--threads": threads = values.Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray(); break;
        case "--seconds": seconds = double.Parse(values[0], CultureInfo.InvariantCulture); break;
        case "--sgemm": sgemm = int.Parse(values[0], CultureInfo.InvariantCulture); break;
        default:
            Console.Error.WriteLine($"error: unknown option {args[i]} (expected --workload, --threads, --seconds, --sgemm)");
            return 2;
    }
}

if (sgemm > 0)
{
    // C = A·Bᵀ with A, B [n, n] (the X·Wᵀ shape of a linear layer) into a preallocated C (addmm_ with β = 0,
        // one sgemm call, no allocation); GFLOP/s = 2n³ / time
    foreach (var t in threads)
    {
        torch.set_num_threads(t);
        using var a = torch.rand(sgemm, sgemm);
        using var b = torch.rand(sgemm, sgemm);
        using var bt = b.t();
        using var c = torch.empty(sgemm, sgemm);
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 1000)
        {
            c.addmm_(a, bt, beta: 0, alpha: 1);
        }

        var inner = Math.Max(1, (int)(3e9 / (2.0 * sgemm * sgemm * sgemm)));
        var rounds = new double[15];
        for (var r = 0; r < rounds.Length; r++)
        {
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < inner; i++)
            {
                c.addmm_(a, bt, beta: 0, alpha: 1);
            }

            rounds[r] = sw.Elapsed.TotalSeconds / inner;
        }

        Array.Sort(rounds);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"libtorch sgemm n={sgemm} A·Bᵀ threads={t}  {2.0 * sgemm * sgemm * sgemm / rounds[rounds.Length / 2] / 1e9,7:F1} GFLOP/s"));
    }

    return 0;
}

var table = new Dictionary<string, (long[] Sizes, bool Sigmoid, int Batch)>
{
    ["seed"] = ([400, 25, 10], true, 64),
    ["mnist"] = ([784, 256, 128, 10], false, 128),
    ["wide"] = ([784, 1024, 1024, 10], false, 256),
};
const int samples = 8192;
var json = new StringBuilder("{\"results\":[");
var first = true;
foreach (var name in workloads)
{
    if (!table.TryGetValue(name, out var w))
    {
        Console.Error.WriteLine($"error: --workload: unknown workload '{name}' (expected seed, mnist, wide)");
        return 2;
    }

    foreach (var t in threads)
    {
        torch.set_num_threads(t);
        torch.manual_seed(1);
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        long weights = 0;
        for (var l = 0; l + 1 < w.Sizes.Length; l++)
        {
            layers.Add(($"fc{l}", nn.Linear(w.Sizes[l], w.Sizes[l + 1])));
            weights += w.Sizes[l] * w.Sizes[l + 1];
            if (l + 2 < w.Sizes.Length)
            {
                layers.Add(($"act{l}", w.Sigmoid ? nn.Sigmoid() : nn.ReLU()));
            }
        }

        using var model = nn.Sequential(layers.ToArray());
        using var optimizer = torch.optim.SGD(model.parameters(), 0.01);
        using var lossFn = nn.CrossEntropyLoss();
        using var x = torch.rand(samples, w.Sizes[0]);
        using var y = torch.randint(w.Sizes[^1], [samples], dtype: ScalarType.Int64);
        var perEpoch = (samples + w.Batch - 1) / w.Batch;
        Tensor? perm = null;
        var warmup = TimeSpan.FromSeconds(Math.Min(2, seconds * 0.2));
        long start = 0, mark = 0, last = 0, steps = 0, measured = 0, measuredSamples = 0;
        while (true)
        {
            var k = (int)(steps % perEpoch);
            if (k == 0)
            {
                perm?.Dispose();
                perm = torch.randperm(samples);
            }

            var n = Math.Min(w.Batch, samples - (k * w.Batch));
            using (torch.NewDisposeScope())
            {
                var idx = perm!.slice(0, k * w.Batch, (k * w.Batch) + n, 1);
                optimizer.zero_grad();
                var loss = lossFn.forward(model.forward(x.index_select(0, idx)), y.index_select(0, idx));
                loss.backward();
                optimizer.step();
            }

            steps++;
            last = Stopwatch.GetTimestamp();
            if (start == 0)
            {
                start = last;
            }

            if (mark == 0)
            {
                if (steps > 3 && Stopwatch.GetElapsedTime(start, last) >= warmup)
                {
                    mark = last;
                }

                continue;
            }

            measured++;
            measuredSamples += n;
            if (measured >= 2 && Stopwatch.GetElapsedTime(start, last).TotalSeconds >= seconds)
            {
                break;
            }
        }

        perm?.Dispose();
        var rate = measuredSamples / Stopwatch.GetElapsedTime(mark, last).TotalSeconds;
        var gflops = 6.0 * weights * rate / 1e9;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"libtorch {name}, {t} thread{(t == 1 ? "" : "s")}, batch {w.Batch}: {rate:N0} samples/s, {gflops:F1} GFLOP/s over {measured} steps"));
        json.Append(first ? "" : ",").Append(string.Create(CultureInfo.InvariantCulture,
            $"{{\"workload\":\"{name}\",\"mode\":\"libtorch\",\"threads\":{t},\"workers\":1,\"batch\":{w.Batch},\"samples_per_s\":{Math.Round(rate, 1)},\"gflops\":{Math.Round(gflops, 3)}}}"));
        first = false;
    }
}

Console.WriteLine(json.Append("]}").ToString());
return 0;
