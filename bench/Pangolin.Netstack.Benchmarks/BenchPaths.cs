using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Tcp;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Netstack.Benchmarks;

/// <summary>One TCP connection of a scenario: the kernel's end in namespace A, and the peer's end.</summary>
internal sealed class BenchConnection(Stream kernel, Stream peer) : IDisposable
{
    public Stream Kernel { get; } = kernel;

    public Stream Peer { get; } = peer;

    public void Dispose()
    {
        Kernel.Dispose();
        Peer.Dispose();
    }
}

/// <summary>
/// What a scenario runs over: the kernel in namespace A on one end, and on the other either the kernel in namespace
/// B across a veth pair, or our stack across a TUN.
/// </summary>
internal abstract class BenchPath : IDisposable
{
    public abstract string Name { get; }

    /// <summary>The kernel in A connects to a listener on the peer.</summary>
    public abstract Task<BenchConnection> KernelConnectsAsync(int port, CancellationToken cancellationToken);

    /// <summary>The peer connects to a listener of the kernel in A.</summary>
    public abstract Task<BenchConnection> PeerConnectsAsync(int port, CancellationToken cancellationToken);

    /// <summary>Counters whose change over a scenario says what went wrong (or that nothing did).</summary>
    public abstract IReadOnlyDictionary<string, long> Counters();

    /// <summary>A failure the path saw outside the scenario's own loops (the TUN reader dying), or null.</summary>
    public virtual Exception? Failure => null;

    /// <summary>IP packets that crossed the link either way so far (our stack's path only).</summary>
    public virtual long? PacketCount => null;

    /// <summary>CPU seconds of the thread that feeds received packets to our stack so far (its path only).</summary>
    public virtual double? ReaderCpuSeconds => null;

    public abstract void Dispose();

