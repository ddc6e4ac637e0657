using System.Runtime.InteropServices;

namespace Pangolin.WireGuard.Net;

/// <summary>
/// A non-blocking file descriptor (socket or TUN) paired with an eventfd so that a thread blocked in poll(2) on it
/// can be woken by <see cref="Wake"/> (Dispose). Closing a descriptor does not wake a thread polling it, and closing it
/// under a running system call would let the number be reused by an unrelated file; so callers hold a reference
/// (<see cref="SafeHandle.DangerousAddRef"/>) for the duration of each call, Dispose wakes them, and the last
/// reference out closes both descriptors.
/// </summary>
internal sealed unsafe class PollableDescriptor : SafeHandle
{
    private readonly int _wakeFd;

    /// <summary>Takes ownership of <paramref name="fd"/> (closed here if the eventfd cannot be created).</summary>
    public PollableDescriptor(int fd)
        : base(-1, ownsHandle: true)
    {
        _wakeFd = Native.EventFd(0, Native.EFD_CLOEXEC | Native.EFD_NONBLOCK);
        if (_wakeFd < 0)
        {
            var error = Native.Error("eventfd");
            Native.Close(fd);
            throw error;
        }
        SetHandle(fd);
    }

    public int Fd => (int)handle;

    public override bool IsInvalid => handle == -1;

    /// <summary>
    /// Wakes every current and later <see cref="Wait"/>: the eventfd counter is never read back, so it stays
    /// readable (poll is level-triggered).
    /// </summary>
    public void Wake()
    {
        var added = false;
        try
        {
            DangerousAddRef(ref added);
            ulong one = 1;
            _ = Native.Write(_wakeFd, (byte*)&one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // Already closed: nobody can be waiting.
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Blocks until the descriptor reports one of <paramref name="events"/> (or an error, which the caller's next
    /// system call will report) or until <see cref="Wake"/>. Returns false when woken. The caller holds a reference.
    /// </summary>
    public bool Wait(short events)
    {
        var fds = stackalloc Native.PollFd[2];
        fds[0].Fd = Fd;
        fds[0].Events = events;
        fds[1].Fd = _wakeFd;
        fds[1].Events = Native.POLLIN;
        while (true)
        {
            fds[0].REvents = 0;
            fds[1].REvents = 0;
            var ready = Native.Poll(fds, 2, -1);
            if (ready < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Native.EINTR)
                {
                    continue;
                }
                throw Native.Error("poll", errno);
            }
            if (fds[1].REvents != 0)
            {
                return false;
            }
            if (fds[0].REvents != 0)
            {
                return true;
            }
        }
    }

    protected override bool ReleaseHandle()
    {
        var closed = Native.Close((int)handle) == 0;
        closed &= Native.Close(_wakeFd) == 0;
        return closed;
    }
}
