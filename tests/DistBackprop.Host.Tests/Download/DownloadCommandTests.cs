// `distbackprop download mnist` against a local HTTP server on loopback: a file whose SHA-256 does not
// match is refused and not kept; bad arguments exit 2; an unreachable mirror exits 1 with a message.
using System.Net;
using System.Net.Sockets;

namespace DistBackprop.Host.Tests.Download;

public class DownloadCommandTests
{
    [Fact]
    public async Task A_file_with_the_wrong_checksum_is_refused_and_not_kept()
    {
        using var dir = new TempFolder();
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var served = Task.Run(async () =>
        {
            var ctx = await listener.GetContextAsync();
            var body = "not really MNIST"u8.ToArray();
            ctx.Response.ContentLength64 = body.Length;
            await ctx.Response.OutputStream.WriteAsync(body);
            ctx.Response.Close();
        });

        var r = Cli.Run(dir.Path, "download", "mnist", "--data-dir", "data", "--mirror", $"http://127.0.0.1:{port}/");
        await served.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("SHA-256", r.Err, StringComparison.Ordinal);
        Assert.Contains("train-images-idx3-ubyte.gz", r.Err, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(dir.File(Path.Combine("data", "mnist"))));
    }

    [Fact]
    public void An_unreachable_mirror_is_a_runtime_failure_with_a_message()
    {
        using var dir = new TempFolder();
        var r = Cli.Run(dir.Path, "download", "mnist", "--data-dir", "data", "--mirror", $"http://127.0.0.1:{FreePort()}/");
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("download from", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cifar", "unknown dataset")]
    [InlineData("mnist", "--mirror")]
    public void Bad_arguments_exit_2(string dataset, string expected)
    {
        using var dir = new TempFolder();
        var r = Cli.Run(dir.Path, "download", dataset, "--mirror", dataset == "mnist" ? "ftp://example/" : "https://example/");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(expected, r.Err, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
