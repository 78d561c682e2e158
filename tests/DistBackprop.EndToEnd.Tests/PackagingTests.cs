// The packages as a user gets them: the README's `dotnet pack -c Release -o artifacts` (with --no-build: the Release
// binaries this test run built and tested) makes the distbackprop tool and the DistBackprop.Core / .Cluster libraries;
// `dotnet tool install --tool-path <tmp> --add-source artifacts distbackprop` installs the tool, which then trains;
// samples/TrainAndScore restores the libraries from the artifacts (never project references), builds, trains and
// scores its ONNX export with ML.NET. Packages are extracted into a private NUGET_PACKAGES folder, so a stale copy
// of the same version in the machine's cache can never stand in for the ones just packed.
// Leaves out: publishing; the library API's behaviour (Cluster.Tests/Api).
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Xunit.Abstractions;

namespace DistBackprop.EndToEnd.Tests;

public sealed class PackagingTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distbackprop-pack-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Pack_install_the_tool_and_build_the_sample_against_the_packages()
    {
        var repo = RepositoryRoot();
        var artifacts = Path.Combine(_dir, "artifacts");
        // --no-build: pack exactly the Release binaries this test run built and tested (and leave them untouched)
        var pack = await Run(repo, TimeSpan.FromMinutes(8), "pack", Path.Combine(repo, "DistBackprop.sln"), "-c", "Release", "-o", artifacts,
            "--no-build", "--disable-build-servers", "-nodeReuse:false");
        Assert.True(pack.Code == 0, pack.Text);
        var packages = Directory.GetFiles(artifacts, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(3, packages.Length);
        Assert.Contains(packages, p => p!.StartsWith("distbackprop.", StringComparison.Ordinal));
        Assert.Contains(packages, p => p!.StartsWith("DistBackprop.Core.", StringComparison.Ordinal));
        Assert.Contains(packages, p => p!.StartsWith("DistBackprop.Cluster.", StringComparison.Ordinal));
        using (var core = ZipFile.OpenRead(Directory.GetFiles(artifacts, "DistBackprop.Core.*.nupkg").Single()))
        {
            Assert.Contains(core.Entries, e => e.FullName == "lib/net10.0/DistBackprop.Core.xml"); // XML docs
            Assert.Contains(core.Entries, e => e.FullName == "README.md");
            var nuspec = new StreamReader(core.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
            Assert.Contains("<repository type=\"git\"", nuspec, StringComparison.Ordinal); // SourceLink's commit
        }

        using (var tool = ZipFile.OpenRead(Directory.GetFiles(artifacts, "distbackprop.*.nupkg").Single()))
        {
            var nuspec = new StreamReader(tool.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
            Assert.Contains("<packageType name=\"DotnetTool\"", nuspec, StringComparison.Ordinal);
            Assert.Contains(tool.Entries, e => e.FullName.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));
        }

        // the private package folder, fed by the artifacts first, then the machine's cache and nuget.org for dependencies
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } c ? c : Path.Combine(home, ".nuget", "packages");
        File.WriteAllText(Path.Combine(_dir, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="artifacts" value="{artifacts}" />
                {(Directory.Exists(cache) ? $"<add key=\"machine-cache\" value=\"{cache}\" />" : string.Empty)}
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);

        var tools = Path.Combine(_dir, "tools");
        var install = await Run(_dir, TimeSpan.FromMinutes(4), "tool", "install", "--tool-path", tools, "--add-source", artifacts, "distbackprop");
        Assert.True(install.Code == 0, install.Text);
        var train = await Run(_dir, TimeSpan.FromMinutes(2), Path.Combine(tools, "distbackprop"), ["train", "--max-steps", "20", "--plain", "--out", "m.safetensors"]);
        Assert.True(train.Code == 0, train.Text);
        Assert.Contains("done: 20 steps", train.Text, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir, "m.safetensors")), train.Text);

        var samples = Path.Combine(_dir, "samples");
        CopyDirectory(Path.Combine(repo, "samples"), samples);
        var onnx = Path.Combine(_dir, "sample.onnx");
        var sample = await Run(samples, TimeSpan.FromMinutes(6), "run", "--project", "TrainAndScore", "-c", "Release", "--disable-build-servers", "--", onnx);
        Assert.True(sample.Code == 0, sample.Text);
        Assert.Contains("ML.NET ApplyOnnxModel: accuracy", sample.Text, StringComparison.Ordinal);
        Assert.True(File.Exists(onnx), sample.Text);
        Assert.True(Directory.Exists(Path.Combine(_dir, "packages", "distbackprop.cluster")), "the sample restored DistBackprop.Cluster into the private folder");
    }

    private async Task<(int Code, string Text)> Run(string directory, TimeSpan timeout, string command, params string[] args)
    {
        var file = command.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal) ? command : "dotnet";
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (file == "dotnet")
        {
            info.ArgumentList.Add(command);
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        // nothing of the test run's own MSBuild or settings leaks into the child
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("DISTBACKPROP", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key);
        }

        info.Environment["NUGET_PACKAGES"] = Path.Combine(_dir, "packages");
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        var text = new StringBuilder();
        using var p = new Process { StartInfo = info };
        p.OutputDataReceived += (_, e) => Append(text, e.Data);
        p.ErrorDataReceived += (_, e) => Append(text, e.Data);
        var watch = Stopwatch.StartNew();
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
            throw new TimeoutException($"{command} {string.Join(' ', args)} did not end within {timeout.TotalMinutes} min\n{text}");
        }

        p.WaitForExit();
        log.WriteLine($"{command} {string.Join(' ', args)}: exit {p.ExitCode} after {watch.Elapsed.TotalSeconds:F0} s");
        lock (text)
        {
            return (p.ExitCode, $"{command} {string.Join(' ', args)} → exit {p.ExitCode}\n{text}");
        }
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sb)
        {
            sb.AppendLine(line);
        }
    }

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "DistBackprop.sln")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException($"no DistBackprop.sln above {AppContext.BaseDirectory}");
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, dir);
            if (relative.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"))
            {
                continue;
            }

            Directory.CreateDirectory(Path.Combine(to, relative));
        }

        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"))
            {
                continue;
            }

            File.Copy(file, Path.Combine(to, relative));
        }
    }
}
