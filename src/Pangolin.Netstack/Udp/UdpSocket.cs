using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Pangolin.Netstack.Ip;

namespace Pangolin.Netstack.Udp;

/// <summary>What one receive returns: the datagram's length in the caller's buffer and where it came from.</summary>
public readonly record struct UdpReceiveResult(int Length, IPEndPoint RemoteEndPoint);

/// <summary>
/// A UDP socket on the stack. Received datagrams wait in a bounded queue (a slow reader loses the newest, as with a
/// full kernel socket buffer); sending is immediate. Thread-safe; one reader at a time.
/// </summary>
public sealed class UdpSocket : IDisposable
{
    private readonly NetworkStack _stack;
    private readonly Channel<Datagram> _received;
    private readonly IpAddressBytes _localAddress;
    private long _dropped;
    private int _disposed;

    internal UdpSocket(NetworkStack stack, IPEndPoint local, int queueLength)
    {
        _stack = stack;
        LocalEndPoint = local;
        _localAddress = IpAddressBytes.From(local.Address);
        _received = Channel.CreateBounded<Datagram>(new BoundedChannelOptions(queueLength)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite refuses when full: the datagram is dropped and counted
            SingleReader = false,
            SingleWriter = true,
        });
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Datagrams dropped because the queue was full.</summary>
    public long DroppedDatagrams => Interlocked.Read(ref _dropped);

    /// <summary>Waits for a datagram and copies it into <paramref name="buffer"/> (truncated if longer, as recvfrom does).</summary>
    public async ValueTask<UdpReceiveResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Datagram datagram;
        try
        {
            datagram = await _received.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(UdpSocket));
        }
        try
        {
            var length = Math.Min(buffer.Length, datagram.Length);
            datagram.Data.AsSpan(0, length).CopyTo(buffer.Span);
            return new UdpReceiveResult(length, new IPEndPoint(datagram.Source.ToIPAddress(), datagram.SourcePort));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(datagram.Data);
        }
    }

    /// <summary>Sends one datagram; one longer than the link's MTU goes in fragments (at most 65,507 bytes over IPv4, 65,527 over IPv6).</summary>
    public void SendTo(ReadOnlySpan<byte> payload, IPEndPoint remote)
    {
        ArgumentNullException.ThrowIfNull(remote);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var destination = IpAddressBytes.From(remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address);
        var source = _localAddress;
        if ((source.IsUnspecified || source.IsIPv4 != destination.IsIPv4) && !_stack.TryChooseSource(destination, out source))
        {
            throw new SocketException((int)SocketError.NetworkUnreachable);
        }
        if (source.IsIPv4 != destination.IsIPv4)
        {
            throw new SocketException((int)SocketError.AddressFamilyNotSupported);
        }
        _stack.SendUdp(source, LocalEndPoint.Port, destination, remote.Port, payload);
    }

    public ValueTask SendToAsync(ReadOnlyMemory<byte> payload, IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        SendTo(payload.Span, remote);
        return ValueTask.CompletedTask;
    }

    /// <summary>Whether a datagram to this port is for this socket (its bound address and family).</summary>
    internal bool Accepts(in IpPacket ip)
    {
        if (_localAddress.IsUnspecified)
        {
            // 0.0.0.0 takes IPv4 only; :: takes both (not IPV6_V6ONLY).
            return ip.IsIPv6 ? !_localAddress.IsIPv4 : true;
        }
        return _localAddress == IpAddressBytes.From(ip.Destination);
    }

    internal void Deliver(IpAddressBytes source, int sourcePort, ReadOnlySpan<byte> payload)
    {
        var data = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
        payload.CopyTo(data);
        if (!_received.Writer.TryWrite(new Datagram(data, payload.Length, source, sourcePort)))
        {
            ArrayPool<byte>.Shared.Return(data);
            Interlocked.Increment(ref _dropped);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stack.Unbind(this);
        _received.Writer.TryComplete();
        while (_received.Reader.TryRead(out var datagram))
        {
            ArrayPool<byte>.Shared.Return(datagram.Data);
        }
    }

    private readonly record struct Datagram(byte[] Data, int Length, IpAddressBytes Source, int SourcePort);
}
