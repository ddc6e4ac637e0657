using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Pangolin.Netstack.Tcp;

namespace Pangolin.Newt.Proxy;

/// <summary>
/// Relays the connections a tunnel listener (netstack or kernel, <see cref="IRelayNetwork"/>) accepts to one target on the host's network: connect an OS socket,
/// copy both ways, pass each side's end of stream on as a half-close, and an error on as a reset. Removing the
/// target stops the listener; relays already running go on until they end (as upstream newt's do).
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    /// <summary>Per read; rented only while data is waiting, so an idle relay holds no buffer.</summary>
    internal const int BufferSize = 64 * 1024;

    private readonly IRelayListener _listener;
    private readonly ProxyCounters _counters;
    private readonly ProxyOptions _options;
    private readonly ILogger _logger;
    private readonly int _internalPort;
    private readonly CancellationTokenSource _abort = new();
    private readonly HashSet<Stream> _relays = [];
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private Task _acceptLoop = Task.CompletedTask;
    private bool _stopped;

    public TcpProxy(IRelayListener listener, string host, int port, ProxyCounters counters, ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentNullException.ThrowIfNull(counters);
        ArgumentNullException.ThrowIfNull(options);
        _listener = listener;
        Host = host;
        Port = port;
        _counters = counters;
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<TcpProxy>();
        _internalPort = listener.LocalEndPoint.Port;
    }

    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    public string Host { get; }

    public int Port { get; }

    /// <summary>Relays running now (this listener's only).</summary>
    public int ActiveConnections
    {
        get
        {
            lock (_lock)
            {
                return _relays.Count;
            }
        }
    }

    public void Start() => _acceptLoop = AcceptLoopAsync();

    /// <summary>Closes the listener (new connections are refused at once); running relays go on.</summary>
    public async Task StopAcceptingAsync()
    {
        _listener.Dispose();
        await _acceptLoop;
        lock (_lock)
        {
            _stopped = true;
            if (_relays.Count == 0)
            {
                _drained.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Stops accepting, lets running relays finish for up to <paramref name="grace"/> (on the options' clock), then
    /// resets what is left; returns when every relay has ended. The listener is closed and the grace period started
    /// before this returns its task.
    /// </summary>
    public async Task DrainAsync(TimeSpan grace)
    {
        using var stopTimer = new CancellationTokenSource();
        var graceOver = grace == TimeSpan.Zero ? Task.CompletedTask : Task.Delay(grace, _options.Time, stopTimer.Token);
        await StopAcceptingAsync();
        if (await Task.WhenAny(_drained.Task, graceOver) != _drained.Task)
        {
            TcpProxyLog.Aborting(_logger, _internalPort, ActiveConnections, grace);
            await _abort.CancelAsync();
            await _drained.Task;
        }
        await stopTimer.CancelAsync();
    }

    /// <summary>Stops at once: running relays are reset.</summary>
    public async ValueTask DisposeAsync()
    {
        await DrainAsync(TimeSpan.Zero);
        _abort.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Stream tunnel;
            try
            {
                tunnel = await _listener.AcceptAsync();
            }
            catch (ObjectDisposedException)
            {
                return; // the listener was closed: StopAcceptingAsync
            }
            _counters.TcpOpened();
            lock (_lock)
            {
                _relays.Add(tunnel);
            }
            _ = RunAsync(tunnel);
        }
    }

    private async Task RunAsync(Stream tunnel)
    {
        var opened = _options.Time.GetTimestamp();
        // Off the accept loop: the connect may take up to the timeout.
        await Task.Yield();
        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
            if (await ConnectAsync(tunnel, stop.Token) is not { } target)
            {
                return;
            }
            await RelayAsync(tunnel, target, stop);
        }
        finally
        {
            _counters.TcpClosed(_options.Time.GetElapsedTime(opened));
            lock (_lock)
            {
                _relays.Remove(tunnel);
                if (_stopped && _relays.Count == 0)
                {
                    _drained.TrySetResult();
                }
            }
        }
    }

    private async Task<Socket?> ConnectAsync(Stream tunnel, CancellationToken stop)
    {
        // Dual-mode: IPv4 and IPv6 targets, and every address a name resolves to in turn.
        var target = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _options.Time);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, stop);
        try
        {
            await target.ConnectAsync(Host, Port, both.Token);
            return target;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ArgumentException)
        {
            target.Dispose();
            _counters.TcpConnectFailed();
            var reason = e switch
            {
                SocketException socketError => socketError.SocketErrorCode.ToString(),
                ArgumentException => "InvalidHost",
                _ => timeout.IsCancellationRequested ? "TimedOut" : "ShuttingDown",
            };
            TcpProxyLog.ConnectFailed(_logger, _internalPort, Host, Port, reason);
            // A reset, not a FIN: the client learns at once that nothing is behind this connection.
            RelayConnection.Abort(tunnel);
            return null;
        }
    }

    private async Task RelayAsync(Stream tunnel, Socket target, CancellationTokenSource stop)
    {
        var failed = false;
        using var targetStream = new NetworkStream(target, ownsSocket: true);
        try
        {
            var upstream = CopyAsync(tunnel, targetStream, _counters.TcpIn, () => target.Shutdown(SocketShutdown.Send), stop);
            var downstream = CopyAsync(targetStream, tunnel, _counters.TcpOut, () => RelayConnection.ShutdownSend(tunnel), stop);
            var upstreamEnded = await upstream;
            var downstreamEnded = await downstream;
            failed = !upstreamEnded || !downstreamEnded;
        }
        finally
        {
            if (failed || stop.IsCancellationRequested)
            {
                // Pass the error on as an error: a reset each way, not a clean end of stream.
                RelayConnection.Reset(target);
                RelayConnection.Abort(tunnel);
            }
            await tunnel.DisposeAsync();
        }
    }

    /// <summary>
    /// Copies until the source ends, then half-closes the destination (<paramref name="endOfStream"/>). Returns false
    /// after an error, having cancelled <paramref name="stop"/> so the other direction stops too.
    /// </summary>
    private static async Task<bool> CopyAsync(Stream source, Stream destination, Action<int> count, Action endOfStream, CancellationTokenSource stop)
    {
        var token = stop.Token;
        try
        {
            if (source is TcpStream tunnel)
            {
                // From the userspace stack: write straight from its receive buffer, one copy fewer per byte.
                while (true)
                {
                    _ = await tunnel.ReadAsync(Memory<byte>.Empty, token);
                    var lent = tunnel.PeekReceived(out var first, out var second);
                    if (lent == 0)
                    {
                        endOfStream();
                        return true;
                    }
                    await destination.WriteAsync(first, token);
                    if (!second.IsEmpty)
                    {
                        await destination.WriteAsync(second, token);
                    }
                    tunnel.ConsumeReceived(lent);
                    count(lent);
                }
            }
            while (true)
            {
                // Wait for data without a buffer (YARP's StreamCopier): idle relays hold no memory.
                _ = await source.ReadAsync(Memory<byte>.Empty, token);
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    int read;
                    do
                    {
                        read = await source.ReadAsync(buffer, token);
                        if (read == 0)
                        {
                            endOfStream();
                            return true;
                        }
                        await destination.WriteAsync(buffer.AsMemory(0, read), token);
                        count(read);
                    }
                    while (read == buffer.Length); // a full read: more is likely waiting, keep the buffer
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            await stop.CancelAsync();
            return false;
        }
    }
}

internal static partial class TcpProxyLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "TCP {InternalPort}: cannot reach {Host}:{Port} ({Reason}); the tunnel connection is reset")]
    public static partial void ConnectFailed(ILogger logger, int internalPort, string host, int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "TCP {InternalPort}: resetting {Count} connections still open after {Grace}")]
    public static partial void Aborting(ILogger logger, int internalPort, int count, TimeSpan grace);
}
