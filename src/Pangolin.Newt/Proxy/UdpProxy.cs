using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Pangolin.Netstack.Udp;
using UdpReceiveResult = Pangolin.Netstack.Udp.UdpReceiveResult;

namespace Pangolin.Newt.Proxy;

/// <summary>
/// Relays UDP between a tunnel socket (netstack or kernel, <see cref="IRelayNetwork"/>) and one target on the host's network. Each client address and port gets a
/// session with its own OS socket connected to the target, so replies find their way back to the right client. A
/// session closes after the idle timeout without a datagram either way; when the session limit is reached the
/// longest-idle session makes room for a new client.
/// </summary>
internal sealed class UdpProxy : IAsyncDisposable
{
    /// <summary>Largest datagram taken in either direction (a UDP payload is at most 65,507 bytes over IPv4, 65,527 over IPv6).</summary>
    internal const int MaxDatagram = 65_535;

    private readonly IRelayDatagramSocket _socket;
    private readonly ProxyCounters _counters;
    private readonly ProxyOptions _options;
    private readonly ILogger _logger;
    private readonly int _internalPort;
    private readonly Dictionary<IPEndPoint, Session> _sessions = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _receiveLoop = Task.CompletedTask;
    private bool _disposed;

    public UdpProxy(UdpSocket socket, string host, int port, ProxyCounters counters, ProxyOptions options)
        : this(new NetstackRelayNetwork.DatagramSocket(socket), host, port, counters, options)
    {
    }

