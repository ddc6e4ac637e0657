using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pangolin.WireGuard.AllowedIps;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Peers;

namespace Pangolin.WireGuard.Device;

/// <summary>Tuning and dependencies of a device; the defaults suit a server.</summary>
public sealed class DeviceOptions
{
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Jitter for handshake retransmission (§6.1); injectable for tests.</summary>
    public Random Random { get; init; } = Random.Shared;

    /// <summary>
    /// Threads that help the readers encrypt and decrypt large batches (fork-join; small batches never wake them).
    /// 0 keeps all the work on the reader threads. The interface and UDP readers already keep two cores busy when
    /// traffic flows both ways, so helpers are for the cores beyond those two.
    /// </summary>
    public int Workers { get; init; } = Math.Max(0, Environment.ProcessorCount - 2);

    /// <summary>Packets in flight at most; when all are, the readers wait (back-pressure).</summary>
    public int PoolSize { get; init; } = 4096;

    public int HandshakeQueueSize { get; init; } = 1024;
}

/// <summary>
/// A WireGuard device: moves IP packets between a packet interface (TUN or in-memory) and one UDP socket,
/// encrypting and decrypting on several cores while each peer's packets keep their order: a reader thread takes a
/// batch, has it encrypted or decrypted (with helpers, fork-join) and sends or delivers it in order itself, so that
/// no packet waits in a queue for another thread to wake up. The structure follows
/// wireguard-go (device, peer, noise, timers); split by concern into WireGuardDevice.*.cs.
/// </summary>
public sealed partial class WireGuardDevice : IConfigurableDevice, IAsyncDisposable
{
    private readonly IPacketInterface _interface;
    private readonly Func<int, IUdpTransport> _bind;
    private readonly Lock _configLock = new();
    private readonly Lock _interfaceWriteLock = new();
    private readonly Dictionary<WgKey, Peer> _peers = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly ILogger _logger;
    private readonly List<Task> _workers = [];
    private IUdpTransport? _transport;
    private Thread? _udpThread;
    private Thread? _interfaceThread;
    private int _listenPort;
    private int _mtu;
    private long _mtuCheckedAt;
    private int _fwMark;
    private bool _started;

    public WireGuardDevice(IPacketInterface packetInterface, Func<int, IUdpTransport> bind, DeviceOptions? options = null)
    {
        _interface = packetInterface;
        _mtu = packetInterface.Mtu;
        _bind = bind;
        Options = options ?? new DeviceOptions();
        _logger = Options.LoggerFactory.CreateLogger<WireGuardDevice>();
        // Room for the transport header in front, padding and the tag behind (§5.4.6).
        Pool = new PacketPool(Options.PoolSize, Math.Max(2048, packetInterface.Mtu + Protocol.TransportOverhead + Protocol.PaddingMultiple + 64));
        Crypto = new CryptoWorkers(Options.Workers, $"wg {packetInterface.Name}");
        _encrypt = Encrypt;
        _decrypt = Decrypt;
        // Wait mode makes TryWrite refuse when full, so the reader drops (and recycles) the excess handshake.
        HandshakeQueue = Channel.CreateBounded<PacketElement>(new BoundedChannelOptions(Options.HandshakeQueueSize) { FullMode = BoundedChannelFullMode.Wait, SingleWriter = true });
    }

    internal DeviceOptions Options { get; }

    internal TimeProvider Time => Options.Time;

    internal PacketPool Pool { get; }

    internal IndexTable Indices { get; } = new();

    internal AllowedIpsTable<Peer> AllowedIps { get; } = new();

    internal StaticIdentity? Identity { get; private set; }

    internal CookieChecker? CookieChecker { get; private set; }

    internal CryptoWorkers Crypto { get; }

    /// <summary>The per-packet operations, as delegates made once.</summary>
    private readonly Action<PacketElement> _encrypt;
    private readonly Action<PacketElement> _decrypt;

    internal CryptoBatch NewEncryptionBatch(int capacity) => new(capacity, _encrypt);

    internal Channel<PacketElement> HandshakeQueue { get; }

    /// <summary>The UDP port the device listens on (the chosen one when 0 was configured).</summary>
    public int ListenPort => _transport?.Port ?? _listenPort;

    public string InterfaceName => _interface.Name;

