using System.Buffers;
using System.Net;
using Pangolin.Netstack.Ip;
using Pangolin.Netstack.Udp;

namespace Pangolin.Netstack;

/// <summary>Tuning and dependencies of a stack; the defaults suit a tunnel endpoint.</summary>
public sealed class NetworkStackOptions
{
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>IPv4 TTL and IPv6 hop limit of the packets the stack sends (Linux's default).</summary>
    public byte HopLimit { get; init; } = 64;

    /// <summary>Datagrams a UDP socket holds for a slow reader; beyond that new ones are dropped, as a kernel does.</summary>
    public int UdpReceiveQueueLength { get; init; } = 256;

    /// <summary>Bytes written and not yet acknowledged a TCP connection holds; a writer waits beyond that.</summary>
    public int TcpSendBufferSize { get; init; } = 1 << 20;

    /// <summary>The largest TCP receive window a connection offers (its receive buffer).</summary>
    public int TcpReceiveBufferSize { get; init; } = 1 << 20;

    /// <summary>
    /// The link hands over only packets whose integrity it has already checked — a WireGuard tunnel authenticates
    /// every packet with Poly1305 — so the TCP and UDP checksums of received packets are not verified again (kernel
    /// WireGuard marks decrypted packets CHECKSUM_UNNECESSARY for the same reason). Sent packets keep theirs.
    /// </summary>
    public bool LinkAuthenticatesPackets { get; init; }

    /// <summary>
    /// Glue consecutive in-order data segments of a flow within one receive batch into one before TCP sees them (as
    /// GRO does). Needs <see cref="LinkAuthenticatesPackets"/>: the glued segment's TCP checksum is not recomputed.
    /// </summary>
    public bool CoalesceReceivedSegments { get; init; }

    /// <summary>Turns Nagle's algorithm off (TCP_NODELAY) for every connection.</summary>
    public bool TcpNoDelay { get; init; }

    /// <summary>
    /// Keepalive for every new connection (each can change its own through <see cref="Tcp.TcpStream.KeepAlive"/>);
    /// null, the default as in a kernel, sends none.
    /// </summary>
    public TcpKeepAlive? TcpKeepAlive { get; init; }

    /// <summary>CUBIC (RFC 9438, Linux's default) or NewReno (RFC 5681, RFC 6582).</summary>
    public TcpCongestionControl TcpCongestionControl { get; init; } = TcpCongestionControl.Cubic;

    /// <summary>
    /// Full-sized TCP segments are cut so that their whole IP packet is a multiple of this many bytes (1, the default:
    /// the full MSS). 64 suits a WireGuard link: ChaCha20 runs in 64-byte blocks, and OpenSSL generates the keystream
    /// of a partial last block in a call of its own, which at MTU 1420 costs about as much as a sixth of the packet's
    /// cipher work; 1,408-byte packets carry 0.9 % less payload and need no such call.
    /// </summary>
    public int TcpSegmentAlignment
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 256);
            field = value;
        }
    } = 1;
}

/// <summary>
/// Keepalive settings (RFC 1122 §4.2.3.6; Linux's TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT): after
/// <see cref="Idle"/> without a segment from the peer, a probe every <see cref="Interval"/>; after
/// <see cref="Probes"/> unanswered the connection fails with a timeout.
/// </summary>
public sealed record TcpKeepAlive
{
    public TcpKeepAlive(TimeSpan idle, TimeSpan interval, int probes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(idle, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(probes, 1);
        Idle = idle;
        Interval = interval;
        Probes = probes;
    }

    public TimeSpan Idle { get; }

    public TimeSpan Interval { get; }

    public int Probes { get; }

    /// <summary>Linux's defaults: two hours, 75 s, 9 probes.</summary>
    public static TcpKeepAlive Default { get; } = new(TimeSpan.FromHours(2), TimeSpan.FromSeconds(75), 9);
}

public enum TcpCongestionControl
{
    Cubic,
    NewReno,
}

/// <summary>
/// A userspace IPv4/IPv6 stack on one link: it answers pings, sends them, and carries UDP (and, on top of the same
/// dispatch, TCP). The host hands every packet the link receives to <see cref="Receive"/> (from one thread); the
/// stack sends through <see cref="INetworkLink.Send"/> from whichever thread acts (a socket's caller, a timer).
/// Split by concern into NetworkStack.*.cs.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "A network protocol stack, not a LIFO collection: the name users of TCP/IP expect.")]
public sealed partial class NetworkStack : IDisposable
{
    private readonly INetworkLink _link;
    private readonly Lock _configLock = new();
    private readonly FragmentReassembler _reassembler;
    private readonly ITimer _expiry;
    private readonly Lock _expiryLock = new();
    private bool _expiryArmed;
    private IpAddressBytes[] _addresses = [];
    private int _identification;
    private int _fragmentIdentification;
    private long _dropped;

