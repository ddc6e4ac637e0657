using System.Collections.Concurrent;
using System.Net;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;

namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>
/// A UDP "network" in memory for deterministic protocol tests: datagrams between ports, with a tap that can
/// record, drop or rewrite every datagram (to replay packets, lose handshakes, or change a source address).
/// </summary>
public sealed class InMemoryNetwork
{
    private readonly ConcurrentDictionary<UdpEndpoint, InMemoryUdpPort> _ports = new();
    private int _nextHost = 1;

    /// <summary>Sees every datagram; return false to drop it.</summary>
    public Func<Datagram, bool>? Tap { get; set; }

    public ConcurrentQueue<Datagram> Log { get; } = new();

    public InMemoryUdpPort Open(int port, IPAddress? address = null)
    {
        address ??= IPAddress.Parse($"192.0.2.{Interlocked.Increment(ref _nextHost)}");
        var endpoint = UdpEndpoint.FromIPEndPoint(new IPEndPoint(address, port == 0 ? 40000 + _nextHost : port));
        var udp = new InMemoryUdpPort(this, endpoint);
        if (!_ports.TryAdd(endpoint, udp))
        {
            throw new IOException($"address in use: {endpoint}");
        }
        return udp;
    }

    internal void Close(InMemoryUdpPort port) => _ports.TryRemove(port.Endpoint, out _);

    internal void Deliver(UdpEndpoint from, UdpEndpoint to, ReadOnlySpan<byte> data)
    {
        var datagram = new Datagram(from, to, data.ToArray());
        Log.Enqueue(datagram);
        if (Tap is { } tap && !tap(datagram))
        {
            return;
        }
        if (_ports.TryGetValue(datagram.To, out var port))
        {
            port.Enqueue(datagram.From, datagram.Data);
        }
    }

    /// <summary>Injects a datagram as if <paramref name="from"/> had sent it (replays, spoofing, roaming).</summary>
    public void Inject(UdpEndpoint from, UdpEndpoint to, byte[] data)
    {
        if (_ports.TryGetValue(to, out var port))
        {
            port.Enqueue(from, data);
        }
    }
}

public sealed record Datagram(UdpEndpoint From, UdpEndpoint To, byte[] Data)
{
    public byte Type => Data.Length > 0 ? Data[0] : (byte)0;
}

public sealed class InMemoryUdpPort(InMemoryNetwork network, UdpEndpoint endpoint) : IUdpTransport
{
    private readonly BlockingCollection<(UdpEndpoint From, byte[] Data)> _inbox = new(4096);
    private readonly CancellationTokenSource _closed = new();

    public UdpEndpoint Endpoint { get; } = endpoint;

    /// <summary>The address this port sends from; a test changes it to make the device roam.</summary>
    public UdpEndpoint SendFrom { get; set; } = endpoint;

    public int Port => Endpoint.Port;

    public int BatchSize => 16;

    public int FwMark { get; private set; }

    internal void Enqueue(UdpEndpoint from, byte[] data) => _inbox.TryAdd((from, data));

    public int Receive(byte[][] buffers, int[] sizes, UdpEndpoint[] sources)
    {
        ObjectDisposedException.ThrowIf(_closed.IsCancellationRequested, this);
        (UdpEndpoint From, byte[] Data) item;
        try
        {
            item = _inbox.Take(_closed.Token);
        }
        catch (OperationCanceledException)
        {
            throw new ObjectDisposedException(nameof(InMemoryUdpPort));
        }
        var count = 0;
        while (true)
        {
            item.Data.CopyTo(buffers[count], 0);
            sizes[count] = item.Data.Length;
            sources[count] = item.From;
            count++;
            if (count == buffers.Length || !_inbox.TryTake(out item))
            {
                return count;
            }
        }
    }

    public void Send(byte[][] buffers, int[] offsets, int[] sizes, int count, UdpEndpoint destination)
    {
        ObjectDisposedException.ThrowIf(_closed.IsCancellationRequested, this);
        for (var i = 0; i < count; i++)
        {
            network.Deliver(SendFrom, destination, buffers[i].AsSpan(offsets[i], sizes[i]));
        }
    }

    public void SetFwMark(int mark) => FwMark = mark;

    public void Dispose()
    {
        network.Close(this);
        _closed.Cancel();
    }
}

/// <summary>A packet interface whose two sides are queues: the test injects packets and reads what the device delivers.</summary>
public sealed class QueuePacketInterface(string name = "test0", int mtu = 1420) : IPacketInterface
{
    private readonly BlockingCollection<byte[]> _toDevice = new(4096);
    private readonly CancellationTokenSource _closed = new();

    public string Name => name;

    public int Mtu => mtu;

    public int BatchSize => 16;

    public BlockingCollection<byte[]> Delivered { get; } = new();

    /// <summary>A packet "sent" by the host: the device reads it and tunnels it.</summary>
    public void Inject(byte[] packet) => _toDevice.Add(packet);

    public int Read(byte[][] buffers, int[] sizes, int offset)
    {
        byte[] packet;
        try
        {
            packet = _toDevice.Take(_closed.Token);
        }
        catch (OperationCanceledException)
        {
            throw new ObjectDisposedException(nameof(QueuePacketInterface));
        }
        var count = 0;
        while (true)
        {
            packet.CopyTo(buffers[count], offset);
            sizes[count] = packet.Length;
            count++;
            if (count == buffers.Length || !_toDevice.TryTake(out packet!))
            {
                return count;
            }
        }
    }

    public void Write(byte[][] buffers, int[] sizes, int offset, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Delivered.Add(buffers[i].AsSpan(offset, sizes[i]).ToArray());
        }
    }

    /// <summary>The next packet the device delivered, or null after the timeout.</summary>
    public byte[]? Next(TimeSpan? timeout = null) =>
        Delivered.TryTake(out var packet, timeout ?? TimeSpan.FromSeconds(5)) ? packet : null;

    public void Dispose() => _closed.Cancel();
}
