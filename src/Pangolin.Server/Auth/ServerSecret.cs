using Pangolin.Server.Configuration;

namespace Pangolin.Server.Auth;

/// <summary>Where the server secret comes from: the configuration, else a file generated once in the data folder.</summary>
public static class ServerSecret
{
    public const string FileName = "server-secret";

    public static string FilePath(AppOptions app) => Path.Combine(app.DataDirectory, FileName);

    public static string Resolve(ServerOptions server, AppOptions app)
    {
        if (!string.IsNullOrEmpty(server.Secret))
        {
            return server.Secret;
        }
        var path = FilePath(app);
        if (File.Exists(path))
        {
            var stored = File.ReadAllText(path).Trim();
            if (stored.Length < 32)
            {
                throw new InvalidOperationException($"The server secret in {path} is shorter than 32 characters; fix or delete it.");
            }
            return stored;
        }
        var secret = Secrets.Token(48);
        Write(path, secret);
        return secret;
    }

    /// <summary>Writes a secret file readable by its owner only.</summary>
    public static void Write(string path, string secret)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(secret);
            writer.Write('\n');
        }
        File.Move(temp, path, overwrite: true);
    }
}
