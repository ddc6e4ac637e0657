using Microsoft.Extensions.Logging;
using Pangolin.Netstack;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;

namespace Pangolin.Tunnel;

/// <summary>
/// A WireGuard device and a userspace stack joined in memory, so that a host reaches the far side of a tunnel with
/// neither root nor a TUN device: decrypted packets go from the device straight into <see cref="NetworkStack.Receive"/>
/// on the device's own thread, and the stack's packets are queued to the device (and dropped, counted, when the
/// queue is full, as a NIC drops what its ring cannot hold).
/// </summary>
public sealed partial class UserspaceTunnel : IConfigurableDevice, IAsyncDisposable
{
    private readonly MemoryPacketInterface _interface;
    private readonly WireGuardDevice _device;
    private readonly DeviceLink _link;
    private readonly ILogger _logger;
    private readonly NetworkStack _stack;
    private int _disposed;

    public UserspaceTunnel(UserspaceTunnelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Addresses);
        ArgumentNullException.ThrowIfNull(options.Bind);
        if (options.PrivateKey.IsZero)
        {
            throw new ArgumentException("The tunnel needs a private key.", nameof(options));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(options.ListenPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.ListenPort, ushort.MaxValue);

        _logger = options.LoggerFactory.CreateLogger<UserspaceTunnel>();
        // The stack is made after the interface it sends through; the device writes nothing before Start.
        NetworkStack? stack = null;
        _interface = new MemoryPacketInterface(options.InterfaceName, options.Mtu, options.QueueCapacity, onWrite: packet => stack!.Receive(packet),
            onWriteBatch: begins =>
            {
                if (begins)
                {
                    stack!.BeginReceiveBatch();
                }
                else
                {
                    stack!.EndReceiveBatch();
                }
            });
        _link = new DeviceLink(_interface);
        // No Nagle: what crosses this stack is relayed data that a proxy should pass on at once, as proxies set TCP_NODELAY.
        // The device delivers only packets it has authenticated: their inner checksums need no second check, and the
        // segments of one read can be glued together before TCP sees them (GRO). Segments fill whole ChaCha20 blocks.
        stack = new NetworkStack(_link, options.StackOptions
            ?? new NetworkStackOptions
            {
                Time = options.Time, TcpNoDelay = true, LinkAuthenticatesPackets = true, CoalesceReceivedSegments = true,
                TcpSegmentAlignment = 64,
            });
        _stack = stack;
        try
        {
            foreach (var address in options.Addresses)
            {
                _stack.AddAddress(address);
            }
        }
        catch
        {
            _stack.Dispose();
            _interface.Dispose();
            throw;
        }
        var deviceOptions = options.Workers is { } workers
            ? new DeviceOptions { Time = options.Time, LoggerFactory = options.LoggerFactory, Workers = workers }
            : new DeviceOptions { Time = options.Time, LoggerFactory = options.LoggerFactory };
        _device = new WireGuardDevice(_interface, options.Bind, deviceOptions);
        _device.Configure(new DeviceUpdate { PrivateKey = options.PrivateKey, ListenPort = options.ListenPort });
        PublicKey = options.PrivateKey.PublicKey();
    }

    /// <summary>The public key that peers configure for this tunnel.</summary>
    public WgKey PublicKey { get; }

    /// <summary>The userspace stack inside the tunnel: listen, connect, bind and ping on the tunnel IPs.</summary>
    public NetworkStack Stack => _stack;

    /// <summary>The UDP port the device listens on: after <see cref="Start"/>, the one actually bound.</summary>
    public int ListenPort => _device.ListenPort;

    public string InterfaceName => _interface.Name;

    public int Mtu => _interface.Mtu;

    /// <summary>Packets the stack sent that were dropped: the queue to the device was full, or the tunnel was closing.</summary>
    public long DroppedToDevice => _link.Dropped;

    /// <summary>Opens the UDP socket and starts the device's threads; calling it again does nothing.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _device.Start();
        LogStarted(_logger, InterfaceName, ListenPort, PublicKey);
    }

    /// <summary>Changes the device (peers, port), with wireguard-go's `set` semantics.</summary>
    public void Configure(DeviceUpdate update)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _device.Configure(update);
    }

    /// <summary>The device's settings and each peer's endpoint, handshake and byte counters.</summary>
    public DeviceSnapshot GetConfiguration()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _device.GetConfiguration();
    }

    /// <summary>Stops the device first, so that no packet reaches the stack after it is closed, then the stack.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        try
        {
            await _device.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _stack.Dispose();
        }
        LogStopped(_logger, InterfaceName);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Tunnel {Name} listening on UDP port {Port} with public key {PublicKey}")]
    private static partial void LogStarted(ILogger logger, string name, int port, WgKey publicKey);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Tunnel {Name} stopped")]
    private static partial void LogStopped(ILogger logger, string name);

    /// <summary>
    /// The stack's way out: into the interface's queue that the device reads. TCP super-packets are queued whole, by
    /// reference, and cut into segments as the device reads them (segmentation offload).
    /// </summary>
    private sealed class DeviceLink(MemoryPacketInterface memory) : ISegmentationOffloadLink
    {
        private long _dropped;

        public int Mtu => memory.Mtu;

        public int MaxSegmentationSize => MemoryPacketInterface.MaxPacketSize;

        public long Dropped => Interlocked.Read(ref _dropped);

        public void SendSegmented(byte[] buffer, int length, int segmentSize)
        {
            try
            {
                if (memory.TryEnqueueSegmented(buffer, length, segmentSize))
                {
                    return;
                }
            }
            catch (ObjectDisposedException)
            {
                // The device is gone (the buffer went back to the pool all the same).
            }
            Interlocked.Increment(ref _dropped);
        }

        public void Send(ReadOnlySpan<byte> packet)
        {
            try
            {
                if (memory.TryEnqueue(packet))
                {
                    return;
                }
            }
            catch (ObjectDisposedException)
            {
                // The device is gone; the stack's last resets and timers have nowhere to go.
            }
            Interlocked.Increment(ref _dropped);
        }
    }
}