    /// <summary>Starts the readers and workers and opens the UDP socket on the configured port.</summary>
    public void Start()
    {
        lock (_configLock)
        {
            if (_started)
            {
                return;
            }
            _started = true;
            _workers.Add(Task.Run(RunHandshakeWorkerAsync));
            Rebind(_listenPort);
            _interfaceThread = new Thread(RunInterfaceReader) { IsBackground = true, Name = $"wg {_interface.Name} interface" };
            _interfaceThread.Start();
            foreach (var peer in _peers.Values)
            {
                peer.Start();
            }
        }
    }

    public DeviceSnapshot GetConfiguration()
    {
        lock (_configLock)
        {
            var peers = _peers.Values.Select(p =>
            {
                var psk = p.Handshake.PresharedKey.AsSpan().ContainsAnyExcept((byte)0) ? new WgKey(p.Handshake.PresharedKey) : (WgKey?)null;
                var endpoint = p.Endpoint;
                return new PeerSnapshot(p.PublicKey, psk, endpoint.IsSet ? endpoint.ToIPEndPoint() : null, p.PersistentKeepaliveInterval,
                    AllowedIps.EntriesFor(p).ToList(), p.LastHandshake, p.RxBytes, p.TxBytes);
            }).ToList();
            WgKey? privateKey = Identity is null ? null : new WgKey(ExportPrivate());
            return new DeviceSnapshot(privateKey, ListenPort, _fwMark, peers);
        }
    }

    private byte[] ExportPrivate()
    {
        var bytes = new byte[Protocol.KeySize];
        Identity!.PrivateKey.TryExport(NSec.Cryptography.KeyBlobFormat.RawPrivateKey, bytes, out _);
        return bytes;
    }

    public void Configure(DeviceUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        lock (_configLock)
        {
            if (update.PrivateKey is { } privateKey)
            {
                SetPrivateKey(privateKey);
            }
            if (update.ListenPort is { } port)
            {
                if (port is < 0 or > 65535)
                {
                    throw new ConfigurationException($"listen port {port} is out of range");
                }
                if (port != _listenPort || (_started && _transport is null))
                {
                    _listenPort = port;
                    if (_started)
                    {
                        Rebind(port);
                    }
                }
            }
            if (update.FwMark is { } mark)
            {
                _fwMark = mark;
                _transport?.SetFwMark(mark);
            }
            if (update.ReplacePeers)
            {
                foreach (var peer in _peers.Values.ToList())
                {
                    RemovePeer(peer);
                }
            }
            foreach (var change in update.Peers)
            {
                ApplyPeer(change);
            }
        }
    }

    private void SetPrivateKey(WgKey privateKey)
    {
        var old = Identity;
        if (privateKey.IsZero)
        {
            Identity = null;
            CookieChecker = null;
        }
        else
        {
            if (old is not null && old.PrivateKey.Export(NSec.Cryptography.KeyBlobFormat.RawPrivateKey).AsSpan().SequenceEqual(privateKey.Bytes))
            {
                return;
            }
            Identity = new StaticIdentity(privateKey.Bytes);
            CookieChecker = new CookieChecker(Identity, Time);
            // A peer with our own public key makes no sense (wireguard-go removes it).
            if (_peers.TryGetValue(new WgKey(Identity.PublicKey), out var self))
            {
                RemovePeer(self);
            }
        }
        foreach (var peer in _peers.Values)
        {
            peer.ZeroKeyMaterial();
            lock (peer.Handshake.Lock)
            {
                peer.Handshake.SetLocal(Identity);
            }
        }
        old?.Dispose();
    }

    private void ApplyPeer(PeerUpdate change)
    {
        _peers.TryGetValue(change.PublicKey, out var peer);
        if (change.Remove)
        {
            if (peer is not null)
            {
                RemovePeer(peer);
            }
            return;
        }
        if (peer is null)
        {
            if (change.UpdateOnly)
            {
                return;
            }
            if (Identity is not null && change.PublicKey.Bytes.SequenceEqual(Identity.PublicKey))
            {
                return; // our own key: ignored, as wireguard-go does
            }
            peer = new Peer(this, change.PublicKey);
            _peers[change.PublicKey] = peer;
            if (_started)
            {
                peer.Start();
            }
        }
        if (change.PresharedKey is { } psk)
        {
            lock (peer.Handshake.Lock)
            {
                peer.Handshake.SetPresharedKey(psk.IsZero ? ReadOnlySpan<byte>.Empty : psk.Bytes);
            }
        }
        if (change.Endpoint is { } endpoint)
        {
            peer.Endpoint = UdpEndpoint.FromIPEndPoint(endpoint);
        }
        if (change.ReplaceAllowedIps)
        {
            AllowedIps.RemoveAll(peer);
        }
        foreach (var prefix in change.AllowedIps)
        {
            AllowedIps.Insert(prefix, peer);
        }
        if (change.PersistentKeepaliveInterval is { } interval)
        {
            if (interval is < 0 or > 65535)
            {
                throw new ConfigurationException($"persistent keepalive interval {interval} is out of range");
            }
            var was = peer.PersistentKeepaliveInterval;
            peer.PersistentKeepaliveInterval = interval;
            if (was != interval)
            {
                peer.OnPersistentKeepaliveChanged();
            }
        }
    }

