// TEMPORARY: compile-only stand-ins for the Core APIs being built on branches `data`
// (names from HELPERS.md). Deleted when those branches are merged into `host`.
namespace DistBackprop.Core.Data;

public sealed record DataOptions(long Seed = 1, double TestSplit = 0, string? DataDirectory = null);

public static class DatasetLoader
{
    public const string DefaultName = "digits";

    public static string DefaultDataDirectory => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".distbackprop", "data");

    public static DataSplit Load(string? source, DataOptions options)
    {
        if (!string.IsNullOrEmpty(source) && source != "digits")
        {
            throw new DataFormatException($"--data: unknown dataset '{source}' (stub)");
        }

        var rng = new Random((int)options.Seed);
        Dataset Make(int n)
        {
            var f = new float[n * 64];
            var l = new int[n];
            for (var i = 0; i < n; i++)
            {
                l[i] = rng.Next(10);
                for (var j = 0; j < 64; j++)
                {
                    f[(i * 64) + j] = (float)(rng.NextDouble() * 0.2) + (j % 10 == l[i] ? 1f : 0f);
                }
            }

            return new Dataset("digits", f, l, 64, 10, (8, 8));
        }

        return new DataSplit(Make(2000), Make(500));
    }
}
