using System.Collections.Concurrent;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Peers;

namespace Pangolin.WireGuard.Device;

/// <summary>
/// One packet on its way through the device, in a buffer it owns. Pooled and reused: nothing is allocated per packet.
/// </summary>
internal sealed class PacketElement
{
    public PacketElement(int bufferSize) => Buffer = new byte[bufferSize];

    public byte[] Buffer { get; }

    /// <summary>Outbound: length of the plaintext IP packet at <see cref="Protocol.TransportHeaderSize"/>. Inbound: datagram length.</summary>
    public int Length { get; set; }

    /// <summary>Outbound, after encryption: the datagram length (header, padded ciphertext, tag).</summary>
    public int WireLength { get; set; }

    public ulong Counter { get; set; }

    public Keypair? Keypair { get; set; }

    public Peer? Peer { get; set; }

    public UdpEndpoint Source { get; set; }

    /// <summary>Set by encryption or decryption when the packet must not go on (failed authentication, disposed keys).</summary>
    public bool Failed { get; set; }

    public void Reset()
    {
        Length = 0;
        WireLength = 0;
        Counter = 0;
        Keypair = null;
        Peer = null;
        Source = default;
        Failed = false;
    }
}

/// <summary>
/// A bounded pool of elements: when all are in flight, the readers wait — back-pressure from the slowest stage to
/// the TUN and UDP readers instead of queues that grow without bound.
/// </summary>
internal sealed class PacketPool(int capacity, int bufferSize) : IDisposable
{
    private readonly ConcurrentBag<PacketElement> _free = [];
    private readonly SemaphoreSlim _available = new(capacity, capacity);
    private int _created;

    public int BufferSize { get; } = bufferSize;

    /// <summary>Blocks until an element is free (or the token is cancelled).</summary>
    public PacketElement Rent(CancellationToken cancellationToken)
    {
        _available.Wait(cancellationToken);
        return Take();
    }

    public bool TryRent(out PacketElement element)
    {
        if (!_available.Wait(0))
        {
            element = null!;
            return false;
        }
        element = Take();
        return true;
    }

    public void Return(PacketElement element)
    {
        element.Reset();
        _free.Add(element);
        _available.Release();
    }

    private PacketElement Take()
    {
        if (_free.TryTake(out var element))
        {
            return element;
        }
        Interlocked.Increment(ref _created);
        return new PacketElement(BufferSize);
    }

    public void Dispose() => _available.Dispose();
}
