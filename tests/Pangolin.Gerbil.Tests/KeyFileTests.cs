using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Tests;

/// <summary>GENERATE_AND_SAVE_KEY_TO: made once with mode 0600, read back on every start, refused when others may read it.</summary>
public sealed class KeyFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("gerbil-key-");

    private string Path(string name) => System.IO.Path.Combine(_dir.FullName, name);

    [Fact]
    public void A_missing_key_file_is_created_with_mode_0600_and_the_same_key_is_read_back()
    {
        var path = Path("key");

        var created = KeyFile.LoadOrCreate(path, out var wasCreated);
        var again = KeyFile.LoadOrCreate(path, out var createdAgain);

        Assert.True(wasCreated);
        Assert.False(createdAgain);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(created, again);
        Assert.False(created.IsZero);
        // wg genkey's format: base64 on one line.
        Assert.Equal(created.ToBase64() + "\n", File.ReadAllText(path));
    }

    [Fact]
    public void A_key_written_by_wg_genkey_is_read()
    {
        var path = Path("key");
        var key = WgKey.GeneratePrivate();
        File.WriteAllText(path, key.ToBase64() + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead);

        Assert.Equal(key, KeyFile.LoadOrCreate(path, out _));
    }

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, "0644")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.GroupRead, "0440")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherWrite, "0602")]
    public void A_key_file_the_group_or_others_may_access_is_refused(UnixFileMode mode, string octal)
    {
        var path = Path("key");
        File.WriteAllText(path, WgKey.GeneratePrivate().ToBase64());
        File.SetUnixFileMode(path, mode);

        var refused = Assert.Throws<KeyFileException>(() => KeyFile.LoadOrCreate(path, out _));

        Assert.Contains($"mode {octal}", refused.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a key")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("")]
    public void A_key_file_without_a_usable_key_is_refused(string content)
    {
        var path = Path("key");
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var refused = Assert.Throws<KeyFileException>(() => KeyFile.LoadOrCreate(path, out _));

        Assert.Contains("does not hold a WireGuard private key", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_file_in_a_missing_directory_is_a_one_line_error()
    {
        var refused = Assert.Throws<KeyFileException>(() => KeyFile.LoadOrCreate(Path("nowhere/key"), out _));

        Assert.StartsWith("cannot create key file", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', refused.Message);
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
