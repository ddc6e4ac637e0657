using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Pangolin.WireGuard.Net;

/// <summary>
/// The device's UDP socket on Linux: one AF_INET6 socket with IPV6_V6ONLY off, so it serves IPv4 peers too (as
/// ::ffff:a.b.c.d), or an AF_INET socket where IPv6 is unavailable. recvmmsg and sendmmsg move up to 64 datagrams
/// per system call, straight between the caller's arrays and the kernel (pinned for the call, not copied).
/// </summary>
/// <remarks>
/// The socket is non-blocking. Receive (and a Send that finds the send buffer full) waits in poll(2) beside an
/// eventfd that Dispose signals, so Dispose wakes it and it throws <see cref="ObjectDisposedException"/>.
/// </remarks>
public sealed unsafe class LinuxUdpTransport : IUdpTransport
{
    public const int MaxBatchSize = 64;

    // The kernel's UDP_MAX_SEGMENTS (64 before Linux 6.9, larger since) and a total below the 64 KiB an IP packet
    // can carry (65535 - 20 - 8 for IPv4; we also leave room for IPv6's larger header).
    private const int MaxSegments = 64;
    private const int MaxSegmentedBytes = 65535 - 40 - 8;

    // CMSG_LEN(sizeof(ushort)) and CMSG_SPACE(sizeof(ushort)) on LP64: a 16-byte header, data padded to 8.
    private const int SegmentControlLength = 16 + sizeof(ushort);
    private const int SegmentControlSpace = 24;

    // UDP_GRO staging: coalesced datagrams (up to 64 KiB each) land here, then are cut into the caller's buffers.
    private const int CoalescedBatch = 64;
    private const int CoalescedBufferBytes = 65536;
    private const int CoalescedControlSpace = 32;

    private readonly PollableDescriptor _socket;
    private readonly bool _dualStack;
    private readonly CoalescedReceiveState? _coalesced;
    private volatile bool _segmentationOffload;
    private int _disposed;
    private long _droppedReceives;
    private long _coalescedMessages;

    private LinuxUdpTransport(PollableDescriptor socket, bool dualStack, int port, bool segmentationOffload, bool receiveOffload)
    {
        _socket = socket;
        _dualStack = dualStack;
        Port = port;
        _segmentationOffload = segmentationOffload;
        _coalesced = receiveOffload ? new CoalescedReceiveState() : null;
    }

    public int Port { get; }

    public int BatchSize => MaxBatchSize;

    /// <summary>True for the AF_INET6 dual-stack socket, false for the AF_INET fallback (IPv4 peers only).</summary>
    public bool IsDualStack => _dualStack;

    /// <summary>Whether sends use UDP_SEGMENT now (it turns itself off if the kernel refuses it).</summary>
    public bool SegmentationOffload => _segmentationOffload;

    /// <summary>Whether receives use UDP_GRO.</summary>
    public bool ReceiveOffload => _coalesced is not null;

    /// <summary>Datagrams received but dropped: longer than the buffer they were to go in.</summary>
    public long DroppedReceives => Interlocked.Read(ref _droppedReceives);

    /// <summary>Received messages that the kernel had coalesced (UDP_GRO) from several datagrams.</summary>
    internal long CoalescedMessages => Interlocked.Read(ref _coalescedMessages);

    /// <summary>SO_RCVBUF as the kernel reports it (twice what was set: the kernel counts its bookkeeping too).</summary>
    public int ReceiveBufferBytes => GetOption(Native.SOL_SOCKET, Native.SO_RCVBUF, "SO_RCVBUF");

    public int SendBufferBytes => GetOption(Native.SOL_SOCKET, Native.SO_SNDBUF, "SO_SNDBUF");

    /// <summary>SO_MARK as the kernel reports it.</summary>
    public int FwMark => GetOption(Native.SOL_SOCKET, Native.SO_MARK, "SO_MARK");

    public static LinuxUdpTransport Bind(int port, int receiveBufferBytes = 8 << 20, int sendBufferBytes = 8 << 20) =>
        Bind(new LinuxUdpTransportOptions { Port = port, ReceiveBufferBytes = receiveBufferBytes, SendBufferBytes = sendBufferBytes });

    public static LinuxUdpTransport Bind(LinuxUdpTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Port, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.ReceiveBufferBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.SendBufferBytes);