    /// <summary>A kernel TCP socket created in <paramref name="netns"/>, Nagle off as the brief asks.</summary>
    protected static Socket KernelSocket(string netns) =>
        NetNamespace.Run(netns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true });

    protected static Socket KernelListener(string netns, IPEndPoint local)
    {
        var listener = KernelSocket(netns);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(local);
            listener.Listen(1);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    protected static async Task<Stream> AcceptKernelAsync(Socket listener, CancellationToken cancellationToken)
    {
        var accepted = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        accepted.NoDelay = true;
        return new NetworkStream(accepted, ownsSocket: true);
    }

    protected static async Task<Stream> ConnectKernelAsync(string netns, IPEndPoint remote, CancellationToken cancellationToken)
    {
        var socket = KernelSocket(netns);
        try
        {
            await socket.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The kernel's TCP counters in <paramref name="netns"/> (/proc/net/snmp and /proc/net/netstat there) that say
    /// whether segments were lost, retransmitted or arrived out of order, and the machine's softnet drops (packets
    /// the kernel's per-CPU backlog had no room for, which is where a TUN write lands).
    /// </summary>
    protected static void AddKernelCounters(Dictionary<string, long> counters, string label, string netns)
    {
        // /proc/thread-self/net is the namespace of the reading thread, which NetNamespace.Run has moved into netns.
        var (snmp, netstat) = NetNamespace.Run(netns, () => (File.ReadAllLines("/proc/thread-self/net/snmp"), File.ReadAllLines("/proc/thread-self/net/netstat")));
        AddPairs(counters, label, snmp, "Tcp:", ["RetransSegs", "InErrs", "OutRsts"]);
        AddPairs(counters, label, netstat, "TcpExt:", ["TCPOFOQueue", "TCPOFODrop", "TCPRcvQDrop", "TCPBacklogDrop", "TCPTimeouts", "TCPLossProbes", "TCPSACKReorder", "TCPDSACKRecv"]);
        long dropped = 0;
        foreach (var line in File.ReadLines("/proc/net/softnet_stat"))
        {
            // One line per CPU; the second column is the packets dropped because the backlog was full.
            var columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            dropped += long.Parse(columns[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        counters["softnet.dropped (whole machine)"] = dropped;
    }

    /// <summary>The "Name: a b c" / "Name: 1 2 3" line pairs of /proc/net/snmp and netstat.</summary>
    private static void AddPairs(Dictionary<string, long> counters, string label, string[] lines, string prefix, string[] wanted)
    {
        var pair = lines.Where(line => line.StartsWith(prefix, StringComparison.Ordinal)).ToArray();
        if (pair.Length != 2)
        {
            return;
        }
        var names = pair[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = pair[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var name in wanted)
        {
            var index = Array.IndexOf(names, name);
            if (index > 0 && index < values.Length)
            {
                counters[$"{label}.{name}"] = long.Parse(values[index], CultureInfo.InvariantCulture);
            }
        }
    }
}

/// <summary>The limit: namespaces A and B joined by a veth pair, the kernel on both ends.</summary>
internal sealed class VethPath : BenchPath
{
    private static readonly IPAddress AddressA = IPAddress.Parse("10.77.0.1");
    private static readonly IPAddress AddressB = IPAddress.Parse("10.77.0.2");
    private readonly NetworkNamespace _a;
    private readonly NetworkNamespace _b;

    private VethPath(NetworkNamespace a, NetworkNamespace b)
    {
        _a = a;
        _b = b;
    }

    public override string Name => "veth";

    public static VethPath Create(NetworkNamespace a, int mtu)
    {
        ArgumentNullException.ThrowIfNull(a);
        var b = NetworkNamespace.Create();
        try
        {
            b.DisableIPv6();
            a.AddVethPair("pnbv-a", b, "pnbv-b");
            var mtuText = mtu.ToString(CultureInfo.InvariantCulture);
            a.Ip("link", "set", "pnbv-a", "mtu", mtuText);
            b.Ip("link", "set", "pnbv-b", "mtu", mtuText);
            a.AddAddress("pnbv-a", AddressA + "/24");
            b.AddAddress("pnbv-b", AddressB + "/24");
            a.SetUp("pnbv-a");
            b.SetUp("pnbv-b");
            return new VethPath(a, b);
        }
        catch
        {
            b.Dispose();
            throw;
        }
    }

    public override async Task<BenchConnection> KernelConnectsAsync(int port, CancellationToken cancellationToken)
    {
        using var listener = KernelListener(_b.Name, new IPEndPoint(AddressB, port));
        var accept = AcceptKernelAsync(listener, cancellationToken);
        var kernel = await ConnectKernelAsync(_a.Name, new IPEndPoint(AddressB, port), cancellationToken).ConfigureAwait(false);
        return new BenchConnection(kernel, await accept.ConfigureAwait(false));
    }

    public override async Task<BenchConnection> PeerConnectsAsync(int port, CancellationToken cancellationToken)
    {
        using var listener = KernelListener(_a.Name, new IPEndPoint(AddressA, port));
        var accept = AcceptKernelAsync(listener, cancellationToken);
        var peer = await ConnectKernelAsync(_b.Name, new IPEndPoint(AddressA, port), cancellationToken).ConfigureAwait(false);
        return new BenchConnection(await accept.ConfigureAwait(false), peer);
    }

    public override IReadOnlyDictionary<string, long> Counters()
    {
        var counters = new Dictionary<string, long>();
        AddKernelCounters(counters, "A", _a.Name);
        AddKernelCounters(counters, "B", _b.Name);
        return counters;
    }

    /// <summary>Deletes B (and with it the veth pair); A belongs to the caller.</summary>
    public override void Dispose() => _b.Dispose();
}

/// <summary>
/// What is measured: namespace A holds a TUN whose far end is our <see cref="NetworkStack"/> in this process (the
/// kernel at 10.78.0.1, the stack at 10.78.0.2).
/// </summary>
internal sealed class TunPath : BenchPath
{
    private static readonly IPAddress KernelAddress = IPAddress.Parse("10.78.0.1");
    private static readonly IPAddress StackAddress = IPAddress.Parse("10.78.0.2");
    private const string Interface = "pnbt0";
    private readonly NetworkNamespace _a;
    private readonly BenchTunLink _link;
    private readonly NetworkStack _stack;

    private TunPath(NetworkNamespace a, BenchTunLink link, NetworkStack stack)
    {
        _a = a;
        _link = link;
        _stack = stack;
    }

    public override string Name => "tun";

    public override Exception? Failure => _link.ReaderFailure;

    public override long? PacketCount => _link.PacketsIn + _link.PacketsOut;

    public override double? ReaderCpuSeconds => _link.ReaderCpuSeconds();

    public static TunPath Create(NetworkNamespace a, int mtu)
    {
        ArgumentNullException.ThrowIfNull(a);
        var link = new BenchTunLink(a.Name, Interface, mtu);
        try
        {
            a.AddAddress(Interface, KernelAddress + "/24");
            a.SetUp(Interface);
            // Nagle off on our side too, as on the kernel's sockets: the request/response test writes one byte at
            // a time and must not wait for the previous one's ACK.
            var stack = new NetworkStack(link, new NetworkStackOptions { TcpNoDelay = true });
            stack.AddAddress(StackAddress);
            link.Attach(stack);
            return new TunPath(a, link, stack);
        }
        catch
        {
            link.Dispose();
            throw;
        }
    }

    public override async Task<BenchConnection> KernelConnectsAsync(int port, CancellationToken cancellationToken)
    {
        using var listener = _stack.ListenTcp(new IPEndPoint(StackAddress, port));
        var accept = listener.AcceptAsync(cancellationToken).AsTask();
        var kernel = await ConnectKernelAsync(_a.Name, new IPEndPoint(StackAddress, port), cancellationToken).ConfigureAwait(false);
        return new BenchConnection(kernel, await accept.ConfigureAwait(false));
    }

    public override async Task<BenchConnection> PeerConnectsAsync(int port, CancellationToken cancellationToken)
    {
        using var listener = KernelListener(_a.Name, new IPEndPoint(KernelAddress, port));
        var accept = AcceptKernelAsync(listener, cancellationToken);
        var peer = await _stack.ConnectTcpAsync(new IPEndPoint(KernelAddress, port), cancellationToken).ConfigureAwait(false);
        return new BenchConnection(await accept.ConfigureAwait(false), peer);
    }

    public override IReadOnlyDictionary<string, long> Counters()
    {
        var counters = new Dictionary<string, long>
        {
            ["stack.DroppedPackets"] = _stack.DroppedPackets,
            ["stack.ResetsSent"] = _stack.ResetsSent,
            ["stack.TcpConnectionsOpen"] = _stack.TcpConnectionCount,
            ["link.PacketsIn"] = _link.PacketsIn,
            ["link.PacketsOut"] = _link.PacketsOut,
            ["tun.DroppedReads"] = _link.DroppedReads,
            ["tun.DroppedWrites"] = _link.DroppedWrites,
        };
        AddKernelCounters(counters, "A", _a.Name);
        return counters;
    }

    public override void Dispose()
    {
        _stack.Dispose();
        _link.Dispose();
    }
}

/// <summary>Half-closes either kind of stream the scenarios use (a kernel socket's, or our stack's).</summary>
internal static class StreamShutdown
{
    public static void ShutdownSend(Stream stream)
    {
        switch (stream)
        {
            case NetworkStream network:
                network.Socket.Shutdown(SocketShutdown.Send);
                break;
            case TcpStream ours:
                ours.ShutdownSend();
                break;
            default:
                throw new ArgumentException($"Cannot half-close a {stream.GetType().Name}.", nameof(stream));
        }
    }
}
