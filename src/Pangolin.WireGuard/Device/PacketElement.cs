using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Peers;

namespace Pangolin.WireGuard.Device;

/// <summary>
/// One packet on its way through the device, in a buffer it owns. The crypto workers complete it; the peer's
/// sequential sender or receiver awaits it in order. Pooled and reused: nothing is allocated per packet.
/// </summary>
internal sealed class PacketElement : IValueTaskSource<bool>
{
    private ManualResetValueTaskSourceCore<bool> _done = new() { RunContinuationsAsynchronously = false };

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

    /// <summary>Set by a worker when the packet must not go on (failed authentication, disposed keys).</summary>
    public bool Failed { get; set; }

    public void Complete() => _done.SetResult(true);

    public ValueTask<bool> WaitAsync() => new(this, _done.Version);

    public void Reset()
    {
        _done.Reset();
        Length = 0;
        WireLength = 0;
        Counter = 0;
        Keypair = null;
        Peer = null;
        Source = default;
        Failed = false;
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _done.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _done.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _done.OnCompleted(continuation, state, token, flags);
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
