using System.Diagnostics;
using System.Runtime.Versioning;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>
/// Debian's wireguard-go in the foreground inside a network namespace (`ip netns exec NS wireguard-go -f NAME`),
/// with its log kept in memory; started once its UAPI socket exists, killed (and its socket removed) on dispose.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class WireGuardGoProcess : IAsyncDisposable
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);
    private readonly Process _process;
    private readonly List<string> _log = [];

    private WireGuardGoProcess(Process process, string interfaceName)
    {
        _process = process;
        InterfaceName = interfaceName;
    }

    public string InterfaceName { get; }

    public string SocketPath => Path.Combine(UapiServerOptions.DefaultSocketDirectory, InterfaceName + ".sock");

    public bool HasExited => _process.HasExited;

    /// <summary>Everything wireguard-go printed so far (verbose: handshakes, keepalives, endpoint changes).</summary>
    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_log)
            {
                return [.. _log];
            }
        }
    }

    /// <summary>Starts wireguard-go with a TUN named <paramref name="interfaceName"/> in <paramref name="netns"/> (null: here).</summary>
    public static async Task<WireGuardGoProcess> StartAsync(string? netns, string interfaceName)
    {
        var start = new ProcessStartInfo(netns is null ? "wireguard-go" : "ip")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var args = netns is null ? new[] { "-f", interfaceName } : ["netns", "exec", netns, "wireguard-go", "-f", interfaceName];
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // wireguard-go declines to run where the kernel has WireGuard unless asked.
        start.Environment["WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD"] = "1";
        start.Environment["LOG_LEVEL"] = "verbose";
        var process = Process.Start(start) ?? throw new InvalidOperationException("wireguard-go did not start");
        var started = new WireGuardGoProcess(process, interfaceName);
        process.OutputDataReceived += (_, e) => started.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => started.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // The socket file appears at bind(2), a moment before listen(2): wait until a connection is accepted, or a
        // test's first request may be refused.
        if (!await Eventually.TrueAsync(() => AcceptsConnections(started.SocketPath) || process.HasExited, Within) || process.HasExited)
        {
            await started.DisposeAsync();
            throw new InvalidOperationException($"wireguard-go made no socket for {interfaceName}: {string.Join('\n', started.Log)}");
        }
        return started;
    }

    private static bool AcceptsConnections(string socketPath)
    {
        if (!File.Exists(socketPath))
        {
            return false;
        }
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try
        {
            probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>How many log lines contain <paramref name="text"/> (e.g. "Received handshake initiation").</summary>
    public int CountLog(string text) => Log.Count(line => line.Contains(text, StringComparison.Ordinal));

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.Add(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        using (var timeout = new CancellationTokenSource(Within))
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        _process.Dispose();
        // Killed, it leaves its socket behind; nothing else may be using this test's unique name.
        if (File.Exists(SocketPath))
        {
            File.Delete(SocketPath);
        }
    }
}
