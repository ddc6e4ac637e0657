using System.Runtime.InteropServices;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;

namespace Pangolin.WireGuard.Tun;

/// <summary>
/// A Linux TUN device (IFF_TUN | IFF_NO_PI: each packet a bare IPv4 or IPv6 packet). Like wireguard-go, it
/// creates the interface and sets its MTU but leaves bringing it up and addressing it to `ip`. The interface lives
/// as long as this object: it is not persistent, so Dispose removes it.
/// </summary>
/// <remarks>
/// With offload (the default) the device is opened with IFF_VNET_HDR and TSO: the kernel hands over TCP
/// super-packets that Read cuts into MTU-sized packets, and Write glues runs of consecutive TCP segments back into
/// one (see <see cref="TunOffload"/>). Callers see single IP packets either way.
/// </remarks>
/// <remarks>
/// The descriptor is non-blocking; a Read that finds nothing waits in poll(2) beside an eventfd that Dispose
/// signals, so Dispose wakes a blocked Read (which then throws <see cref="ObjectDisposedException"/>).
/// </remarks>
public sealed unsafe class LinuxTun : IPacketInterface
{
    public const int DefaultMtu = 1420;

    /// <summary>What <see cref="BatchSize"/> advertises; Read fills as many buffers as it is given.</summary>
    public const int DefaultBatchSize = 64;

    private const string DevicePath = "/dev/net/tun";

    private readonly PollableDescriptor _tun;

    // An AF_INET datagram socket opened in the TUN's network namespace: MTU ioctls act on the namespace of the
    // socket they are issued on, so this one keeps working from any thread.
    private readonly PollableDescriptor _control;

    private readonly string _name;
    private readonly bool _virtioHeaders;
    private readonly byte[]? _readBuffer;
    private readonly byte[]? _writeBuffer;
    private readonly TunOffload.Segmenter _segmenter = new();
    private readonly Lock _writeLock = new();
    private int _disposed;
    private long _droppedWrites;
    private long _droppedReads;

    private LinuxTun(PollableDescriptor tun, PollableDescriptor control, string name, bool virtioHeaders, bool offload)
    {
        _tun = tun;
        _control = control;
        _name = name;
        _virtioHeaders = virtioHeaders;
        Offload = offload;
        if (virtioHeaders)
        {
            _readBuffer = GC.AllocateUninitializedArray<byte>(TunOffload.HeaderSize + TunOffload.MaxPacket, pinned: true);
            _writeBuffer = GC.AllocateUninitializedArray<byte>(TunOffload.HeaderSize + TunOffload.MaxPacket, pinned: true);
        }
    }

    /// <summary>Whether the kernel accepted TCP segmentation offload (super-packets in both directions).</summary>
    public bool Offload { get; }

