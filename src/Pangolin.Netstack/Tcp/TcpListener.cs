using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;

namespace Pangolin.Netstack.Tcp;

/// <summary>
/// A listening socket (RFC 9293 LISTEN): takes SYNs for its port, keeps at most <c>backlog</c> half-open
/// connections (further SYNs are dropped, so the peer retries, as a kernel does under a SYN flood without cookies)
/// and queues established ones for <see cref="AcceptAsync"/>.
/// </summary>
public sealed class TcpListener : IDisposable
{
    private readonly NetworkStack _stack;
    private readonly int _backlog;
    private readonly Channel<TcpConnection> _accepted;
    private readonly ConcurrentDictionary<TcpConnection, bool> _halfOpen = new();
    private int _disposed;

    internal TcpListener(NetworkStack stack, IPEndPoint local, int backlog)
    {
        _stack = stack;
        LocalEndPoint = local;
        _backlog = backlog;
        LocalAddress = Ip.IpAddressBytes.From(local.Address);
        _accepted = Channel.CreateBounded<TcpConnection>(new BoundedChannelOptions(backlog) { FullMode = BoundedChannelFullMode.Wait, SingleWriter = false });
    }

    public IPEndPoint LocalEndPoint { get; }

    internal Ip.IpAddressBytes LocalAddress { get; }

    /// <summary>Waits for the next established connection.</summary>
    public async ValueTask<Stream> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return new TcpStream(connection);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(TcpListener));
        }
    }

    internal bool Accepts(bool isIPv6, Ip.IpAddressBytes destination) =>
        LocalAddress.IsUnspecified ? !isIPv6 || !LocalAddress.IsIPv4 : LocalAddress == destination;

    internal void OnSyn(ConnectionKey key, in TcpSegmentView syn)
    {
        if (Volatile.Read(ref _disposed) != 0 || _halfOpen.Count >= _backlog)
        {
            return;
        }
        var connection = TcpConnection.FromSyn(_stack, this, key, syn);
        if (!_stack.AddConnection(connection))
        {
            connection.Abort(new IOException("duplicate connection"), sendReset: false);
            return;
        }
        _halfOpen[connection] = true;
    }

    internal void Established(TcpConnection connection)
    {
        _halfOpen.TryRemove(connection, out _);
        if (!_accepted.Writer.TryWrite(connection))
        {
            // The accept queue is full: refuse rather than hold a connection nobody will take.
            connection.Abort(new IOException("the accept queue is full"), sendReset: true);
        }
    }

    internal void Forget(TcpConnection connection) => _halfOpen.TryRemove(connection, out _);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stack.Unlisten(this);
        _accepted.Writer.TryComplete();
        while (_accepted.Reader.TryRead(out var connection))
        {
            connection.Abort(new ObjectDisposedException(nameof(TcpListener)), sendReset: true);
        }
        foreach (var connection in _halfOpen.Keys)
        {
            connection.Abort(new ObjectDisposedException(nameof(TcpListener)), sendReset: true);
        }
    }
}
