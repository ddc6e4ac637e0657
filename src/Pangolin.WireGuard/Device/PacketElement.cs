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
/// the TUN and UDP readers instead of queues that grow without bound. Renting and returning are lock-free (a count
/// and a bag); only a reader that finds none free takes a lock, to sleep until one comes back.
/// </summary>
internal sealed class PacketPool(int capacity, int bufferSize) : IDisposable
{
    private readonly ConcurrentBag<PacketElement> _free = [];
    private readonly object _gate = new();
    private int _available = capacity;
    private int _waiters;
    private int _created;

    public int BufferSize { get; } = bufferSize;

    /// <summary>Blocks until an element is free (or the token is cancelled).</summary>
    public PacketElement Rent(CancellationToken cancellationToken)
    {
        if (TryRent(out var element))
        {
            return element;
        }
        using var wake = cancellationToken.UnsafeRegister(static gate =>
        {
            lock (gate!)
            {
                Monitor.PulseAll(gate);
            }
        }, _gate);
        lock (_gate)
        {
            _waiters++;
            try
            {
                // A return after the count was read but before the wait pulses under this lock: nothing is missed.
                while (!TryRent(out element))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Monitor.Wait(_gate);
                }
                return element;
            }
            finally
            {
                _waiters--;
            }
        }
    }

    public bool TryRent(out PacketElement element)
    {
        var available = Volatile.Read(ref _available);
        while (available > 0)
        {
            var seen = Interlocked.CompareExchange(ref _available, available - 1, available);
            if (seen == available)
            {
                element = Take();
                return true;
            }
            available = seen;
        }
        element = null!;
        return false;
    }

    public void Return(PacketElement element)
    {
        element.Reset();
        _free.Add(element);
        Interlocked.Increment(ref _available);
        if (Volatile.Read(ref _waiters) > 0)
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }
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

    public void Dispose()
    {
        lock (_gate)
        {
            Monitor.PulseAll(_gate);
        }
    }
}
