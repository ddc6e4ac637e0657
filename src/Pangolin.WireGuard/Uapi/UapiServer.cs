using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.WireGuard.Uapi;

/// <summary>
/// wireguard-go's configuration socket: a Unix stream socket at &lt;directory&gt;/&lt;interface&gt;.sock through which
/// `wg` reads (<c>get=1</c>) and changes (<c>set=1</c>) a device, so `wg show`, `wg set` and `wg setconf` work on
/// our device exactly as on wireguard-go's.
/// </summary>
/// <remarks>
/// <para>As wireguard-go (ipc/uapi_unix.go): the directory is created 0755, the socket is 0700 (wireguard-go binds
/// under umask 077), a socket that another process still answers on is left alone and Start fails, a stale one is
/// replaced. Each connection runs operations until end of stream; each operation is answered with the get text
/// and/or <c>errno=N</c> and an empty line.</para>
/// <para>Unlike wireguard-go, a failed operation is read to its empty line before it is answered, so the connection
/// stays in step and can carry the next operation; and the bounds in <see cref="UapiServerOptions"/> (line and
/// request size, connection count, timeouts) keep a slow or hostile client from blocking others or growing memory.
/// Device calls are serialized, as wireguard-go's ipcMutex does; a request is read in full before the device is
/// touched, so a slow client holds no lock.</para>
/// <para>Nothing logged contains a key: messages name keys, never their values.</para>
/// </remarks>
public sealed partial class UapiServer : IAsyncDisposable
{
    /// <summary>E2BIG: the answer to a request over <see cref="UapiServerOptions.MaxRequestBytes"/>.</summary>
    private const int RequestTooLargeErrno = 7;

    /// <summary>IFNAMSIZ - 1: `wg` refuses longer interface names.</summary>
    private const int MaxInterfaceNameLength = 15;

    private readonly Socket _listener;
    private readonly IConfigurableDevice _device;
    private readonly UapiServerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _deviceLock = new();
    private readonly ConcurrentDictionary<long, Connection> _connections = new();
    private readonly Task _acceptLoop;
    private long _nextConnectionId;
    private int _disposed;

