using System.Net;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Peers;

/// <summary>
/// A remote WireGuard peer: its handshake, its sessions (previous, current, next — whitepaper §5.4.5 and
/// wireguard-go's keypairs), its endpoint, its timers and its staged packets. Split by concern into
/// Peer.Send.cs, Peer.Receive.cs and Peer.Timers.cs.
/// </summary>
internal sealed partial class Peer : IDisposable
{
    /// <summary>Packets waiting for a session: the newest are kept (wireguard-go's QueueStagedSize).</summary>
    public const int StagedCapacity = 128;

    private readonly WireGuardDevice _device;
    private readonly Lock _keypairLock = new();
    private readonly Lock _endpointLock = new();
    private UdpEndpoint _endpoint;
    private Keypair? _previous;
    private Keypair? _current;
    private Keypair? _next;
    private long _rxBytes;
    private long _txBytes;
    private long _lastHandshakeUnixNanos;
    private int _persistentKeepaliveInterval;

    public Peer(WireGuardDevice device, WgKey publicKey)
    {
        _device = device;
        PublicKey = publicKey;
        Handshake = new Handshake(device.Identity, publicKey.Bytes);
        Cookies = new CookieGenerator(Handshake, device.Time);
        _flushBatch = device.NewEncryptionBatch(StagedCapacity);
        InitializeTimers();
    }

    public WgKey PublicKey { get; }

    public Handshake Handshake { get; }

    public CookieGenerator Cookies { get; }

    public List<IPNetwork> AllowedIps { get; } = [];

    public bool IsRunning { get; private set; }

    public long RxBytes => Interlocked.Read(ref _rxBytes);

    public long TxBytes => Interlocked.Read(ref _txBytes);

    public DateTimeOffset? LastHandshake
    {
        get
        {
            var nanos = Interlocked.Read(ref _lastHandshakeUnixNanos);
            return nanos == 0 ? null : DateTimeOffset.UnixEpoch.AddTicks(nanos / 100);
        }
    }

    public int PersistentKeepaliveInterval
    {
        get => Volatile.Read(ref _persistentKeepaliveInterval);
        set => Volatile.Write(ref _persistentKeepaliveInterval, value);
    }

    public UdpEndpoint Endpoint
    {
        get
        {
            lock (_endpointLock)
            {
                return _endpoint;
            }
        }
        set
        {
            lock (_endpointLock)
            {
                _endpoint = value;
            }
        }
    }

    /// <summary>Roaming (§2.1): the endpoint follows the source of the latest authenticated packet.</summary>
    public void UpdateEndpoint(UdpEndpoint source)
    {
        lock (_endpointLock)
        {
            if (_endpoint != source)
            {
                _endpoint = source;
            }
        }
    }

    public Keypair? Current
    {
        get
        {
            lock (_keypairLock)
            {
                return _current;
            }
        }
    }

    public Keypair? Next
    {
        get
        {
            lock (_keypairLock)
            {
                return _next;
            }
        }
    }

    public void AddRxBytes(long n) => Interlocked.Add(ref _rxBytes, n);

    public void AddTxBytes(long n) => Interlocked.Add(ref _txBytes, n);

    /// <summary>
    /// Installs a newly derived session (wireguard-go's BeginSymmetricSession rotation): the initiator uses it at
    /// once; the responder keeps it as "next" until the initiator's first data packet confirms it (§5.4.5).
    /// </summary>
    public void InstallKeypair(Keypair keypair)
    {
        Keypair? retiredA;
        Keypair? retiredB = null;
        lock (_keypairLock)
        {
            if (keypair.IsInitiator)
            {
                if (_next is not null)
                {
                    retiredA = _previous;
                    _previous = _next;
                    retiredB = _current;
                    _next = null;
                }
                else
                {
                    retiredA = _previous;
                    _previous = _current;
                }
                _current = keypair;
            }
            else
            {
                retiredA = _next;
                retiredB = _previous;
                _next = keypair;
                _previous = null;
            }
        }
        Retire(retiredA);
        Retire(retiredB);
    }

    /// <summary>A packet arrived with the "next" session: it becomes current. Returns true when that happened.</summary>
    public bool ReceivedWithKeypair(Keypair keypair)
    {
        Keypair? retired;
        lock (_keypairLock)
        {
            if (_next != keypair)
            {
                return false;
            }
            retired = _previous;
            _previous = _current;
            _current = _next;
            _next = null;
        }
        Retire(retired);
        return true;
    }

    /// <summary>Forgets every session and the handshake (Reject-After-Time × 3, key change, removal).</summary>
    public void ZeroKeyMaterial()
    {
        Keypair? a, b, c;
        lock (_keypairLock)
        {
            (a, b, c) = (_previous, _current, _next);
            _previous = _current = _next = null;
        }
        Retire(a);
        Retire(b);
        Retire(c);
        lock (Handshake.Lock)
        {
            _device.Indices.Remove(Handshake.LocalIndex);
            Handshake.Clear();
        }
    }

    public void MarkHandshakeComplete() =>
        Interlocked.Exchange(ref _lastHandshakeUnixNanos, (_device.Time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100);

    private void Retire(Keypair? keypair)
    {
        if (keypair is null)
        {
            return;
        }
        _device.Indices.Remove(keypair.LocalIndex);
        keypair.Dispose();
    }

    public void Start() => IsRunning = true;

    public void Dispose()
    {
        IsRunning = false;
        StopTimers();
        DropStaged();
        ZeroKeyMaterial();
    }
}