    public UdpProxy(IRelayDatagramSocket socket, string host, int port, ProxyCounters counters, ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentNullException.ThrowIfNull(counters);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.UdpIdleTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.UdpMaxSessions, 1);
        _socket = socket;
        Host = host;
        Port = port;
        _counters = counters;
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<UdpProxy>();
        _internalPort = socket.LocalEndPoint.Port;
    }

    public IPEndPoint LocalEndPoint => _socket.LocalEndPoint;

    public string Host { get; }

    public int Port { get; }

    public int SessionCount
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>The clients with a session now.</summary>
    public IReadOnlyList<IPEndPoint> Clients
    {
        get
        {
            lock (_lock)
            {
                return [.. _sessions.Keys];
            }
        }
    }

    public void Start() => _receiveLoop = ReceiveLoopAsync();

    public async ValueTask DisposeAsync()
    {
        List<Session> sessions;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
        }
        // The port is free once this returns (before any await), so a replacing relay can bind it at once.
        _socket.Dispose();
        await _stop.CancelAsync();
        await _receiveLoop;
        lock (_lock)
        {
            sessions = [.. _sessions.Values];
        }
        foreach (var session in sessions)
        {
            Close(session);
        }
        await Task.WhenAll(sessions.Select(s => s.Loop));
        _stop.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        // One buffer for the listener's life: datagrams from the tunnel are handled one at a time.
        var buffer = ArrayPool<byte>.Shared.Rent(MaxDatagram);
        try
        {
            while (true)
            {
                UdpReceiveResult received;
                try
                {
                    received = await _socket.ReceiveFromAsync(buffer, _stop.Token);
                }
                catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
                {
                    return;
                }
                if (await GetOrOpenAsync(received.RemoteEndPoint) is not { } session)
                {
                    _counters.UdpDrop();
                    continue;
                }
                session.Touch(_options.Time);
                try
                {
                    await session.Upstream.SendAsync(buffer.AsMemory(0, received.Length), SocketFlags.None, _stop.Token);
                    _counters.UdpIn(received.Length);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // The session closed meanwhile (expired or evicted), or the host refused the send.
                    _counters.UdpDrop();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<Session?> GetOrOpenAsync(IPEndPoint client)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(client, out var existing))
            {
                return existing;
            }
        }

        var upstream = await ConnectAsync();
        if (upstream is null)
        {
            _counters.UdpOpenFailed();
            return null;
        }
        var session = new Session(client, upstream);
        session.Touch(_options.Time);
        Session? evicted = null;
        lock (_lock)
        {
            if (_disposed)
            {
                upstream.Dispose();
                return null;
            }
            if (_sessions.Count >= _options.UdpMaxSessions)
            {
                evicted = _sessions.Values.MinBy(s => s.LastActivity);
            }
            _sessions.Add(client, session);
        }
        if (evicted is not null && Close(evicted))
        {
            _counters.UdpSessionEvicted();
            UdpProxyLog.Evicted(_logger, _internalPort, evicted.Client, _options.UdpMaxSessions);
        }
        _counters.UdpOpened();
        UdpProxyLog.Opened(_logger, _internalPort, client, Host, Port);
        session.Timer = _options.Time.CreateTimer(OnIdleTimer, session, _options.UdpIdleTimeout, Timeout.InfiniteTimeSpan);
        session.Loop = SessionLoopAsync(session);
        return session;
    }

    private async Task<Socket?> ConnectAsync()
    {
        IPAddress? address;
        if (!IPAddress.TryParse(Host, out address))
        {
            try
            {
                var addresses = await Dns.GetHostAddressesAsync(Host, _stop.Token);
                // IPv4 first, as Go's resolver orders them for a "udp" dial: "localhost" should mean 127.0.0.1.
                address = addresses.OrderBy(a => a.AddressFamily != AddressFamily.InterNetwork).FirstOrDefault();
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ArgumentException)
            {
                address = null;
            }
            if (address is null)
            {
                UdpProxyLog.CannotResolve(_logger, _internalPort, Host);
                return null;
            }
        }
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Connect(new IPEndPoint(address, Port));
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            UdpProxyLog.CannotConnect(_logger, _internalPort, Host, Port, e.SocketErrorCode);
            return null;
        }
    }

    private async Task SessionLoopAsync(Session session)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                // Wait for a reply without a buffer: a zero-byte peek leaves the datagram queued, so an idle session
                // holds no memory (a zero-byte read without MSG_PEEK would discard the datagram).
                await session.Upstream.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek);
                var buffer = ArrayPool<byte>.Shared.Rent(MaxDatagram);
                try
                {
                    var length = await session.Upstream.ReceiveAsync(buffer, SocketFlags.None);
                    session.Touch(_options.Time);
                    try
                    {
                        _socket.SendTo(buffer.AsSpan(0, length), session.Client);
                        _counters.UdpOut(length);
                    }
                    catch (SocketException)
                    {
                        _counters.UdpDrop();
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException { SocketErrorCode: SocketError.OperationAborted })
        {
            // Closed: expired, evicted, or the proxy is stopping (the tunnel socket or the upstream one).
        }
        catch (SocketException e)
        {
            // Usually an ICMP error from the target (nothing listening there): close, as upstream does; the
            // client's next datagram opens a new session.
            UdpProxyLog.TargetRefused(_logger, _internalPort, session.Client, Host, Port, e.SocketErrorCode);
        }
        finally
        {
            Close(session);
        }
    }

    private void OnIdleTimer(object? state)
    {
        var session = (Session)state!;
        var idle = _options.Time.GetElapsedTime(session.LastActivity);
        if (idle < _options.UdpIdleTimeout)
        {
            // Traffic since the timer was set: wait out the rest rather than re-arm the timer per datagram.
            try
            {
                session.Timer?.Change(_options.UdpIdleTimeout - idle, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Closed meanwhile.
            }
            return;
        }
        if (Close(session))
        {
            _counters.UdpSessionExpired();
            UdpProxyLog.Expired(_logger, _internalPort, session.Client, _options.UdpIdleTimeout);
        }
    }

    /// <summary>Closes a session once; false when it was already closed.</summary>
    private bool Close(Session session)
    {
        lock (_lock)
        {
            if (session.Closed)
            {
                return false;
            }
            session.Closed = true;
            if (_sessions.TryGetValue(session.Client, out var current) && current == session)
            {
                _sessions.Remove(session.Client);
            }
        }
        session.Timer?.Dispose();
        session.Upstream.Dispose();
        _counters.UdpClosed();
        return true;
    }

    private sealed class Session(IPEndPoint client, Socket upstream)
    {
        private long _lastActivity;

        public IPEndPoint Client { get; } = client;

        public Socket Upstream { get; } = upstream;

        /// <summary>Timestamp (the options' clock) of the last datagram either way.</summary>
        public long LastActivity => Volatile.Read(ref _lastActivity);

        public ITimer? Timer { get; set; }

        public Task Loop { get; set; } = Task.CompletedTask;

        /// <summary>Guarded by the proxy's lock.</summary>
        public bool Closed { get; set; }

        public void Touch(TimeProvider time) => Volatile.Write(ref _lastActivity, time.GetTimestamp());
    }
}

internal static partial class UdpProxyLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "UDP {InternalPort}: session for {Client} to {Host}:{Port}")]
    public static partial void Opened(ILogger logger, int internalPort, IPEndPoint client, string host, int port);

    [LoggerMessage(Level = LogLevel.Debug, Message = "UDP {InternalPort}: session for {Client} closed after {Idle} idle")]
    public static partial void Expired(ILogger logger, int internalPort, IPEndPoint client, TimeSpan idle);

    [LoggerMessage(Level = LogLevel.Information, Message = "UDP {InternalPort}: {Max} sessions; closed the longest idle ({Client}) for a new client")]
    public static partial void Evicted(ILogger logger, int internalPort, IPEndPoint client, int max);

    [LoggerMessage(Level = LogLevel.Warning, Message = "UDP {InternalPort}: cannot resolve {Host}; datagram dropped")]
    public static partial void CannotResolve(ILogger logger, int internalPort, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "UDP {InternalPort}: cannot open a socket to {Host}:{Port} ({Reason}); datagram dropped")]
    public static partial void CannotConnect(ILogger logger, int internalPort, string host, int port, SocketError reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "UDP {InternalPort}: {Host}:{Port} answered {Client}'s session with {Reason}; session closed")]
    public static partial void TargetRefused(ILogger logger, int internalPort, IPEndPoint client, string host, int port, SocketError reason);
}
