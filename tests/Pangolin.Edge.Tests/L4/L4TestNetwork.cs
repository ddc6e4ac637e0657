using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Pangolin.Edge.Tests.L4;

/// <summary>A config source whose snapshot the test replaces, firing the change token as the real one does.</summary>
internal sealed class TestConfigSource : IEdgeConfigSource, IDisposable
{
    private CancellationTokenSource _changed = new();

    public EdgeSnapshot Current { get; private set; } = EdgeSnapshot.Empty;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(_changed.Token);

    public void Dispose() => _changed.Dispose();

    public void Set(params EdgeRawResource[] resources)
    {
        Current = new EdgeSnapshot(Current.Version + 1, [], resources);
        var old = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        old.Cancel();
        old.Dispose();
    }
}

/// <summary>
/// The host's dialer, reduced to a table: target id → a real loopback endpoint. A refused connect becomes
/// <see cref="TargetUnreachableException"/>, as the contract says.
/// </summary>
internal sealed class TestDialer : ITargetDialer
{
    public ConcurrentDictionary<int, IPEndPoint> Targets { get; } = new();

    public ConcurrentQueue<int> TcpAttempts { get; } = new();

    public ConcurrentQueue<int> UdpOpens { get; } = new();

    public async ValueTask<Stream> ConnectTcpAsync(int targetId, CancellationToken ct)
    {
        TcpAttempts.Enqueue(targetId);
        if (!Targets.TryGetValue(targetId, out var endpoint))
        {
            throw new TargetUnreachableException($"target {targetId} is not known");
        }

        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new TargetUnreachableException($"{endpoint}: {e.SocketErrorCode}", e);
        }
    }

    public ValueTask<IEdgeUdpFlow> OpenUdpAsync(int targetId, CancellationToken ct)
    {
        UdpOpens.Enqueue(targetId);
        if (!Targets.TryGetValue(targetId, out var endpoint))
        {
            throw new TargetUnreachableException($"target {targetId} is not known");
        }

        var socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(endpoint);
        return ValueTask.FromResult<IEdgeUdpFlow>(new Flow(socket));
    }

    private sealed class Flow(Socket socket) : IEdgeUdpFlow
    {
        public async ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken ct) => await socket.SendAsync(datagram, SocketFlags.None, ct);

        public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken ct) => socket.ReceiveAsync(buffer, SocketFlags.None, ct);

        public void Dispose() => socket.Dispose();
    }
}

/// <summary>
/// A loopback TCP server: optionally reads a fixed-size or line-terminated prefix first (a PROXY header), then
/// echoes everything; when the client half-closes it writes <see cref="Trailer"/> and closes its side.
/// </summary>
internal sealed class TcpEchoServer : IDisposable
{
    public static readonly byte[] Trailer = "<eof>"u8.ToArray();

    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private readonly int _headerBytes;
    private readonly bool _headerLine;

    /// <param name="headerBytes">Bytes to read as a header before echoing (v2), or 0.</param>
    /// <param name="headerLine">Read a header up to and including CRLF before echoing (v1).</param>
    public TcpEchoServer(int headerBytes = 0, bool headerLine = false)
    {
        _headerBytes = headerBytes;
        _headerLine = headerLine;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        _ = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public ConcurrentQueue<byte[]> Headers { get; } = new();

    public int Accepted => Volatile.Read(ref _accepted);

    private int _accepted;

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptAsync(_stop.Token);
                Interlocked.Increment(ref _accepted);
                _ = ServeAsync(socket);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        var buffer = new byte[64 * 1024];
        try
        {
            if (_headerBytes > 0 || _headerLine)
            {
                var header = new List<byte>();
                var one = new byte[1];
                while (_headerLine ? !EndsWithCrLf(header) : header.Count < _headerBytes)
                {
                    if (await socket.ReceiveAsync(one, SocketFlags.None, _stop.Token) == 0)
                    {
                        return;
                    }

                    header.Add(one[0]);
                }

                Headers.Enqueue([.. header]);
            }

            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    await socket.SendAsync(Trailer, SocketFlags.None, _stop.Token);
                    socket.Shutdown(SocketShutdown.Send);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private static bool EndsWithCrLf(List<byte> bytes) => bytes.Count >= 2 && bytes[^2] == '\r' && bytes[^1] == '\n';
}

/// <summary>A loopback UDP server that sends every datagram back to its sender, and remembers the senders.</summary>
internal sealed class UdpEchoServer : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly CancellationTokenSource _stop = new();

    public UdpEchoServer()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _ = RunAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public ConcurrentDictionary<IPEndPoint, int> Senders { get; } = new();

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
    }

    private async Task RunAsync()
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                var sender = (IPEndPoint)result.RemoteEndPoint;
                Senders.AddOrUpdate(sender, 1, (_, n) => n + 1);
                await _socket.SendToAsync(buffer.AsMemory(0, result.ReceivedBytes), SocketFlags.None, sender, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }
}

/// <summary>Keeps what was logged, for the tests that check a message.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception)));
}

internal static class FreePort
{
    /// <summary>A port nothing listens on now (the kernel's pick, released at once).</summary>
    public static int Tcp()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    public static int Udp()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
