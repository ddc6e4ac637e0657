namespace Pangolin.Netstack.Tcp;

/// <summary>
/// A TCP connection as a <see cref="Stream"/> (what SocketsHttpHandler's ConnectCallback returns and YARP reads).
/// Reads return 0 once the peer has closed its side; <see cref="ShutdownSend"/> half-closes; Dispose closes.
/// </summary>
public sealed class TcpStream : Stream
{
    private readonly TcpConnection _connection;
    private int _disposed;

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

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _connection.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

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
