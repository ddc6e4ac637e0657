using System.Diagnostics;
using Pangolin.WireGuard.Net;

namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>
/// A throwaway Linux network namespace (`ip netns add`), with its loopback up, deleted on Dispose (which takes its
/// interfaces, veth pairs included, with it). Names carry the process id and a counter, so tests run in parallel,
/// and namespaces left behind by a test process that died are removed by the next one.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private const string Prefix = "pwgt-";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);
    private static readonly Lazy<bool> StaleRemoved = new(RemoveStale);
    private static int _counter;
    private int _disposed;

    private NetworkNamespace(string name)
    {
        Name = name;
    }

    public string Name { get; }

    public static NetworkNamespace Create()
    {
        _ = StaleRemoved.Value;
        var name = $"{Prefix}{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}";
        Run("ip", "netns", "add", name);
        var created = new NetworkNamespace(name);
        try
        {
            created.Ip("link", "set", "lo", "up");
            return created;
        }
        catch
        {
            created.Dispose();
            throw;
        }
    }

    /// <summary>Runs a program inside the namespace (`ip netns exec`) and returns its standard output.</summary>
    public string Exec(params string[] command) => Run("ip", ["netns", "exec", Name, .. command]);

    /// <summary>`ip -n &lt;namespace&gt; ...`.</summary>
    public string Ip(params string[] arguments) => Run("ip", ["-n", Name, .. arguments]);

    public void Sysctl(string key, string value) => Exec("sysctl", "-qw", $"{key}={value}");

    /// <summary>Turns IPv6 off for interfaces created from now on (and the loopback), so that none chatters.</summary>
    public void DisableIPv6()
    {
        Sysctl("net.ipv6.conf.all.disable_ipv6", "1");
        Sysctl("net.ipv6.conf.default.disable_ipv6", "1");
    }

    /// <summary>Adds an address; IPv6 ones skip duplicate-address detection so that they are usable at once.</summary>
    public void AddAddress(string link, string cidr)
    {
        if (cidr.Contains(':', StringComparison.Ordinal))
        {
            Ip("addr", "add", cidr, "dev", link, "nodad");
        }
        else
        {
            Ip("addr", "add", cidr, "dev", link);
        }
    }

    public void SetUp(string link) => Ip("link", "set", link, "up");

    /// <summary>Moves a link of this namespace into <paramref name="target"/>.</summary>
    public void MoveLink(string link, NetworkNamespace target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Ip("link", "set", link, "netns", target.Name);
    }

    /// <summary>Creates a veth pair: <paramref name="name"/> here, <paramref name="peerName"/> in <paramref name="peer"/>.</summary>
    public void AddVethPair(string name, NetworkNamespace peer, string peerName)
    {
        ArgumentNullException.ThrowIfNull(peer);
        Ip("link", "add", name, "type", "veth", "peer", "name", peerName, "netns", peer.Name);
    }

    /// <summary>Runs code on a thread that has entered the namespace (sockets and TUNs it creates live here).</summary>
    public T Enter<T>(Func<T> action) => NetNamespace.Run(Name, action);

    /// <summary>The output of `ip -n ns link show dev <paramref name="link"/>`, or null if there is no such link.</summary>
    public string? TryShowLink(string link)
    {
        var (exitCode, output, _) = TryRun("ip", ["-n", Name, "link", "show", "dev", link]);
        return exitCode == 0 ? output : null;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        var (exitCode, _, error) = TryRun("ip", ["netns", "delete", Name]);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"ip netns delete {Name} failed: {error}");
        }
    }

    public override string ToString() => Name;

    public static string Run(string program, params string[] arguments)
    {
        var (exitCode, output, error) = TryRun(program, arguments);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {exitCode}: {error.Trim()}");
        }
        return output;
    }

    public static (int ExitCode, string Output, string Error) TryRun(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {CommandTimeout}.");
        }
        process.WaitForExit();
        return (process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
    }

    /// <summary>Deletes namespaces that earlier test processes (now gone) created and could not delete.</summary>
    private static bool RemoveStale()
    {
        if (!Directory.Exists(NetNamespace.NamedNamespaceDirectory))
        {
            return true;
        }
        foreach (var path in Directory.GetFiles(NetNamespace.NamedNamespaceDirectory, Prefix + "*"))
        {
            var name = Path.GetFileName(path);
            var pidText = name[Prefix.Length..].Split('-')[0];
            if (int.TryParse(pidText, out var pid) && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}"))
            {
                TryRun("ip", ["netns", "delete", name]);
            }
        }
        return true;
    }
}
