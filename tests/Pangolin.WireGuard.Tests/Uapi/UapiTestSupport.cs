using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Pangolin.WireGuard.Tests.Uapi;

/// <summary>Runs Debian's `wg` (wireguard-tools) with a bounded wait.</summary>
internal static class Wg
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string? stdin, params string[] args)
    {
        var start = new ProcessStartInfo("wg")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // Show keys in `wg show` pretty output, so tests can compare them.
        start.Environment["WG_HIDE_KEYS"] = "never";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("wg did not start");
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(Timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"wg {string.Join(' ', args)} did not finish within {Timeout}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs wg and requires success; returns its standard output.</summary>
    public static async Task<string> OkAsync(params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync(null, args);
        Assert.True(code == 0, $"wg {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout;
    }

    /// <summary>The public key of a base64 private key, as `wg pubkey` computes it.</summary>
    public static async Task<string> PublicKeyAsync(string privateKeyBase64)
    {
        var (code, stdout, stderr) = await RunAsync(privateKeyBase64 + "\n", "pubkey");
        Assert.True(code == 0, stderr);
        return stdout.Trim();
    }
}

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

/// <summary>Keeps every log line (message and exception) for inspection.</summary>
internal sealed class CapturingLogger : ILogger
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines)
        {
            _lines.Add($"{logLevel}: {formatter(state, exception)} {exception}");
        }
    }
}

/// <summary>Polls a condition until it holds or the deadline passes.</summary>
internal static class Eventually
{
    public static async Task<bool> TrueAsync(Func<bool> condition, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > within)
            {
                return false;
            }
            await Task.Delay(10);
        }
        return true;
    }
}