    private void RemovePeer(Peer peer)
    {
        _peers.Remove(peer.PublicKey);
        AllowedIps.RemoveAll(peer);
        peer.Dispose();
    }

    internal Peer? FindPeer(ReadOnlySpan<byte> publicKey)
    {
        var key = new WgKey(publicKey);
        lock (_configLock)
        {
            return _peers.GetValueOrDefault(key);
        }
    }

    internal Peer PeerForTests(WgKey publicKey)
    {
        lock (_configLock)
        {
            return _peers[publicKey];
        }
    }

    /// <summary>Opens the UDP socket on <paramref name="port"/> (closing the old one) and starts its reader.</summary>
    private void Rebind(int port)
    {
        var old = _transport;
        _transport = null;
        old?.Dispose();
        _udpThread?.Join(TimeSpan.FromSeconds(5));
        IUdpTransport transport;
        try
        {
            transport = _bind(port);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            throw new ConfigurationException($"cannot listen on UDP port {port}: {e.Message}", ConfigurationException.AddressInUse);
        }
        if (_fwMark != 0)
        {
            transport.SetFwMark(_fwMark);
        }
        _transport = transport;
        _udpThread = new Thread(() => RunUdpReader(transport)) { IsBackground = true, Name = $"wg {_interface.Name} udp" };
        _udpThread.Start();
    }

    internal bool Send(byte[][] buffers, int[] offsets, int[] sizes, int count, UdpEndpoint destination)
    {
        var transport = _transport;
        if (transport is null)
        {
            return false;
        }
        try
        {
            transport.Send(buffers, offsets, sizes, count, destination);
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                LogSendFailed(_logger, destination, e.Message);
            }
            return false;
        }
    }

    /// <summary>
    /// Sends one handshake message to the peer's endpoint. It counts in the peer's transfer tx, as in wireguard-go
    /// and the kernel, so that `wg show` agrees with theirs (our tx is their rx).
    /// </summary>
    internal void SendControl(Peer peer, byte[] message)
    {
        var endpoint = peer.Endpoint;
        if (endpoint.IsSet && Send([message], [0], [message.Length], 1, endpoint))
        {
            peer.AddTxBytes(message.Length);
        }
    }

    internal void SendTo(UdpEndpoint destination, byte[] message)
    {
        if (destination.IsSet)
        {
            Send([message], [0], [message.Length], 1, destination);
        }
    }

    internal void WriteToInterface(byte[][] buffers, int[] sizes, int count)
    {
        lock (_interfaceWriteLock)
        {
            try
            {
                _interface.Write(buffers, sizes, Protocol.TransportHeaderSize, count);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                LogInterfaceWriteFailed(_logger, e.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        List<Peer> peers;
        lock (_configLock)
        {
            peers = [.. _peers.Values];
            _peers.Clear();
        }
        _transport?.Dispose();
        _interface.Dispose();
        HandshakeQueue.Writer.TryComplete();
        await Task.WhenAll(_workers).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        foreach (var peer in peers)
        {
            peer.Dispose();
        }
        _udpThread?.Join(TimeSpan.FromSeconds(5));
        _interfaceThread?.Join(TimeSpan.FromSeconds(5));
        Crypto.Dispose();
        Identity?.Dispose();
        Pool.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not send to {Endpoint}: {Reason}")]
    private static partial void LogSendFailed(ILogger logger, UdpEndpoint endpoint, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not write to the packet interface: {Reason}")]
    private static partial void LogInterfaceWriteFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Reader} reader stopped: {Reason}")]
    private static partial void LogReaderStopped(ILogger logger, string reader, string reason);
}
