namespace Pangolin.Netstack.Tcp;

/// <summary>
/// A TCP connection as a <see cref="Stream"/> (what SocketsHttpHandler's ConnectCallback returns and YARP reads).
/// Reads return 0 once the peer has closed its side; a zero-byte read waits for data (as on a socket);
/// <see cref="ShutdownSend"/> half-closes; Dispose closes.
/// </summary>
public sealed class TcpStream : Stream
{
    private readonly TcpConnection _connection;
    private int _disposed;
    private int _readTimeout = Timeout.Infinite;
    private int _writeTimeout = Timeout.Infinite;

    internal TcpStream(TcpConnection connection) => _connection = connection;

    internal TcpConnection Connection => _connection;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public System.Net.IPEndPoint LocalEndPoint => new(_connection.Key.LocalAddress.ToIPAddress(), _connection.Key.LocalPort);

    public System.Net.IPEndPoint RemoteEndPoint => new(_connection.Key.RemoteAddress.ToIPAddress(), _connection.Key.RemotePort);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _connection.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override bool CanTimeout => true;

    /// <summary>Milliseconds a synchronous <see cref="Read(byte[], int, int)"/> waits, as on a socket's stream (async reads take a token instead).</summary>
    public override int ReadTimeout
    {
        get => _readTimeout;
        set => _readTimeout = ValidTimeout(value);
    }

    /// <summary>Milliseconds a synchronous <see cref="Write(byte[], int, int)"/> waits for room.</summary>
    public override int WriteTimeout
    {
        get => _writeTimeout;
        set => _writeTimeout = ValidTimeout(value);
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_readTimeout == Timeout.Infinite)
        {
            return ReadAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }
        using var timeout = new CancellationTokenSource(_readTimeout);
        try
        {
            return ReadAsync(buffer.AsMemory(offset, count), timeout.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw TimedOut("read");
        }
    }

    private static int ValidTimeout(int value)
    {
        if (value <= 0 && value != Timeout.Infinite)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "A timeout is a positive number of milliseconds or Timeout.Infinite.");
        }
        return value;
    }

    private static IOException TimedOut(string operation) =>
        new($"The {operation} timed out.", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.TimedOut));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _connection.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        if (_writeTimeout == Timeout.Infinite)
        {
            WriteAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            return;
        }
        using var timeout = new CancellationTokenSource(_writeTimeout);
        try
        {
            WriteAsync(buffer.AsMemory(offset, count), timeout.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw TimedOut("write");
        }
    }

    /// <summary>TCP_NODELAY: small writes go at once instead of waiting for the previous one's ACK (Nagle off).</summary>
    public bool NoDelay
    {
        get => _connection.NoDelay;
        set => _connection.NoDelay = value;
    }

    /// <summary>Keepalive probing while the connection is idle; null turns it off.</summary>
    public TcpKeepAlive? KeepAlive
    {
        get => _connection.KeepAlive;
        set => _connection.KeepAlive = value;
    }

    /// <summary>Data goes out as soon as the windows allow; there is nothing to flush.</summary>
    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Sends a FIN after what was written; the peer's data can still be read (half-close).</summary>
    public void ShutdownSend() => _connection.ShutdownSend();

    /// <summary>
    /// Lends the bytes that have arrived, where they lie in the receive buffer, so that a relay can pass them on
    /// without copying them first: two pieces when they wrap around, <paramref name="second"/> often empty. They stay
    /// valid and unchanged until <see cref="ConsumeReceived"/>; the receive window opens only then. Returns how many
    /// bytes were lent, 0 when none are readable now: a zero-byte <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>
    /// waits for data, after which 0 here means the peer has ended its side.
    /// </summary>
    public int PeekReceived(out ReadOnlyMemory<byte> first, out ReadOnlyMemory<byte> second) =>
        _connection.PeekReceived(out first, out second);

    /// <summary>Frees the oldest <paramref name="count"/> of the bytes <see cref="PeekReceived"/> lent.</summary>
    public void ConsumeReceived(int count) => _connection.ConsumeReceived(count);

    /// <summary>
    /// Closes at once with a reset (RFC 9293 §3.10.4 ABORT, a socket closed with SO_LINGER 0): data not yet sent or
    /// read is discarded and the peer's next read fails. A relay uses it so an error on one side is not passed on
    /// as a clean end of stream. Dispose afterwards does nothing more.
    /// </summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _connection.Abort(new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionAborted), sendReset: true);
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _connection.Close();
        }
        base.Dispose(disposing);
    }
}
