// A node's state directory (`--state-dir`, default ~/.distbackprop): one sub-folder per role (coordinator, worker,
// monitor) holding keys, certificates and tokens. Folders are created 0700 and files 0600 (owner only) on Unix,
// and every file is written atomically (temporary file, flush, rename), so a crash never leaves half a key.
// Leaves out: what the files hold (ClusterAuthority, NodeCredentialStore).
namespace DistBackprop.Cluster.Security;

public static class StateDirectory
{
    private const UnixFileMode OwnerDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>~/.distbackprop (the same root as the data directory's default).</summary>
    public static string Default =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile, Environment.SpecialFolderOption.DoNotVerify) is { Length: > 0 } home
            ? home : Path.GetTempPath(), ".distbackprop");

    /// <summary>Creates <paramref name="path"/> (and parents) if needed and makes it owner-only; returns its full path.</summary>
    public static string Ensure(string path)
    {
        var full = Path.GetFullPath(path);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(full);
            return full;
        }

        Directory.CreateDirectory(full, OwnerDirectory);
        if ((File.GetUnixFileMode(full) & ~OwnerDirectory) != 0)
        {
            File.SetUnixFileMode(full, OwnerDirectory); // e.g. made by hand, or by mkdir with the umask's group bits
        }

        return full;
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> atomically, owner read/write only.</summary>
    public static void WriteSecret(string path, string text)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerFile;
        }

        try
        {
            using (var stream = new FileStream(temp, options))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(text);
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Whether a file's mode lets anyone but its owner read it (warned about, not refused: the owner may know better).</summary>
    public static bool IsReadableByOthers(string path) =>
        !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0;
}
