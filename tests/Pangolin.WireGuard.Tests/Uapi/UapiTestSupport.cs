using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;

namespace Pangolin.WireGuard.Tests.Uapi;

/// <summary>A unique interface name ("pgt" and 8 hex digits, under IFNAMSIZ) and a private directory for key files.</summary>
[SupportedOSPlatform("linux")]
internal sealed class UapiScratch : IDisposable
{
    public UapiScratch()
    {
        Interface = "pgt" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        Directory = System.IO.Directory.CreateTempSubdirectory("pgtest-uapi-").FullName;
    }

    public string Interface { get; }

    public string Directory { get; }

    public string WriteFile(string name, string content)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    public void Dispose()
    {
        System.IO.Directory.Delete(Directory, recursive: true);
        // A server the test failed to dispose must not leave a socket for the next run.
        var socket = Path.Combine(Pangolin.WireGuard.Uapi.UapiServerOptions.DefaultSocketDirectory, Interface + ".sock");
        if (File.Exists(socket))
        {
            File.Delete(socket);
        }
    }
}

/// <summary>A raw UAPI client: writes text, reads answers up to their empty line, every wait bounded.</summary>
internal sealed class RawUapiClient : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly StringBuilder _pending = new();

    private RawUapiClient(Socket socket) => _socket = socket;

    public static async Task<RawUapiClient> ConnectAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), timeout.Token);
        return new RawUapiClient(socket);
    }

    public async Task SendAsync(string text)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await _socket.SendAsync(Encoding.Latin1.GetBytes(text), SocketFlags.None, timeout.Token);
    }

    /// <summary>The next answer, empty line included ("errno=0\n\n"); null if the server closed first.</summary>
    public async Task<string?> ReadAnswerAsync()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var text = _pending.ToString();
            var end = text.IndexOf("\n\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                _pending.Remove(0, end + 2);
                return text[..(end + 2)];
            }
            var read = await _socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                return null;
            }
            _pending.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }
    }

    /// <summary>True when the server closes the connection (end of stream or reset) within the wait.</summary>
    public async Task<bool> ClosedByServerAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        var buffer = new byte[1024];
        try
        {
            while (true)
            {
                if (await _socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