        var dualStack = !options.IPv4Only;
        var fd = -1;
        if (dualStack)
        {
            fd = Native.Socket(Native.AF_INET6, Native.SOCK_DGRAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno is not (Native.EAFNOSUPPORT or Native.EPROTONOSUPPORT))
                {
                    throw Native.Error("socket(AF_INET6, SOCK_DGRAM)", errno);
                }
                // No IPv6 in this kernel (ipv6.disable=1): serve IPv4 only.
                dualStack = false;
            }
        }
        if (!dualStack)
        {
            fd = Native.Socket(Native.AF_INET, Native.SOCK_DGRAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
            if (fd < 0)
            {
                throw Native.Error("socket(AF_INET, SOCK_DGRAM)");
            }
        }

        var socket = new PollableDescriptor(fd);
        try
        {
            if (dualStack)
            {
                Native.SetIntOption(fd, Native.IPPROTO_IPV6, Native.IPV6_V6ONLY, 0, "IPV6_V6ONLY");
            }
            SetBuffer(fd, Native.SO_RCVBUFFORCE, Native.SO_RCVBUF, options.ReceiveBufferBytes, "SO_RCVBUF");
            SetBuffer(fd, Native.SO_SNDBUFFORCE, Native.SO_SNDBUF, options.SendBufferBytes, "SO_SNDBUF");
            var port = BindSocket(fd, dualStack, (ushort)options.Port);
            var segmentation = options.SegmentationOffload && SupportsSegmentation(fd);
            var coalescing = options.ReceiveOffload && EnableCoalescing(fd);
            return new LinuxUdpTransport(socket, dualStack, port, segmentation, coalescing);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Binds inside a network namespace (`ip netns add`): the socket belongs to the namespace it is created in.</summary>
    public static LinuxUdpTransport BindInNamespace(string netns, LinuxUdpTransportOptions options) =>
        NetNamespace.Run(netns, () => Bind(options));

    public int Receive(byte[][] buffers, int[] sizes, UdpEndpoint[] sources)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(sources);
        var capacity = Math.Min(Math.Min(buffers.Length, sizes.Length), Math.Min(sources.Length, MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfZero(capacity, nameof(buffers));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

        var added = false;
        try
        {
            _socket.DangerousAddRef(ref added);
            return _coalesced is null
                ? ReceiveDirect(buffers, sizes, sources, capacity)
                : ReceiveCoalesced(_coalesced, buffers, sizes, sources, capacity);
        }
        finally
        {
            if (added)
            {
                _socket.DangerousRelease();
            }
        }
    }

    public void Send(byte[][] buffers, int[] offsets, int[] sizes, int count, UdpEndpoint destination)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        ArgumentNullException.ThrowIfNull(offsets);
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Math.Min(buffers.Length, Math.Min(offsets.Length, sizes.Length)));
        if (!destination.IsSet)
        {
            throw new ArgumentException("The destination is not set.", nameof(destination));
        }
        // The iovecs point into these arrays: check every range before going native.
        for (var i = 0; i < count; i++)
        {
            if (sizes[i] < 0 || offsets[i] < 0 || offsets[i] > buffers[i].Length - sizes[i])
            {
                throw new ArgumentOutOfRangeException(nameof(sizes), $"Datagram {i} ({sizes[i]} bytes at {offsets[i]}) does not fit its {buffers[i].Length}-byte buffer.");
            }
        }
        if (count == 0)
        {
            return;
        }
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

        // One address for every message: sockaddr_in6 (IPv4 as ::ffff:a.b.c.d) or, on the fallback, sockaddr_in.
        Native.SockAddrIn6 address = default;
        uint addressLength;
        if (_dualStack)
        {
            address.Family = Native.AF_INET6;
            address.Port = HostToNetwork(destination.Port);
            destination.WriteAddress(new Span<byte>(address.Address, 16));
            addressLength = (uint)sizeof(Native.SockAddrIn6);
        }
        else
        {
            if (!destination.IsIPv4)
            {
                throw Native.Error($"sendmmsg({destination})", Native.EAFNOSUPPORT);
            }
            var v4 = (Native.SockAddrIn*)&address;
            v4->Family = Native.AF_INET;
            v4->Port = HostToNetwork(destination.Port);
            Span<byte> mapped = stackalloc byte[16];
            destination.WriteAddress(mapped);
            mapped[12..].CopyTo(new Span<byte>(v4->Address, 4));
            addressLength = (uint)sizeof(Native.SockAddrIn);
        }

        var messages = stackalloc Native.MMsgHdr[MaxBatchSize];
        var iov = stackalloc Native.IoVec[MaxBatchSize];
        var control = stackalloc byte[MaxBatchSize * SegmentControlSpace];
        var firstDatagram = stackalloc int[MaxBatchSize + 1];
        var added = false;
        try
        {
            _socket.DangerousAddRef(ref added);
            for (var start = 0; start < count; start += MaxBatchSize)
            {
                var chunk = Math.Min(MaxBatchSize, count - start);
                var batch = new SendBatch(buffers, offsets, sizes, start, chunk, &address, addressLength, messages, iov, control, firstDatagram);
                SendChunk(ref batch, 0, _segmentationOffload);
            }
        }
        finally
        {
            if (added)
            {
                _socket.DangerousRelease();
            }
        }
    }

    public void SetFwMark(int mark)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var added = false;
        try
        {
            _socket.DangerousAddRef(ref added);
            Native.SetIntOption(_socket.Fd, Native.SOL_SOCKET, Native.SO_MARK, mark, "SO_MARK");
        }
        finally
        {
            if (added)
            {
                _socket.DangerousRelease();
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Wake a Receive (or a Send waiting for buffer space); the socket closes when the last call lets go.
        _socket.Wake();
        _socket.Dispose();
    }

    public override string ToString() => $"udp {(_dualStack ? "[::]" : "0.0.0.0")}:{Port}";

    private int ReceiveDirect(byte[][] buffers, int[] sizes, UdpEndpoint[] sources, int capacity)
    {
        var messages = stackalloc Native.MMsgHdr[capacity];
        var iov = stackalloc Native.IoVec[capacity];
        var names = stackalloc Native.SockAddrIn6[capacity];
        while (true)
        {
            for (var i = 0; i < capacity; i++)
            {
                iov[i].Length = (nuint)buffers[i].Length;
                messages[i] = default;
                messages[i].Header.Name = &names[i];
                messages[i].Header.NameLength = (uint)sizeof(Native.SockAddrIn6);
                messages[i].Header.Iov = &iov[i];
                messages[i].Header.IovLength = 1;
            }
            var call = new ReceiveCall(_socket.Fd, messages, (uint)capacity);
            var received = Pinning.Run(buffers, null, 0, capacity, iov, ref call);
            if (received < 0)
            {
                WaitAfterReceiveError(-received);
                continue;
            }

            // Keep what arrived whole; a datagram the kernel truncated (MSG_TRUNC) is dropped and the rest close up.
            var kept = 0;
            for (var i = 0; i < received; i++)
            {
                var length = (int)messages[i].Length;
                if ((messages[i].Header.Flags & Native.MSG_TRUNC) != 0 || (kept != i && length > buffers[kept].Length))
                {
                    Interlocked.Increment(ref _droppedReceives);
                    continue;
                }
                if (kept != i)
                {
                    Buffer.BlockCopy(buffers[i], 0, buffers[kept], 0, length);
                }
                sizes[kept] = length;
                sources[kept] = ToEndpoint(&names[i]);
                kept++;
            }
            if (kept > 0)
            {
                return kept;
            }
        }
    }

    private int ReceiveCoalesced(CoalescedReceiveState state, byte[][] buffers, int[] sizes, UdpEndpoint[] sources, int capacity)
    {
        // Datagrams left over from the last coalesced batch go first, without a system call.
        var delivered = DeliverCoalesced(state, buffers, sizes, sources, capacity);
        if (delivered > 0)
        {
            return delivered;
        }

        var messages = stackalloc Native.MMsgHdr[CoalescedBatch];
        var iov = stackalloc Native.IoVec[CoalescedBatch];
        var names = stackalloc Native.SockAddrIn6[CoalescedBatch];
        fixed (byte* staging = state.Data)
        fixed (byte* control = state.Control)
        {
            while (true)
            {
                for (var i = 0; i < CoalescedBatch; i++)
                {
                    iov[i].Base = staging + (i * CoalescedBufferBytes);
                    iov[i].Length = CoalescedBufferBytes;
                    messages[i] = default;
                    messages[i].Header.Name = &names[i];
                    messages[i].Header.NameLength = (uint)sizeof(Native.SockAddrIn6);
                    messages[i].Header.Iov = &iov[i];
                    messages[i].Header.IovLength = 1;
                    messages[i].Header.Control = control + (i * CoalescedControlSpace);
                    messages[i].Header.ControlLength = CoalescedControlSpace;
                }
                var received = Native.RecvMMsg(_socket.Fd, messages, CoalescedBatch, Native.MSG_DONTWAIT, null);
                if (received < 0)
                {
                    WaitAfterReceiveError(Marshal.GetLastPInvokeError());
                    continue;
                }

                for (var i = 0; i < received; i++)
                {
                    var truncated = (messages[i].Header.Flags & Native.MSG_TRUNC) != 0;
                    state.Lengths[i] = truncated ? -1 : (int)messages[i].Length;
                    var segmentSize = SegmentSize(&messages[i].Header);
                    state.SegmentSizes[i] = segmentSize;
                    if (segmentSize > 0 && segmentSize < state.Lengths[i])
                    {
                        _coalescedMessages++;
                    }
                    state.Sources[i] = ToEndpoint(&names[i]);
                }
                state.Count = received;
                state.Next = 0;
                state.Offset = 0;
                delivered = DeliverCoalesced(state, buffers, sizes, sources, capacity);
                if (delivered > 0)
                {
                    return delivered;
                }
            }
        }
    }

    /// <summary>Cuts the staged (possibly coalesced) datagrams into the caller's buffers, as many as fit.</summary>
    private int DeliverCoalesced(CoalescedReceiveState state, byte[][] buffers, int[] sizes, UdpEndpoint[] sources, int capacity)
    {
        var delivered = 0;
        while (delivered < capacity && state.Next < state.Count)
        {
            var message = state.Next;
            var length = state.Lengths[message];
            if (length < 0)
            {
                Interlocked.Increment(ref _droppedReceives);
                state.Next++;
                continue;
            }
            var segment = state.SegmentSizes[message];
            var piece = segment == 0 ? length : Math.Min(segment, length - state.Offset);
            var target = buffers[delivered];
            if (piece <= target.Length)
            {
                Buffer.BlockCopy(state.Data, (message * CoalescedBufferBytes) + state.Offset, target, 0, piece);
                sizes[delivered] = piece;
                sources[delivered] = state.Sources[message];
                delivered++;
            }
            else
            {
                Interlocked.Increment(ref _droppedReceives);
            }
            state.Offset += piece;
            if (segment == 0 || state.Offset >= length)
            {
                state.Next++;
                state.Offset = 0;
            }
        }
        return delivered;
    }

    /// <summary>The UDP_GRO segment size in a received message's control data, or 0 if it was not coalesced.</summary>
    private static int SegmentSize(Native.MsgHdr* header)
    {
        var control = (byte*)header->Control;
        var length = (int)header->ControlLength;
        var position = 0;
        while (position + sizeof(Native.CMsgHdr) <= length)
        {
            var cmsg = (Native.CMsgHdr*)(control + position);
            var cmsgLength = (int)cmsg->Length;
            if (cmsgLength < sizeof(Native.CMsgHdr) || position + cmsgLength > length)
            {
                break;
            }
            if (cmsg->Level == Native.SOL_UDP && cmsg->Type == Native.UDP_GRO && cmsgLength >= sizeof(Native.CMsgHdr) + sizeof(int))
            {
                return *(int*)(control + position + sizeof(Native.CMsgHdr));
            }
            position += (cmsgLength + 7) & ~7;
        }
        return 0;
    }

    /// <summary>After a failed recvmmsg: waits for data (EAGAIN), retries (EINTR, stale ICMP errors) or throws.</summary>
    private void WaitAfterReceiveError(int errno)
    {
        switch (errno)
        {
            case Native.EAGAIN:
                ObjectDisposedException.ThrowIf(!_socket.Wait(Native.POLLIN), this);
                return;
            case Native.EINTR:
            case Native.ECONNREFUSED:
            case Native.ECONNRESET:
            case Native.EHOSTUNREACH:
            case Native.ENETUNREACH:
                // An ICMP error queued on the socket by an earlier send; recvmmsg has now cleared it.
                return;
            default:
                throw Native.Error("recvmmsg", errno);
        }
    }

    /// <summary>
    /// Sends datagrams <c>[from, chunk)</c> of a batch: groups runs of equal size into one message with UDP_SEGMENT
    /// when <paramref name="segment"/> (all but the last of a run the same size; the last may be shorter), then
    /// sendmmsg until every message is out, waiting in poll when the send buffer is full.
    /// </summary>
    private void SendChunk(ref SendBatch batch, int from, bool segment)
    {
        var messageCount = 0;
        var index = from;
        while (index < batch.Count)
        {
            var size = batch.Sizes[batch.Start + index];
            var segments = 1;
            var total = size;
            if (segment && size > 0)
            {
                while (index + segments < batch.Count && segments < MaxSegments)
                {
                    var next = batch.Sizes[batch.Start + index + segments];
                    // An empty datagram cannot be a segment: it would vanish into the run.
                    if (next > size || next == 0 || total + next > MaxSegmentedBytes)
                    {
                        break;
                    }
                    segments++;
                    total += next;
                    if (next < size)
                    {
                        break;
                    }
                }
            }

            ref var header = ref batch.Messages[messageCount].Header;
            header = default;
            header.Name = batch.Address;
            header.NameLength = batch.AddressLength;
            header.Iov = batch.Iov + index;
            header.IovLength = (nuint)segments;
            if (segments > 1)
            {
                var cmsg = (Native.CMsgHdr*)(batch.Control + (messageCount * SegmentControlSpace));
                cmsg->Length = SegmentControlLength;
                cmsg->Level = Native.SOL_UDP;
                cmsg->Type = Native.UDP_SEGMENT;
                *(ushort*)(cmsg + 1) = (ushort)size;
                header.Control = cmsg;
                header.ControlLength = SegmentControlSpace;
            }
            for (var k = 0; k < segments; k++)
            {
                batch.Iov[index + k].Length = (nuint)batch.Sizes[batch.Start + index + k];
            }
            batch.FirstDatagram[messageCount] = index;
            messageCount++;
            index += segments;
        }

        var sent = 0;
        while (sent < messageCount)
        {
            var firstPinned = batch.FirstDatagram[sent];
            var call = new SendCall(_socket.Fd, batch.Messages + sent, (uint)(messageCount - sent));
            var result = Pinning.Run(batch.Buffers, batch.Offsets, batch.Start + firstPinned, batch.Start + batch.Count, batch.Iov + firstPinned, ref call);
            if (result > 0)
            {
                sent += result;
                continue;
            }
            var errno = -result;
            switch (errno)
            {
                case Native.EINTR:
                    continue;
                case Native.EAGAIN:
                case Native.ENOBUFS:
                    ObjectDisposedException.ThrowIf(!_socket.Wait(Native.POLLOUT), this);
                    continue;
            }
            if (batch.Messages[sent].Header.IovLength > 1)
            {
                // The kernel refused a segmented send: EIO means the route's device cannot checksum segments, so
                // stop segmenting for good (as wireguard-go does); otherwise (EINVAL: a segment larger than the
                // path MTU, say) send the rest of this batch one datagram per message.
                if (errno == Native.EIO)
                {
                    _segmentationOffload = false;
                }
                SendChunk(ref batch, firstPinned, segment: false);
                return;
            }
            throw Native.Error($"sendmmsg({batch.AddressForError()})", errno);
        }
    }

    private static int BindSocket(int fd, bool dualStack, ushort port)
    {
        if (dualStack)
        {
            Native.SockAddrIn6 address = default;
            address.Family = Native.AF_INET6;
            address.Port = HostToNetwork(port);
            if (Native.Bind(fd, &address, (uint)sizeof(Native.SockAddrIn6)) != 0)
            {
                throw Native.Error($"bind([::]:{port})");
            }
            var length = (uint)sizeof(Native.SockAddrIn6);
            if (Native.GetSockName(fd, &address, &length) != 0)
            {
                throw Native.Error("getsockname");
            }
            return NetworkToHost(address.Port);
        }
        else
        {
            Native.SockAddrIn address = default;
            address.Family = Native.AF_INET;
            address.Port = HostToNetwork(port);
            if (Native.Bind(fd, &address, (uint)sizeof(Native.SockAddrIn)) != 0)
            {
                throw Native.Error($"bind(0.0.0.0:{port})");
            }
            var length = (uint)sizeof(Native.SockAddrIn);
            if (Native.GetSockName(fd, &address, &length) != 0)
            {
                throw Native.Error("getsockname");
            }
            return NetworkToHost(address.Port);
        }
    }

    /// <summary>Sets a buffer size past the sysctl ceiling if allowed (CAP_NET_ADMIN), else as far as the ceiling.</summary>
    private static void SetBuffer(int fd, int forceOption, int option, int bytes, string name)
    {
        if (Native.SetSockOpt(fd, Native.SOL_SOCKET, forceOption, &bytes, sizeof(int)) == 0)
        {
            return;
        }
        var errno = Marshal.GetLastPInvokeError();
        if (errno != Native.EPERM)
        {
            throw Native.Error($"setsockopt({name}FORCE)", errno);
        }
        Native.SetIntOption(fd, Native.SOL_SOCKET, option, bytes, name);
    }

    private static bool SupportsSegmentation(int fd)
    {
        // Reading UDP_SEGMENT succeeds on every kernel that accepts the cmsg (4.18+).
        int value = 0;
        uint length = sizeof(int);
        return Native.GetSockOpt(fd, Native.SOL_UDP, Native.UDP_SEGMENT, &value, &length) == 0;
    }

    private static bool EnableCoalescing(int fd)
    {
        int on = 1;
        return Native.SetSockOpt(fd, Native.SOL_UDP, Native.UDP_GRO, &on, sizeof(int)) == 0;
    }

    private int GetOption(int level, int name, string what)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var added = false;
        try
        {
            _socket.DangerousAddRef(ref added);
            return Native.GetIntOption(_socket.Fd, level, name, what);
        }
        finally
        {
            if (added)
            {
                _socket.DangerousRelease();
            }
        }
    }

    private static UdpEndpoint ToEndpoint(Native.SockAddrIn6* name)
    {
        if (name->Family == Native.AF_INET6)
        {
            return new UdpEndpoint(new ReadOnlySpan<byte>(name->Address, 16), NetworkToHost(name->Port));
        }
        var v4 = (Native.SockAddrIn*)name;
        Span<byte> mapped = stackalloc byte[16];
        mapped[..10].Clear();
        mapped[10] = 0xFF;
        mapped[11] = 0xFF;
        new ReadOnlySpan<byte>(v4->Address, 4).CopyTo(mapped[12..]);
        return new UdpEndpoint(mapped, NetworkToHost(v4->Port));
    }

    private static ushort HostToNetwork(ushort value) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;

    private static ushort NetworkToHost(ushort value) => HostToNetwork(value);

    private readonly struct ReceiveCall(int fd, Native.MMsgHdr* messages, uint count) : IPinnedCall
    {
        public int Invoke()
        {
            var received = Native.RecvMMsg(fd, messages, count, Native.MSG_DONTWAIT, null);
            return received >= 0 ? received : -Marshal.GetLastPInvokeError();
        }
    }

    private readonly struct SendCall(int fd, Native.MMsgHdr* messages, uint count) : IPinnedCall
    {
        public int Invoke()
        {
            var sent = Native.SendMMsg(fd, messages, count, Native.MSG_DONTWAIT);
            return sent >= 0 ? sent : -Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>One Send call's batch of at most 64 datagrams and the stack memory its messages are built in.</summary>
    private readonly ref struct SendBatch(
        byte[][] buffers,
        int[] offsets,
        int[] sizes,
        int start,
        int count,
        Native.SockAddrIn6* address,
        uint addressLength,
        Native.MMsgHdr* messages,
        Native.IoVec* iov,
        byte* control,
        int* firstDatagram)
    {
        public byte[][] Buffers { get; } = buffers;

        public int[] Offsets { get; } = offsets;

        public int[] Sizes { get; } = sizes;

        public int Start { get; } = start;

        public int Count { get; } = count;

        public Native.SockAddrIn6* Address { get; } = address;

        public uint AddressLength { get; } = addressLength;

        public Native.MMsgHdr* Messages { get; } = messages;

        public Native.IoVec* Iov { get; } = iov;

        public byte* Control { get; } = control;

        public int* FirstDatagram { get; } = firstDatagram;

        public string AddressForError()
        {
            var address = Address;
            if (address->Family == Native.AF_INET6)
            {
                return new UdpEndpoint(new ReadOnlySpan<byte>(address->Address, 16), NetworkToHost(address->Port)).ToString();
            }
            return ToEndpoint(address).ToString();
        }
    }

    /// <summary>UDP_GRO staging, owned by the (single) receiving thread; pinned arrays, so no per-call pinning.</summary>
    private sealed class CoalescedReceiveState
    {
        public byte[] Data { get; } = GC.AllocateUninitializedArray<byte>(CoalescedBatch * CoalescedBufferBytes, pinned: true);

        public byte[] Control { get; } = GC.AllocateArray<byte>(CoalescedBatch * CoalescedControlSpace, pinned: true);

        public int[] Lengths { get; } = new int[CoalescedBatch];

        public int[] SegmentSizes { get; } = new int[CoalescedBatch];

        public UdpEndpoint[] Sources { get; } = new UdpEndpoint[CoalescedBatch];

        public int Count { get; set; }

        public int Next { get; set; }

        public int Offset { get; set; }
    }
}
