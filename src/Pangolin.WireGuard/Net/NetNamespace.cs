using System.Runtime.ExceptionServices;

namespace Pangolin.WireGuard.Net;

/// <summary>
/// Runs code inside a Linux network namespace. Sockets and TUN devices belong to the network namespace of the
/// THREAD that creates them (setns(2) switches one thread only), and keep working from any thread afterwards; so
/// the code runs on a dedicated thread that enters the namespace and then ends — never on a pool thread, which
/// would carry the namespace into unrelated work.
/// </summary>
public static class NetNamespace
{
    /// <summary>Where `ip netns add` puts the namespace handles.</summary>
    public const string NamedNamespaceDirectory = "/var/run/netns";

    /// <summary>
    /// Runs <paramref name="action"/> in <paramref name="netns"/>: a name created with `ip netns add`, or a path to a
    /// namespace file such as /proc/1234/ns/net. Rethrows what the action throws.
    /// </summary>
    public static T Run<T>(string netns, Func<T> action)
    {
        ArgumentException.ThrowIfNullOrEmpty(netns);
        ArgumentNullException.ThrowIfNull(action);
        var path = netns.Contains('/', StringComparison.Ordinal) ? netns : Path.Combine(NamedNamespaceDirectory, netns);
        var result = default(T);
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter(path);
                result = action();
            }
            catch (Exception exception)
            {
                failure = ExceptionDispatchInfo.Capture(exception);
            }
        }, maxStackSize: 256 * 1024)
        {
            IsBackground = true,
            Name = "netns " + netns,
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result!;
    }

    public static void Run(string netns, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Run(netns, () =>
        {
            action();
            return 0;
        });
    }

    private static void Enter(string path)
    {
        var fd = Native.Open(path, Native.O_RDONLY | Native.O_CLOEXEC);
        if (fd < 0)
        {
            throw Native.Error($"open({path})");
        }
        try
        {
            if (Native.SetNs(fd, Native.CLONE_NEWNET) != 0)
            {
                throw Native.Error($"setns({path})");
            }
        }
        finally
        {
            Native.Close(fd);
        }
    }
}