    public NetworkStack(INetworkLink link, NetworkStackOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(link);
        _link = link;
        Options = options ?? new NetworkStackOptions();
        if (Options.CoalesceReceivedSegments && !Options.LinkAuthenticatesPackets)
        {
            throw new ArgumentException("CoalesceReceivedSegments needs LinkAuthenticatesPackets: coalesced segments keep no valid TCP checksum.", nameof(options));
        }
        _pingIdentifier = (ushort)Random.Shared.Next(1, ushort.MaxValue);
        _reassembler = new FragmentReassembler(Options.Time, new FragmentReassemblerOptions { OnTimeExceeded = SendReassemblyTimeExceeded });
        // Pending fragments give their memory back within a second of their timeout even when nothing else arrives.
        // The timer runs only while some are pending: an idle stack does not wake every second, and a clock that
        // jumps (a test's fake one) does not replay a tick per second skipped.
        _expiry = Options.Time.CreateTimer(static state => ((NetworkStack)state!).ExpireFragments(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    internal NetworkStackOptions Options { get; }

    internal TimeProvider Time => Options.Time;

    /// <summary>The link's MTU: the largest packet the stack sends.</summary>
    public int Mtu => _link.Mtu;

    /// <summary>Packets dropped on receipt: malformed, not for us, or for nothing listening.</summary>
    public long DroppedPackets => Interlocked.Read(ref _dropped);

    /// <summary>The stack's own addresses (the tunnel IPs it answers for).</summary>
    public IReadOnlyList<IPAddress> Addresses => [.. Volatile.Read(ref _addresses).Select(a => a.ToIPAddress())];

    public void AddAddress(IPAddress address)
    {
        var bytes = IpAddressBytes.From(address);
        if (bytes.IsUnspecified)
        {
            throw new ArgumentException("The unspecified address cannot be the stack's.", nameof(address));
        }
        lock (_configLock)
        {
            if (!_addresses.Contains(bytes))
            {
                Volatile.Write(ref _addresses, [.. _addresses, bytes]);
            }
        }
    }

    public void RemoveAddress(IPAddress address)
    {
        var bytes = IpAddressBytes.From(address);
        lock (_configLock)
        {
            Volatile.Write(ref _addresses, [.. _addresses.Where(a => a != bytes)]);
        }
    }

    /// <summary>
    /// Takes one IP packet from the link: checks it (RFC 791, RFC 8200, RFC 1122 §3.2.1), keeps it only when it is
    /// addressed to one of the stack's addresses, and hands it to its transport.
    /// </summary>
    public void Receive(ReadOnlySpan<byte> packet)
    {
        if (CoalescesReceive)
        {
            if (TryCoalesce(packet))
            {
                return;
            }
            FlushCoalesced(); // what came before goes first
            if (TryCoalesce(packet))
            {
                return;
            }
        }
        ReceiveOne(packet);
    }

    private void ReceiveOne(ReadOnlySpan<byte> packet)
    {
        if (!IpPacket.TryParse(packet, out var ip) || !IsLocal(ip.Destination) || IsLocal(ip.Source) && !ip.Source.SequenceEqual(ip.Destination))
        {
            Drop();
            return;
        }
        if (ip.IsFragment)
        {
            // RFC 791 §3.2 / RFC 8200 §4.5: the whole datagram goes on once its last missing piece has come.
            var added = _reassembler.TryAdd(ip, out var complete);
            if (_reassembler.PendingCount > 0)
            {
                ArmFragmentExpiry();
            }
            if (added)
            {
                if (complete is not null)
                {
                    using (complete)
                    {
                        ReceiveOne(complete.Packet);
                    }
                }
            }
            else
            {
                Drop();
            }
            return;
        }
        var handled = ip.Protocol switch
        {
            IpProtocol.Icmp when !ip.IsIPv6 => ReceiveIcmpV4(ip),
            IpProtocol.IcmpV6 when ip.IsIPv6 => ReceiveIcmpV6(ip),
            IpProtocol.Udp => ReceiveUdp(ip),
            IpProtocol.Tcp => ReceiveTcp(ip),
            _ => false,
        };
        if (!handled)
        {
            Drop();
        }
    }

    internal void Drop() => Interlocked.Increment(ref _dropped);

    internal bool IsLocal(ReadOnlySpan<byte> address) => IsLocal(IpAddressBytes.From(address));

    internal bool IsLocal(IpAddressBytes candidate)
    {
        foreach (var local in Volatile.Read(ref _addresses))
        {
            if (local == candidate)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The source address for a packet to <paramref name="destination"/>: the stack's first address of that version.</summary>
    internal bool TryChooseSource(IpAddressBytes destination, out IpAddressBytes source)
    {
        foreach (var local in Volatile.Read(ref _addresses))
        {
            if (local.IsIPv4 == destination.IsIPv4)
            {
                source = local;
                return true;
            }
        }
        source = default;
        return false;
    }

    internal ushort NextIdentification() => (ushort)Interlocked.Increment(ref _identification);

    /// <summary>
    /// Sends a transport payload already written at <c>buffer[IpWriter.HeaderSize(..)..]</c>: writes the IP header in
    /// front and hands the packet to the link.
    /// </summary>
    internal void SendIp(byte[] buffer, IpAddressBytes source, IpAddressBytes destination, byte protocol, int payloadLength)
    {
        Span<byte> src = stackalloc byte[16];
        Span<byte> dst = stackalloc byte[16];
        source.CopyTo(src);
        destination.CopyTo(dst);
        var headerSize = IpWriter.HeaderSize(!source.IsIPv4);
        if (headerSize + payloadLength > Mtu)
        {
            SendFragmented(buffer, src[..source.Length], dst[..destination.Length], protocol, payloadLength);
            return;
        }
        IpWriter.WriteHeader(buffer, src[..source.Length], dst[..destination.Length], protocol, payloadLength, Options.HopLimit, NextIdentification());
        _link.Send(buffer.AsSpan(0, headerSize + payloadLength));
    }

    /// <summary>The most transport bytes one IP datagram carries (IPv4 total length, IPv6 payload length).</summary>
    internal static int MaxPayload(bool isIPv6) => isIPv6 ? ushort.MaxValue : ushort.MaxValue - IpPacket.Ipv4HeaderSize;

    /// <summary>
    /// Cuts a datagram longer than the link's MTU into fragments (RFC 791 §3.2; RFC 8200 §4.5 with a Fragment
    /// header), each carrying a multiple of 8 bytes but the last, under one identification.
    /// </summary>
    private void SendFragmented(byte[] buffer, ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, byte protocol, int payloadLength)
    {
        var isIPv6 = source.Length == 16;
        var headerSize = IpWriter.HeaderSize(isIPv6);
        var fragmentHeaderSize = isIPv6 ? 8 : 0;
        var chunk = (Mtu - headerSize - fragmentHeaderSize) & ~7;
        if (chunk < 8)
        {
            Drop();
            return;
        }
        var identification = isIPv6 ? (uint)Interlocked.Increment(ref _fragmentIdentification) : NextIdentification();
        var fragment = RentPacket(headerSize + fragmentHeaderSize + chunk);
        try
        {
            for (var offset = 0; offset < payloadLength; offset += chunk)
            {
                var size = Math.Min(chunk, payloadLength - offset);
                var more = offset + size < payloadLength;
                var field = (ushort)(offset / 8);
                if (isIPv6)
                {
                    IpWriter.WriteHeader(fragment, source, destination, IpProtocol.Fragment, fragmentHeaderSize + size, Options.HopLimit, 0);
                    var header = fragment.AsSpan(headerSize, fragmentHeaderSize);
                    header[0] = protocol;
                    header[1] = 0;
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)((field << 3) | (more ? 1 : 0)));
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header[4..], identification);
                }
                else
                {
                    IpWriter.WriteHeader(fragment, source, destination, protocol, size, Options.HopLimit, (ushort)identification);
                    // Fragments go without DF (the datagram is being fragmented), with MF on all but the last.
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(6), (ushort)((more ? 0x2000 : 0) | field));
                    fragment[10] = fragment[11] = 0;
                    Pangolin.Packets.InternetChecksum.Write(fragment.AsSpan(10, 2), Pangolin.Packets.InternetChecksum.Add(fragment.AsSpan(0, headerSize)));
                }
                buffer.AsSpan(headerSize + offset, size).CopyTo(fragment.AsSpan(headerSize + fragmentHeaderSize));
                _link.Send(fragment.AsSpan(0, headerSize + fragmentHeaderSize + size));
            }
        }
        finally
        {
            ReturnPacket(fragment);
        }
    }

    /// <summary>Whether the fragment expiry timer runs (tests).</summary>
    internal bool FragmentExpiryArmed
    {
        get
        {
            lock (_expiryLock)
            {
                return _expiryArmed;
            }
        }
    }

    // Both sides decide under one lock, after the reassembler changed: a fragment added while the timer disarms
    // either sees it disarmed and re-arms it, or is counted by the timer, which then stays armed.
    private void ArmFragmentExpiry()
    {
        lock (_expiryLock)
        {
            if (!_expiryArmed)
            {
                _expiryArmed = true;
                _expiry.Change(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
            }
        }
    }

    private void ExpireFragments()
    {
        _reassembler.Expire();
        lock (_expiryLock)
        {
            if (_expiryArmed && _reassembler.PendingCount == 0)
            {
                _expiryArmed = false;
                _expiry.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }
    }

    internal static byte[] RentPacket(int size) => ArrayPool<byte>.Shared.Rent(size);

    internal static void ReturnPacket(byte[] buffer) => ArrayPool<byte>.Shared.Return(buffer);

    public void Dispose()
    {
        _expiry.Dispose();
        CloseTcp();
        CloseUdpSockets();
        FailPendingPings();
    }

    internal void Unbind(UdpSocket socket) => UnbindUdp(socket);
}