    /// <summary>
    /// Creates (or attaches to an existing, detached) TUN interface <paramref name="name"/> in the calling thread's
    /// network namespace and sets its MTU. A name such as "wg%d" lets the kernel pick the number. With
    /// <paramref name="offload"/> it asks for segmentation offload, and quietly does without if the kernel refuses.
    /// </summary>
    public static LinuxTun Create(string name, int mtu = DefaultMtu, bool offload = true)
    {
        ValidateName(name);
        ValidateMtu(mtu);

        var fd = Native.Open(DevicePath, Native.O_RDWR | Native.O_NONBLOCK | Native.O_CLOEXEC);
        if (fd < 0)
        {
            throw Native.Error($"open({DevicePath})");
        }
        var tun = new PollableDescriptor(fd);
        PollableDescriptor? control = null;
        try
        {
            TunNative.IfReq request = default;
            request.SetName(name);
            request.Flags = (short)(TunNative.IFF_TUN | TunNative.IFF_NO_PI | (offload ? TunNative.IFF_VNET_HDR : 0));
            var virtioHeaders = offload;
            if (Native.Ioctl(fd, TunNative.TUNSETIFF, &request) != 0)
            {
                // An existing persistent interface made without virtio headers refuses them: attach as it is.
                if (!offload || Marshal.GetLastPInvokeError() != Native.EINVAL)
                {
                    throw Native.Error($"ioctl(TUNSETIFF, {name})");
                }
                request = default;
                request.SetName(name);
                request.Flags = TunNative.IFF_TUN | TunNative.IFF_NO_PI;
                virtioHeaders = false;
                if (Native.Ioctl(fd, TunNative.TUNSETIFF, &request) != 0)
                {
                    throw Native.Error($"ioctl(TUNSETIFF, {name})");
                }
            }
            var actualName = request.GetName();
            var offloads = TunNative.TUN_F_CSUM | TunNative.TUN_F_TSO4 | TunNative.TUN_F_TSO6;
            var segmentation = virtioHeaders && Native.Ioctl(fd, TunNative.TUNSETOFFLOAD, (void*)offloads) == 0;

            var socket = Native.Socket(Native.AF_INET, Native.SOCK_DGRAM | Native.SOCK_CLOEXEC, 0);
            if (socket < 0)
            {
                throw Native.Error("socket(AF_INET, SOCK_DGRAM)");
            }
            control = new PollableDescriptor(socket);
            var device = new LinuxTun(tun, control, actualName, virtioHeaders, segmentation);
            device.SetMtu(mtu);
            return device;
        }
        catch
        {
            control?.Dispose();
            tun.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates the TUN inside the named network namespace (`ip netns add`), from a dedicated thread that enters it
    /// with setns(2): a TUN belongs to the namespace of the thread that creates it. The device works from any
    /// thread afterwards.
    /// </summary>
    public static LinuxTun CreateInNamespace(string netns, string name, int mtu = DefaultMtu, bool offload = true) =>
        NetNamespace.Run(netns, () => Create(name, mtu, offload));

    /// <summary>The interface's name as the kernel has it now (with "%d" resolved; follows renames).</summary>
    public string Name
    {
        get
        {
            var added = false;
            try
            {
                _tun.DangerousAddRef(ref added);
                TunNative.IfReq request = default;
                return Native.Ioctl(_tun.Fd, TunNative.TUNGETIFF, &request) == 0 ? request.GetName() : _name;
            }
            catch (ObjectDisposedException)
            {
                return _name;
            }
            finally
            {
                if (added)
                {
                    _tun.DangerousRelease();
                }
            }
        }
    }

    /// <summary>The interface's MTU as the kernel has it now (one ioctl; `ip link set mtu` changes it).</summary>
    public int Mtu
    {
        get
        {
            var name = Name;
            var added = false;
            try
            {
                _control.DangerousAddRef(ref added);
                TunNative.IfReq request = default;
                request.SetName(name);
                if (Native.Ioctl(_control.Fd, TunNative.SIOCGIFMTU, &request) != 0)
                {
                    throw Native.Error($"ioctl(SIOCGIFMTU, {name})");
                }
                return request.Mtu;
            }
            finally
            {
                if (added)
                {
                    _control.DangerousRelease();
                }
            }
        }
    }

    public int BatchSize => DefaultBatchSize;

    /// <summary>Packets the kernel refused on write (EINVAL for a malformed packet, EIO while the link is down...).</summary>
    public long DroppedWrites => Interlocked.Read(ref _droppedWrites);

    /// <summary>Packets the kernel dropped on read because they did not fit the buffer.</summary>
    public long DroppedReads => Interlocked.Read(ref _droppedReads);

    public void SetMtu(int mtu)
    {
        ValidateMtu(mtu);
        var name = Name;
        var added = false;
        try
        {
            _control.DangerousAddRef(ref added);
            TunNative.IfReq request = default;
            request.SetName(name);
            request.Mtu = mtu;
            if (Native.Ioctl(_control.Fd, TunNative.SIOCSIFMTU, &request) != 0)
            {
                throw Native.Error($"ioctl(SIOCSIFMTU, {name}, {mtu})");
            }
        }
        finally
        {
            if (added)
            {
                _control.DangerousRelease();
            }
        }
    }

    public int Read(byte[][] buffers, int[] sizes, int offset)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var capacity = Math.Min(buffers.Length, sizes.Length);
        ArgumentOutOfRangeException.ThrowIfZero(capacity, nameof(buffers));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

        var added = false;
        try
        {
            _tun.DangerousAddRef(ref added);
            var fd = _tun.Fd;
            if (_virtioHeaders)
            {
                return ReadSegmenting(fd, buffers, sizes, offset, capacity);
            }
            var count = 0;
            while (count < capacity)
            {
                var buffer = buffers[count];
                ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, buffer.Length, nameof(offset));
                nint read;
                fixed (byte* start = buffer)
                {
                    read = Native.Read(fd, start + offset, (nuint)(buffer.Length - offset));
                }
                if (read >= 0)
                {
                    sizes[count++] = (int)read;
                    continue;
                }
                if (EndOfBatch(count))
                {
                    return count;
                }
            }
            return count;
        }
        finally
        {
            if (added)
            {
                _tun.DangerousRelease();
            }
        }
    }

