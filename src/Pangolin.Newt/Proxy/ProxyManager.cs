using System.Net;
using Microsoft.Extensions.Logging;
using Pangolin.Netstack;
using Pangolin.Protocol;

namespace Pangolin.Newt.Proxy;

/// <summary>
/// The site's relays, one per (protocol, internal port), listening on the tunnel IP (inside the netstack, or on
/// kernel sockets with <c>--native</c>): what
/// <c>newt/tcp/add</c>, <c>newt/udp/add</c>, their removes and <c>newt/sync</c> change (sites.md §1.6).
/// </summary>
/// <remarks>
/// Adding a target on a port in use replaces it, as upstream newt does. A replaced or removed TCP relay stops
/// listening at once, while its running connections go on; <see cref="DisposeAsync"/> gives those a grace period and
/// then resets them. The updown hook runs outside the lock, but calls are expected from one control loop.
/// </remarks>
internal sealed class ProxyManager : IAsyncDisposable
{
    private readonly IRelayNetwork _network;
    private readonly IPAddress _tunnelAddress;
    private readonly ProxyOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<(ProxyProtocol Protocol, int Port), Entry> _entries = [];
    private readonly HashSet<TcpProxy> _draining = [];
    private readonly Lock _lock = new();
    private bool _disposed;

    public ProxyManager(NetworkStack stack, IPAddress tunnelAddress, ProxyOptions? options = null)
        : this(new NetstackRelayNetwork(stack ?? throw new ArgumentNullException(nameof(stack))), tunnelAddress, options)
    {
    }

    public ProxyManager(IRelayNetwork network, IPAddress tunnelAddress, ProxyOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(tunnelAddress);
        _network = network;
        _tunnelAddress = tunnelAddress;
        _options = options ?? new ProxyOptions();
        _logger = _options.LoggerFactory.CreateLogger<ProxyManager>();
    }

    public ProxyCounters Counters { get; } = new();

    /// <summary>The targets as the server sent them (before any updown replacement), by protocol and port.</summary>
    public IReadOnlyList<ProxyTarget> Targets
    {
        get
        {
            lock (_lock)
            {
                return [.. _entries.Values.Select(e => e.Target).OrderBy(t => t.Protocol).ThenBy(t => t.InternalPort)];
            }
        }
    }

    /// <summary>Where a target's relay actually dials (the updown script may have replaced it); null when not relayed.</summary>
    public string? DialAddress(ProxyProtocol protocol, int internalPort)
    {
        lock (_lock)
        {
            return _entries.TryGetValue((protocol, internalPort), out var entry) ? TargetHostPort(entry) : null;
        }
    }

