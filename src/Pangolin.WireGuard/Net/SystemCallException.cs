namespace Pangolin.WireGuard.Net;

/// <summary>A Linux system call failed: which call, and the errno it left.</summary>
public sealed class SystemCallException : IOException
{
    public SystemCallException()
        : this("(unknown)", 0, "A system call failed.")
    {
    }

    public SystemCallException(string message)
        : this("(unknown)", 0, message)
    {
    }

    public SystemCallException(string message, Exception innerException)
        : base(message, innerException)
    {
        SystemCall = "(unknown)";
    }

    public SystemCallException(string systemCall, int errno, string message)
        : base(message)
    {
        SystemCall = systemCall;
        Errno = errno;
    }

    /// <summary>The call that failed, e.g. "sendmmsg" or "ioctl(TUNSETIFF)".</summary>
    public string SystemCall { get; }

    /// <summary>The errno value (e.g. 101 for ENETUNREACH).</summary>
    public int Errno { get; }
}