    /// <summary>Reads (super-)packets into one buffer and cuts them into the caller's; what does not fit waits for the next call.</summary>
    private int ReadSegmenting(int fd, byte[][] buffers, int[] sizes, int offset, int capacity)
    {
        var count = 0;
        while (count < capacity)
        {
            if (_segmenter.HasNext)
            {
                count = _segmenter.WriteInto(buffers, sizes, offset, count, capacity, ref _droppedReads);
                continue;
            }
            nint read;
            fixed (byte* start = _readBuffer)
            {
                read = Native.Read(fd, start, (nuint)_readBuffer!.Length);
            }
            if (read >= 0)
            {
                if (!_segmenter.Begin(_readBuffer!, 0, (int)read))
                {
                    Interlocked.Increment(ref _droppedReads);
                }
                continue;
            }
            if (EndOfBatch(count))
            {
                return count;
            }
        }
        return count;
    }

    /// <summary>
    /// After a failed read: true when the batch should end with the <paramref name="count"/> packets it has; false to
    /// read again (after waiting for the first packet, or after a packet the kernel dropped).
    /// </summary>
    private bool EndOfBatch(int count)
    {
        var errno = Marshal.GetLastPInvokeError();
        switch (errno)
        {
            case Native.EAGAIN:
                // Fill the batch only with what is already queued; block only for the first packet.
                if (count > 0)
                {
                    return true;
                }
                ObjectDisposedException.ThrowIf(!_tun.Wait(Native.POLLIN), this);
                return false;
            case Native.EINTR:
                return false;
            case Native.EFAULT:
                // tun_put_user could not copy a packet longer than the buffer: the kernel has freed it.
                Interlocked.Increment(ref _droppedReads);
                return false;
            default:
                throw Native.Error($"read({_name})", errno);
        }
    }

