// The one entry point from a --data value to a train/test split:
//   null or ""      → the embedded synthetic "digits" (the default);
//   a synthetic name ("digits", "spirals") → generated from options.Seed, with its own test set;
//   "mnist"         → the IDX folder <data directory>/mnist;
//   an existing folder → an IDX dataset folder;  a path ending in .csv → a CSV file.
// Names win over same-named folders in the working directory (write ./digits to mean the folder).
// Leaves out: parsing (IdxReader, CsvReader), generation (Synthetic), downloading (MnistFiles).
namespace DistBackprop.Core.Data;

public static class DatasetLoader
{
    public const string DefaultName = Synthetic.DigitsName;
    public const string MnistName = "mnist";

    /// <summary>The environment variable that overrides <see cref="DefaultDataDirectory"/>.</summary>
    public const string DataDirectoryVariable = "DISTBACKPROP_DATA";

    /// <summary>Random stream ("tspl") choosing the --test-split rows: distinct from the training shuffle.</summary>
    internal const ulong TestSplitStream = 0x7473706C;

    /// <summary>$DISTBACKPROP_DATA when set, else ~/.distbackprop/data.</summary>
    public static string DefaultDataDirectory =>
        Environment.GetEnvironmentVariable(DataDirectoryVariable) is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".distbackprop", "data");

    /// <summary>What --data accepts, for messages and help text.</summary>
    public static string ValidChoices =>
        $"{string.Join(", ", Synthetic.Names)} (synthetic; {DefaultName} is the default), {MnistName}, " +
        "a folder of IDX files (train-images-idx3-ubyte[.gz] …), or a file ending in .csv";

    /// <summary>
    /// Loads <paramref name="source"/> (see the file header). <see cref="DataOptions.TestSplit"/> carves a test set
    /// off the training rows only when the source has no test set of its own; for synthetic datasets and IDX folders
    /// with t10k-* files it is ignored (their own test set is used). A split value outside [0, 1) is rejected even then.
    /// Then <see cref="DataOptions.ValSplit"/> holds a validation set out of the training rows (ValidationSplit).
    /// </summary>
    /// <exception cref="DataFormatException">Unknown source, missing files, or bad data; the message names the file or option and the problem.</exception>
    public static DataSplit Load(string? source, DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ValidateTestSplit(options.TestSplit);
        ValidationSplit.Validate(options.ValSplit);
        var split = LoadSource(string.IsNullOrWhiteSpace(source) ? DefaultName : source.Trim(), options);
        split = split.Test is null && options.TestSplit > 0 ? TestSplit.Carve(split.Train, options.TestSplit, options.Seed) : split;
        if (options.ValSplit > 0)
        {
            var (train, validation) = ValidationSplit.Carve(split.Train, options.ValSplit, options.Seed);
            split = split with { Train = train, Validation = validation };
        }

        return split;
    }

    /// <summary>The MNIST folder under <paramref name="dataDirectory"/> (default: <see cref="DefaultDataDirectory"/>).</summary>
    public static string MnistDirectory(string? dataDirectory = null) =>
        Path.Combine(dataDirectory ?? DefaultDataDirectory, MnistName);

    /// <summary>
    /// Downloads the four standard MNIST files into <paramref name="dataDirectory"/>/mnist with SHA-256 checks.
    /// Needs network access; never called by <see cref="Load"/>.
    /// </summary>
    public static Task DownloadMnist(string? dataDirectory = null, CancellationToken cancellation = default) =>
        MnistFiles.DownloadAsync(MnistDirectory(dataDirectory), cancellation: cancellation);

    internal static void ValidateTestSplit(double fraction)
    {
        if (!(fraction >= 0 && fraction < 1))
        {
            throw new DataFormatException($"--test-split must be a fraction in [0, 1) (got {fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)})");
        }
    }

    private static DataSplit LoadSource(string source, DataOptions options)
    {
        if (Synthetic.IsName(source))
        {
            return Synthetic.Generate(source, options.Seed);
        }

        if (string.Equals(source, MnistName, StringComparison.OrdinalIgnoreCase))
        {
            var folder = MnistDirectory(options.DataDirectory);
            if (IdxReader.Find(folder, IdxReader.TrainImages) is null || IdxReader.Find(folder, IdxReader.TrainLabels) is null)
            {
                throw new DataFormatException(MnistFiles.MissingMessage(folder));
            }

            return IdxReader.ReadFolder(folder, $"{MnistName}:{folder}");
        }

        if (Directory.Exists(source))
        {
            return IdxReader.ReadFolder(source, $"idx:{source}");
        }

        if (source.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(source))
            {
                throw new DataFormatException($"--data {source}: file not found");
            }

            return new DataSplit(CsvReader.Read(source), null);
        }

        var what = File.Exists(source) ? "is a file but not a .csv" : "is not a known dataset, folder or file";
        throw new DataFormatException($"--data {source} {what}; valid choices: {ValidChoices}");
    }
}