    /// <summary>Starts relaying <paramref name="target"/>, replacing any relay on its protocol and internal port.</summary>
    /// <exception cref="System.Net.Sockets.SocketException">The port cannot be listened on.</exception>
    public void Add(ProxyTarget target)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(target.InternalPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(target.InternalPort, 65535);
        ArgumentException.ThrowIfNullOrEmpty(target.Host);
        var (host, port) = RunUpDown("add", target) ?? (target.Host, target.Port);
        Entry? replaced;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _entries.Remove((target.Protocol, target.InternalPort), out replaced);
            if (replaced is not null)
            {
                Retire(replaced);
            }
            var local = new IPEndPoint(_tunnelAddress, target.InternalPort);
            Entry entry;
            if (target.Protocol == ProxyProtocol.Tcp)
            {
                // A deep backlog: a burst of connections from the server must not find the accept queue full.
                var proxy = new TcpProxy(_network.ListenTcp(local, backlog: 1024), host, port, Counters, _options);
                proxy.Start();
                entry = new Entry(target, proxy, null);
            }
            else
            {
                var proxy = new UdpProxy(_network.BindUdp(local), host, port, Counters, _options);
                proxy.Start();
                entry = new Entry(target, null, proxy);
            }
            _entries.Add((target.Protocol, target.InternalPort), entry);
        }
        var dial = Format(host, port);
        ProxyManagerLog.Added(_logger, target.ProtocolName, target.InternalPort, dial, replaced is not null);
    }

    /// <summary>Stops relaying a port; false when nothing relays it.</summary>
    public bool Remove(ProxyProtocol protocol, int internalPort)
    {
        Entry? removed;
        lock (_lock)
        {
            if (_disposed || !_entries.Remove((protocol, internalPort), out removed))
            {
                return false;
            }
            Retire(removed);
        }
        RunUpDown("remove", removed.Target);
        ProxyManagerLog.Removed(_logger, removed.Target.ProtocolName, internalPort);
        return true;
    }

    /// <summary>
    /// Makes the relays match <paramref name="desired"/>, compared by (protocol, internal port): removes ports not in
    /// it, replaces those whose target changed and adds the missing ones (a port listed twice takes the last). With
    /// <paramref name="protocol"/>, only that protocol's relays are considered (for a tcp-only or udp-only list).
    /// </summary>
    public void Sync(IReadOnlyCollection<ProxyTarget> desired, ProxyProtocol? protocol = null)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var wanted = new Dictionary<(ProxyProtocol, int), ProxyTarget>();
        foreach (var target in desired)
        {
            if (protocol is { } only && target.Protocol != only)
            {
                throw new ArgumentException($"A {only} sync was given the {target.ProtocolName} target {target}.", nameof(desired));
            }
            wanted[(target.Protocol, target.InternalPort)] = target;
        }
        var current = Targets.Where(t => protocol is null || t.Protocol == protocol).ToList();
        foreach (var target in current)
        {
            if (!wanted.ContainsKey((target.Protocol, target.InternalPort)))
            {
                Remove(target.Protocol, target.InternalPort);
            }
        }
        var have = current.ToDictionary(t => (t.Protocol, t.InternalPort));
        foreach (var target in wanted.Values.OrderBy(t => t.Protocol).ThenBy(t => t.InternalPort))
        {
            if (!have.TryGetValue((target.Protocol, target.InternalPort), out var existing) || !SameTarget(existing, target))
            {
                Add(target);
            }
        }
    }

    /// <summary>
    /// Stops every listener, gives running TCP relays <see cref="ProxyOptions.ShutdownGrace"/> to finish, then resets
    /// them; UDP sessions close at once.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        List<TcpProxy> tcp;
        List<UdpProxy> udp;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            tcp = [.. _entries.Values.Where(e => e.Tcp is not null).Select(e => e.Tcp!), .. _draining];
            udp = [.. _entries.Values.Where(e => e.Udp is not null).Select(e => e.Udp!)];
            _entries.Clear();
            _draining.Clear();
        }
        // Every listener closes and every grace period starts now, before the first await.
        var drains = tcp.Select(p => p.DrainAsync(_options.ShutdownGrace)).ToList();
        foreach (var proxy in udp)
        {
            await proxy.DisposeAsync();
        }
        await Task.WhenAll(drains);
        foreach (var proxy in tcp)
        {
            await proxy.DisposeAsync();
        }
    }

    private static bool SameTarget(ProxyTarget a, ProxyTarget b) =>
        a.Port == b.Port && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase);

    private static string Format(string host, int port) => TargetString.FormatHostPort(host, port);

    private static string TargetHostPort(Entry entry) =>
        entry.Tcp is { } tcp ? Format(tcp.Host, tcp.Port) : Format(entry.Udp!.Host, entry.Udp.Port);

    /// <summary>Caller holds the lock. The listener closes now (freeing the port); TCP relays drain in the background.</summary>
    private void Retire(Entry entry)
    {
        if (entry.Udp is { } udp)
        {
            _ = udp.DisposeAsync().AsTask();
            return;
        }
        var tcp = entry.Tcp!;
        _draining.Add(tcp);
        _ = RetireAsync(tcp);
    }

    private async Task RetireAsync(TcpProxy proxy)
    {
        // Without a deadline: upstream lets a removed target's connections run until they end.
        await proxy.DrainAsync(Timeout.InfiniteTimeSpan);
        lock (_lock)
        {
            _draining.Remove(proxy);
        }
    }

    private (string Host, int Port)? RunUpDown(string action, ProxyTarget target)
    {
        if (_options.UpDown is not { } hook)
        {
            return null;
        }
        var replacement = hook(action, target.ProtocolName, target.HostPort);
        if (action != "add" || string.IsNullOrWhiteSpace(replacement))
        {
            return null;
        }
        if (!HostPort.TryParse(replacement.Trim(), out var host, out var port))
        {
            ProxyManagerLog.BadReplacement(_logger, target.HostPort, replacement);
            return null;
        }
        return (host, port);
    }

    private sealed record Entry(ProxyTarget Target, TcpProxy? Tcp, UdpProxy? Udp);
}

internal static partial class ProxyManagerLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Relaying {Protocol} {InternalPort} to {Target} (replaced an existing relay: {Replaced})")]
    public static partial void Added(ILogger logger, string protocol, int internalPort, string target, bool replaced);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped relaying {Protocol} {InternalPort}")]
    public static partial void Removed(ILogger logger, string protocol, int internalPort);

    [LoggerMessage(Level = LogLevel.Warning, Message = "updown script answered \"{Replacement}\" for {Target}, which is not host:port; keeping the target")]
    public static partial void BadReplacement(ILogger logger, string target, string replacement);
}