    public void Write(byte[][] buffers, int[] sizes, int offset, int count)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Math.Min(buffers.Length, sizes.Length));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

        var added = false;
        try
        {
            _tun.DangerousAddRef(ref added);
            var fd = _tun.Fd;
            for (var i = 0; i < count; i++)
            {
                var buffer = buffers[i];
                var size = sizes[i];
                // The pointer arithmetic below trusts these bounds: check them before going native.
                if (size < 0 || offset > buffer.Length - size)
                {
                    throw new ArgumentOutOfRangeException(nameof(sizes), $"Packet {i} ({size} bytes at {offset}) does not fit its {buffer.Length}-byte buffer.");
                }
            }
            if (!_virtioHeaders)
            {
                for (var i = 0; i < count; i++)
                {
                    WriteOne(fd, buffers[i], offset, sizes[i]);
                }
                return;
            }
            lock (_writeLock)
            {
                WriteCoalescing(fd, buffers, sizes, offset, count);
            }
        }
        finally
        {
            if (added)
            {
                _tun.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Writes runs of consecutive segments of one TCP flow as one super-packet, everything else as it is (with an
    /// empty virtio header). Caller holds the write lock.
    /// </summary>
    private void WriteCoalescing(int fd, byte[][] buffers, int[] sizes, int offset, int count)
    {
        var i = 0;
        while (i < count)
        {
            var total = 0;
            var push = false;
            var end = Offload ? TunOffload.FindRun(buffers, sizes, offset, i, count, out total, out push) : i + 1;
            if (end - i > 1)
            {
                var length = TunOffload.Coalesce(buffers, sizes, offset, i, end, total, push, _writeBuffer);
                fixed (byte* start = _writeBuffer)
                {
                    var vector = new Native.IoVec { Base = start, Length = (nuint)length };
                    WriteVector(fd, &vector, 1);
                }
            }
            else
            {
                WriteOne(fd, buffers[i], offset, sizes[i]);
            }
            i = end;
        }
    }

    private void WriteOne(int fd, byte[] buffer, int offset, int size)
    {
        if (_virtioHeaders)
        {
            // An empty header: no offload asked for this packet, the kernel checks it as it is.
            var header = stackalloc byte[TunOffload.HeaderSize];
            new Span<byte>(header, TunOffload.HeaderSize).Clear();
            fixed (byte* start = buffer)
            {
                var vectors = stackalloc Native.IoVec[2];
                vectors[0] = new Native.IoVec { Base = header, Length = TunOffload.HeaderSize };
                vectors[1] = new Native.IoVec { Base = start + offset, Length = (nuint)size };
                WriteVector(fd, vectors, 2);
            }
            return;
        }
        fixed (byte* start = buffer)
        {
            var vector = new Native.IoVec { Base = start + offset, Length = (nuint)size };
            WriteVector(fd, &vector, 1);
        }
    }

    private void WriteVector(int fd, Native.IoVec* vectors, int count)
    {
        while (true)
        {
            var written = Native.Writev(fd, vectors, count);
            if (written >= 0)
            {
                return;
            }
            var errno = Marshal.GetLastPInvokeError();
            switch (errno)
            {
                case Native.EINTR:
                    continue;
                case Native.EAGAIN:
                    ObjectDisposedException.ThrowIf(!_tun.Wait(Native.POLLOUT), this);
                    continue;
                case Native.EINVAL:
                case Native.EIO:
                case Native.EMSGSIZE:
                case Native.ENOBUFS:
                case Native.ENOMEM:
                case Native.EFAULT:
                case Native.EPERM:
                    // The kernel refused this packet (malformed, link down, no memory): drop it, as a NIC would,
                    // rather than take the device down for one bad packet.
                    Interlocked.Increment(ref _droppedWrites);
                    return;
                default:
                    throw Native.Error($"write({_name})", errno);
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Wake a Read blocked in poll first; the descriptors close when the last call in progress lets go.
        _tun.Wake();
        _tun.Dispose();
        _control.Dispose();
    }

    public override string ToString() => $"tun {_name}";

    private static void ValidateName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is 0 or >= TunNative.IFNAMSIZ)
        {
            throw new ArgumentException($"An interface name is 1 to {TunNative.IFNAMSIZ - 1} characters: '{name}'.", nameof(name));
        }
        foreach (var c in name)
        {
            // The kernel's dev_valid_name: no '/', ':' or whitespace; we also keep to printable ASCII.
            if (c <= ' ' || c > '~' || c == '/' || c == ':')
            {
                throw new ArgumentException($"An interface name has printable ASCII characters other than '/' and ':': '{name}'.", nameof(name));
            }
        }
        if (name is "." or "..")
        {
            throw new ArgumentException($"'{name}' is not a valid interface name.", nameof(name));
        }
    }

    private static void ValidateMtu(int mtu)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, TunNative.MinimumMtu);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(mtu, TunNative.MaximumMtu);
    }
}
