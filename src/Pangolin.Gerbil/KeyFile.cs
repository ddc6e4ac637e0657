using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil;

/// <summary>A key file that gerbil refuses, with a one-line reason.</summary>
internal sealed class KeyFileException(string message) : Exception(message);

/// <summary>
/// GENERATE_AND_SAVE_KEY_TO: the exit node's WireGuard private key, base64 on one line, as `wg genkey` writes it.
/// The server knows a node by its public key, so a node that keeps its key keeps its network and its peers across
/// restarts.
/// </summary>
internal static class KeyFile
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode GroupOrOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Reads the key from <paramref name="path"/>, or generates one and writes it there with mode 0600 when the file
    /// does not exist. A file that the group or others may access is refused, as ssh refuses such a private key
    /// (upstream gerbil writes 0644; ours does not follow it there).
    /// </summary>
    /// <param name="path">The key file.</param>
    /// <param name="created">True when the file was made now.</param>
    public static WgKey LoadOrCreate(string path, out bool created)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        created = false;
        if (!File.Exists(path))
        {
            var key = WgKey.GeneratePrivate();
            try
            {
                // CreateNew with the mode set at open(2): the key is never readable by others, not even briefly.
                using var stream = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = OwnerOnly,
                });
                using var writer = new StreamWriter(stream);
                writer.Write(key.ToBase64());
                writer.Write('\n');
                created = true;
                return key;
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another gerbil made it in between: read theirs.
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new KeyFileException($"cannot create key file {path}: {e.Message}");
            }
        }
        if (Directory.Exists(path))
        {
            throw new KeyFileException($"key file {path} is a directory");
        }
        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupOrOthers) != 0)
        {
            throw new KeyFileException($"key file {path} is accessible by group or others (mode {Octal(mode)}); chmod 600 it");
        }
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeyFileException($"cannot read key file {path}: {e.Message}");
        }
        try
        {
            var key = WgKey.FromBase64(text);
            return key.IsZero ? throw new FormatException() : key;
        }
        catch (FormatException)
        {
            throw new KeyFileException($"key file {path} does not hold a WireGuard private key (32 bytes in base64, as wg genkey prints)");
        }
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8);
}
