// Where MNIST lives and how to get it: the four standard gzipped files, their SHA-256 sums, the
// "not found" message that tells the user where to put them, and an optional download that is only
// ever run when asked (never implicitly by Load).
// Leaves out: parsing (IdxReader.cs).
using System.Security.Cryptography;

namespace DistBackprop.Core.Data;

public static class MnistFiles
{
    /// <summary>The mirror torchvision uses (yann.lecun.com no longer serves the files reliably).</summary>
    public const string DefaultMirror = "https://ossci-datasets.s3.amazonaws.com/mnist/";

    /// <summary>The four standard files with the SHA-256 of their .gz form.</summary>
    public static IReadOnlyList<(string File, string Sha256)> Standard { get; } =
    [
        (IdxReader.TrainImages + ".gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        (IdxReader.TrainLabels + ".gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        (IdxReader.TestImages + ".gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        (IdxReader.TestLabels + ".gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ];

    /// <summary>The message for a missing MNIST folder: which files go where.</summary>
    public static string MissingMessage(string mnistFolder) =>
        $"MNIST not found: put {string.Join(", ", Standard.Select(s => s.File))} " +
        $"(gzipped or not; the t10k pair is the test set and may be left out) in {mnistFolder}. " +
        $"They are at {DefaultMirror}. To use another folder set DISTBACKPROP_DATA to a directory " +
        "holding mnist/, or pass --data <folder>; with network access, `distbackprop download mnist` fetches and checks them.";

    /// <summary>
    /// Downloads the four standard files into <paramref name="mnistFolder"/> (skipping files already present
    /// with the right checksum) and checks each SHA-256; a mismatch deletes the file and throws.
    /// </summary>
    public static async Task DownloadAsync(string mnistFolder, string mirror = DefaultMirror, HttpClient? http = null, CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(mnistFolder);
        var own = http is null;
        http ??= new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        try
        {
            foreach (var (file, sha) in Standard)
            {
                var path = Path.Combine(mnistFolder, file);
                if (File.Exists(path) && await Sha256Async(path, cancellation).ConfigureAwait(false) == sha)
                {
                    continue;
                }

                var partial = path + ".part";
                await using (var target = File.Create(partial))
                {
                    using var response = await http.GetAsync(new Uri(new Uri(mirror), file), HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
                    response.EnsureSuccessStatusCode();
                    await response.Content.CopyToAsync(target, cancellation).ConfigureAwait(false);
                }

                var actual = await Sha256Async(partial, cancellation).ConfigureAwait(false);
                if (actual != sha)
                {
                    File.Delete(partial);
                    throw new DataFormatException($"{path}: downloaded file has SHA-256 {actual}, expected {sha}; not kept");
                }

                File.Move(partial, path, overwrite: true);
            }
        }
        finally
        {
            if (own)
            {
                http.Dispose();
            }
        }
    }

    private static async Task<string> Sha256Async(string path, CancellationToken cancellation)
    {
        await using var stream = File.OpenRead(path);
        var hash = await SHA256.HashDataAsync(stream, cancellation).ConfigureAwait(false);
        return Convert.ToHexStringLower(hash);
    }
}
