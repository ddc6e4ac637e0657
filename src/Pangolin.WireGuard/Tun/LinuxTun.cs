using System.Runtime.InteropServices;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;

namespace Pangolin.WireGuard.Tun;

/// <summary>
/// A Linux TUN device (IFF_TUN | IFF_NO_PI: each read and write is one bare IPv4 or IPv6 packet). Like
/// wireguard-go, it creates the interface and sets its MTU but leaves bringing it up and addressing it to `ip`.
/// The interface lives as long as this object: it is not persistent, so Dispose removes it.
/// </summary>
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
    private int _disposed;
    private long _droppedWrites;
    private long _droppedReads;

    private LinuxTun(PollableDescriptor tun, PollableDescriptor control, string name)
    {
        _tun = tun;
        _control = control;
        _name = name;
    }

    /// <summary>
    /// Creates (or attaches to an existing, detached) TUN interface <paramref name="name"/> in the calling thread's
    /// network namespace and sets its MTU. A name such as "wg%d" lets the kernel pick the number.
    /// </summary>
    public static LinuxTun Create(string name, int mtu = DefaultMtu)
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
            request.Flags = TunNative.IFF_TUN | TunNative.IFF_NO_PI;
            if (Native.Ioctl(fd, TunNative.TUNSETIFF, &request) != 0)
            {
                throw Native.Error($"ioctl(TUNSETIFF, {name})");
            }
            var actualName = request.GetName();

            var socket = Native.Socket(Native.AF_INET, Native.SOCK_DGRAM | Native.SOCK_CLOEXEC, 0);
            if (socket < 0)
            {
                throw Native.Error("socket(AF_INET, SOCK_DGRAM)");
            }
            control = new PollableDescriptor(socket);
            var device = new LinuxTun(tun, control, actualName);
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
    public static LinuxTun CreateInNamespace(string netns, string name, int mtu = DefaultMtu) =>
        NetNamespace.Run(netns, () => Create(name, mtu));

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

                var errno = Marshal.GetLastPInvokeError();
                switch (errno)
                {
                    case Native.EAGAIN:
                        // Fill the batch only with what is already queued; block only for the first packet.
                        if (count > 0)
                        {
                            return count;
                        }
                        ObjectDisposedException.ThrowIf(!_tun.Wait(Native.POLLIN), this);
                        break;
                    case Native.EINTR:
                        break;
                    case Native.EFAULT:
                        // tun_put_user could not copy a packet longer than the buffer: the kernel has freed it.
                        Interlocked.Increment(ref _droppedReads);
                        break;
                    default:
                        throw Native.Error($"read({_name})", errno);
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
                WriteOne(fd, buffer, offset, size);
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

    private void WriteOne(int fd, byte[] buffer, int offset, int size)
    {
        while (true)
        {
            nint written;
            fixed (byte* start = buffer)
            {
                written = Native.Write(fd, start + offset, (nuint)size);
            }
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
