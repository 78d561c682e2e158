// `distbackprop download mnist`: fetches the four standard MNIST files into the data directory
// ($DISTBACKPROP_DATA or ~/.distbackprop/data, then mnist/) and checks each SHA-256 (SPEC §4: optional,
// only when asked; `--data mnist` never downloads by itself). Leaves out: other datasets.
using System.CommandLine;
using DistBackprop.Core.Data;

namespace DistBackprop.Host.Commands;

public static class DownloadCommand
{
    public static Command Create(CliContext context)
    {
        var dataset = new Argument<string>("dataset") { Description = "what to download: mnist" };
        var dir = TrainingCommandLine.Text("--data-dir", "data directory (default: $DISTBACKPROP_DATA, else ~/.distbackprop/data); the files go to <dir>/mnist", null);
        var mirror = TrainingCommandLine.Text("--mirror", "base URL of the files", MnistFiles.DefaultMirror);
        var command = new Command("download", "Download MNIST with SHA-256 checks. Example: distbackprop download mnist")
        {
            dataset, dir, mirror,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            context.Verbose = parseResult.GetValue<bool>("--verbose");
            var name = parseResult.GetValue(dataset);
            if (!string.Equals(name, "mnist", StringComparison.OrdinalIgnoreCase))
            {
                throw new UsageException([$"download: unknown dataset '{name}' (only mnist can be downloaded)"]);
            }

            var url = parseResult.GetValue(mirror);
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                throw new UsageException([$"--mirror: '{url}' is not an http(s) URL"]);
            }

            var root = parseResult.GetValue(dir) ?? context.Environment.DataDirectory;
            var folder = DatasetLoader.MnistDirectory(root is null ? null : Path.GetFullPath(root, context.Environment.CurrentDirectory));
            context.Out.WriteLine($"downloading MNIST from {uri} into {folder}");
            try
            {
                MnistFiles.DownloadAsync(folder, uri.AbsoluteUri.EndsWith('/') ? uri.AbsoluteUri : uri.AbsoluteUri + "/", cancellation: context.Cancellation)
                    .GetAwaiter().GetResult();
            }
            catch (HttpRequestException e)
            {
                context.Err.WriteLine($"error: download from {uri} failed: {e.Message} (without network, copy the files by hand: {MnistFiles.MissingMessage(folder)})");
                return ExitCodes.RuntimeFailure;
            }

            context.Out.WriteLine($"done: {string.Join(", ", MnistFiles.Standard.Select(s => s.File))} in {folder} (SHA-256 checked)");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