    private UapiServer(string interfaceName, string socketPath, Socket listener, IConfigurableDevice device, UapiServerOptions options, ILogger logger)
    {
        InterfaceName = interfaceName;
        SocketPath = socketPath;
        _listener = listener;
        _device = device;
        _options = options;
        _logger = logger;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public string InterfaceName { get; }

    /// <summary>&lt;directory&gt;/&lt;interface&gt;.sock.</summary>
    public string SocketPath { get; }

    /// <summary>Connections being served now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Listens at &lt;<paramref name="socketDirectory"/>&gt;/&lt;<paramref name="interfaceName"/>&gt;.sock.</summary>
    /// <exception cref="IOException">Another process answers on that socket, or it cannot be created.</exception>
    public static UapiServer Start(string interfaceName, IConfigurableDevice device, string socketDirectory = UapiServerOptions.DefaultSocketDirectory, ILogger? logger = null) =>
        Start(interfaceName, device, new UapiServerOptions { SocketDirectory = socketDirectory }, logger);

    /// <summary>Listens at &lt;<see cref="UapiServerOptions.SocketDirectory"/>&gt;/&lt;<paramref name="interfaceName"/>&gt;.sock.</summary>
    /// <exception cref="IOException">Another process answers on that socket, or it cannot be created.</exception>
    public static UapiServer Start(string interfaceName, IConfigurableDevice device, UapiServerOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        ValidateInterfaceName(interfaceName);
        options.Validate();
        logger ??= NullLogger.Instance;

        var socketPath = Path.Combine(options.SocketDirectory, interfaceName + ".sock");
        var listener = OpenListener(options.SocketDirectory, socketPath);
        Log.Listening(logger, interfaceName, socketPath);
        return new UapiServer(interfaceName, socketPath, listener, device, options, logger);
    }

    /// <summary>Stops accepting, closes every connection (an operation being applied finishes first) and removes
    /// the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);

        var connections = _connections.Values.ToArray();
        foreach (var connection in connections)
        {
            connection.Socket.Dispose();
        }
        await Task.WhenAll(connections.Select(c => c.Serving ?? Task.CompletedTask)).ConfigureAwait(false);

        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException e)
        {
            Log.RemoveFailed(_logger, InterfaceName, SocketPath, e);
        }
        catch (UnauthorizedAccessException e)
        {
            Log.RemoveFailed(_logger, InterfaceName, SocketPath, e);
        }
        _stopping.Dispose();
        Log.Stopped(_logger, InterfaceName);
    }

    private static void ValidateInterfaceName(string interfaceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        if (interfaceName.Length > MaxInterfaceNameLength || interfaceName is "." or ".."
            || interfaceName.AsSpan().ContainsAny('/', '\0') || interfaceName.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException(
                $"An interface name is 1 to {MaxInterfaceNameLength} characters without '/' or white space.", nameof(interfaceName));
        }
    }

    private static Socket OpenListener(string directory, string socketPath)
    {
        if (OperatingSystem.IsWindows())
        {
            // wireguard-go serves UAPI through a named pipe there (ipc/uapi_windows.go); not ours to do.
            throw new PlatformNotSupportedException("The UAPI Unix socket is for Unix systems.");
        }
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        var endPoint = new UnixDomainSocketEndPoint(socketPath);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var bound = false;
        try
        {
            try
            {
                socket.Bind(endPoint);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // As wireguard-go: if a process still answers there, the interface is taken; if not, the file is
                // what a crashed process left behind, and we take its place.
                if (IsAnswering(endPoint))
                {
                    throw new IOException($"{socketPath} is in use: another process serves this interface.", e);
                }
                File.Delete(socketPath);
                socket.Bind(endPoint);
            }
            bound = true;

            // wireguard-go binds under umask 077, so only the owner (root) can configure the device. We set the mode
            // before listen(): until then nobody can connect, so there is no window with a wider mode.
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            socket.Listen(128);
            return socket;
        }
        catch
        {
            socket.Dispose();
            if (bound)
            {
                File.Delete(socketPath);
            }
            throw;
        }
    }

    private static bool IsAnswering(UnixDomainSocketEndPoint endPoint)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        // Non-blocking, so a live server whose backlog is full counts as live instead of stalling Start.
        probe.Blocking = false;
        try
        {
            probe.Connect(endPoint);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task AcceptLoopAsync()
    {
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e)
            {
                if (stopping.IsCancellationRequested)
                {
                    break;
                }
                // Out of descriptors, typically: back off briefly instead of spinning on accept.
                Log.AcceptFailed(_logger, InterfaceName, e);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }

            if (_connections.Count >= _options.MaxConnections)
            {
                Log.TooManyConnections(_logger, InterfaceName, _options.MaxConnections);
                client.Dispose();
                continue;
            }
            var id = ++_nextConnectionId;
            var connection = new Connection(client);
            _connections[id] = connection;
            connection.Serving = Task.Run(() => ServeAsync(id, connection));
        }
    }

    private async Task ServeAsync(long id, Connection connection)
    {
        try
        {
            var stream = new NetworkStream(connection.Socket, ownsSocket: true);
            await using (stream.ConfigureAwait(false))
            {
                var reader = new UapiLineReader(stream, _options.MaxLineLength);
                while (true)
                {
                    using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                    deadline.CancelAfter(_options.IdleTimeout);
                    var (status, operation) = await reader.ReadLineAsync(deadline.Token).ConfigureAwait(false);
                    if (status == UapiLineStatus.EndOfStream)
                    {
                        return;
                    }

                    // From the first line on, the operation has RequestTimeout to finish, answer included.
                    deadline.CancelAfter(_options.RequestTimeout);
                    var answer = status == UapiLineStatus.Line
                        ? operation switch
                        {
                            "get=1" => await GetAsync(reader, deadline.Token).ConfigureAwait(false),
                            "set=1" => await SetAsync(reader, deadline.Token).ConfigureAwait(false),
                            _ => await RejectAsync(reader, operation, deadline.Token).ConfigureAwait(false),
                        }
                        : await RejectAsync(reader, operation: null, deadline.Token).ConfigureAwait(false);
                    if (answer is null)
                    {
                        // The client closed in the middle of an operation: nothing was applied, nobody to answer.
                        return;
                    }
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), deadline.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            Log.ConnectionTimedOut(_logger, InterfaceName);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The client went away, or we are stopping.
        }
        finally
        {
            _connections.TryRemove(id, out _);
        }
    }

    private async ValueTask<string?> GetAsync(UapiLineReader reader, CancellationToken cancellationToken)
    {
        // wireguard-go wants get=1 followed directly by the empty line.
        var (complete, extraLines) = await SkipToEndAsync(reader, cancellationToken).ConfigureAwait(false);
        if (!complete)
        {
            return null;
        }
        if (extraLines)
        {
            Log.Rejected(_logger, InterfaceName, "get=1 must be followed by an empty line.", ConfigurationException.InvalidArgument);
            return UapiProtocol.FormatErrno(ConfigurationException.InvalidArgument);
        }

        DeviceSnapshot snapshot;
        try
        {
            lock (_deviceLock)
            {
                snapshot = _device.GetConfiguration();
            }
        }
        catch (ConfigurationException e)
        {
            Log.DeviceRefused(_logger, InterfaceName, "get", e.Message, e.Errno);
            return UapiProtocol.FormatErrno(e.Errno);
        }
#pragma warning disable CA1031 // Any device failure becomes wireguard-go's "unknown" errno rather than a dropped connection.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.DeviceFailed(_logger, InterfaceName, "get", e);
            return UapiProtocol.FormatErrno(UapiProtocol.UnknownErrno);
        }
        return UapiProtocol.FormatGetResponse(snapshot);
    }

    private async ValueTask<string?> SetAsync(UapiLineReader reader, CancellationToken cancellationToken)
    {
        var parser = new UapiSetParser();
        var start = reader.BytesRead;
        ConfigurationException? error = null;
        while (true)
        {
            var (status, line) = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (status == UapiLineStatus.EndOfStream)
            {
                return null;
            }
            if (status == UapiLineStatus.Line && line.Length == 0)
            {
                break;
            }
            if (error is not null)
            {
                // wireguard-go stops at the first bad line; we read on to the end of the request, keeping nothing.
                continue;
            }
            if (reader.BytesRead - start > _options.MaxRequestBytes)
            {
                error = new ConfigurationException($"The request is over {_options.MaxRequestBytes} bytes.", RequestTooLargeErrno);
                continue;
            }
            if (status == UapiLineStatus.TooLong)
            {
                error = new ConfigurationException($"A line is over {_options.MaxLineLength} bytes.", ConfigurationException.InvalidArgument);
                continue;
            }
            try
            {
                parser.AddLine(line);
            }
            catch (ConfigurationException e)
            {
                error = e;
            }
        }

        if (error is not null)
        {
            Log.Rejected(_logger, InterfaceName, error.Message, error.Errno);
            return UapiProtocol.FormatErrno(error.Errno);
        }

        var update = parser.Update;
        try
        {
            lock (_deviceLock)
            {
                _device.Configure(update);
            }
        }
        catch (ConfigurationException e)
        {
            Log.DeviceRefused(_logger, InterfaceName, "set", e.Message, e.Errno);
            return UapiProtocol.FormatErrno(e.Errno);
        }
#pragma warning disable CA1031 // Any device failure becomes wireguard-go's "unknown" errno rather than a dropped connection.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.DeviceFailed(_logger, InterfaceName, "set", e);
            return UapiProtocol.FormatErrno(UapiProtocol.UnknownErrno);
        }
        Log.Configured(_logger, InterfaceName, update.Peers.Count, update.ReplacePeers);
        return UapiProtocol.FormatErrno(0);
    }

    private async ValueTask<string?> RejectAsync(UapiLineReader reader, string? operation, CancellationToken cancellationToken)
    {
        // wireguard-go hangs up on an unknown operation; we answer EINVAL once the request's empty line arrives
        // (an empty first line is itself that empty line), so a client that frames its requests stays in step.
        if (operation is not "")
        {
            var (complete, _) = await SkipToEndAsync(reader, cancellationToken).ConfigureAwait(false);
            if (!complete)
            {
                return null;
            }
        }
        var what = operation is null ? "An over-long operation line" : $"The operation {UapiSetParser.Quote(operation)}";
        Log.Rejected(_logger, InterfaceName, $"{what} is not get=1 or set=1.", ConfigurationException.InvalidArgument);
        return UapiProtocol.FormatErrno(ConfigurationException.InvalidArgument);
    }

    /// <summary>Reads up to the empty line that ends a request, keeping nothing. Complete is false at end of
    /// stream; ExtraLines tells whether anything came before the empty line.</summary>
    private static async ValueTask<(bool Complete, bool ExtraLines)> SkipToEndAsync(UapiLineReader reader, CancellationToken cancellationToken)
    {
        var extra = false;
        while (true)
        {
            var (status, line) = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            switch (status)
            {
                case UapiLineStatus.EndOfStream:
                    return (false, extra);
                case UapiLineStatus.Line when line.Length == 0:
                    return (true, extra);
                default:
                    extra = true;
                    break;
            }
        }
    }

    private sealed class Connection(Socket socket)
    {
        public Socket Socket { get; } = socket;

        public Task? Serving { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "UAPI for {Interface} listening on {Path}")]
        public static partial void Listening(ILogger logger, string @interface, string path);

        [LoggerMessage(Level = LogLevel.Information, Message = "UAPI for {Interface} stopped")]
        public static partial void Stopped(ILogger logger, string @interface);

        [LoggerMessage(Level = LogLevel.Warning, Message = "UAPI for {Interface}: could not remove {Path}")]
        public static partial void RemoveFailed(ILogger logger, string @interface, string path, Exception exception);

        [LoggerMessage(Level = LogLevel.Warning, Message = "UAPI for {Interface}: accept failed")]
        public static partial void AcceptFailed(ILogger logger, string @interface, Exception exception);

        [LoggerMessage(Level = LogLevel.Warning, Message = "UAPI for {Interface}: {Max} connections already open, closing a new one")]
        public static partial void TooManyConnections(ILogger logger, string @interface, int max);

        [LoggerMessage(Level = LogLevel.Debug, Message = "UAPI for {Interface}: closing a connection that sat idle or took too long")]
        public static partial void ConnectionTimedOut(ILogger logger, string @interface);

        [LoggerMessage(Level = LogLevel.Warning, Message = "UAPI for {Interface}: request rejected (errno {Errno}): {Reason}")]
        public static partial void Rejected(ILogger logger, string @interface, string reason, int errno);

        [LoggerMessage(Level = LogLevel.Warning, Message = "UAPI for {Interface}: the device refused a {Operation} (errno {Errno}): {Reason}")]
        public static partial void DeviceRefused(ILogger logger, string @interface, string operation, string reason, int errno);

        [LoggerMessage(Level = LogLevel.Error, Message = "UAPI for {Interface}: the device failed a {Operation}")]
        public static partial void DeviceFailed(ILogger logger, string @interface, string operation, Exception exception);

        [LoggerMessage(Level = LogLevel.Debug, Message = "UAPI for {Interface}: applied a set request ({Peers} peer entries, replace peers: {ReplacePeers})")]
        public static partial void Configured(ILogger logger, string @interface, int peers, bool replacePeers);
    }
}
