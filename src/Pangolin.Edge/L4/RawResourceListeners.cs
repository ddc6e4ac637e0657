using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Pangolin.Edge.Rules;

namespace Pangolin.Edge.L4;

/// <summary>
/// Serves the raw TCP and UDP resources of the current <see cref="EdgeSnapshot"/>: one listening socket per resource
/// port, kept in step with the snapshot (upstream does this with one Traefik entrypoint per port, PROTOCOL.md §5).
/// </summary>
/// <remarks>
/// On every snapshot (<see cref="Apply"/>, called on start and whenever the source's change token fires): a new
/// resource's port opens at once; a removed resource's port closes, ending its connections and sessions; a changed
/// resource keeps its socket and live connections, and new connections use its new rules and targets. A port that
/// cannot be bound is logged and tried again on the next snapshot, without affecting the others.
/// </remarks>
public sealed partial class RawResourceListeners : IHostedService, IAsyncDisposable
{
    private readonly IEdgeConfigSource _source;
    private readonly ITargetDialer _dialer;
    private readonly IGeoLookup? _geo;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly RawResourceOptions _options;
    private readonly IPAddress _bindAddress;
    private readonly Lock _gate = new();
    private readonly Dictionary<(ProtocolType Protocol, int Port), IPortListener> _ports = [];
    private readonly ConcurrentDictionary<Task, byte> _work = new();
    private IDisposable? _subscription;
    private bool _stopped;
    private int _tcpConnections;
    private int _udpSessions;

    public RawResourceListeners(
        IEdgeConfigSource source,
        ITargetDialer dialer,
        IOptions<RawResourceOptions> options,
        ILogger<RawResourceListeners> logger,
        IGeoLookup? geo = null,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(dialer);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _source = source;
        _dialer = dialer;
        _options = options.Value;
        _logger = logger;
        _geo = geo;
        _time = time ?? TimeProvider.System;
        if (!IPAddress.TryParse(_options.BindAddress, out var bind))
        {
            throw new ArgumentException(
                $"{RawResourceOptions.SectionName}:{nameof(RawResourceOptions.BindAddress)} '{_options.BindAddress}' is not an IP address.",
                nameof(options));
        }

        _bindAddress = bind;
    }

    /// <summary>TCP connections being relayed now.</summary>
    public int ActiveTcpConnections => Volatile.Read(ref _tcpConnections);

    /// <summary>UDP sessions (client addresses) open now.</summary>
    public int ActiveUdpSessions => Volatile.Read(ref _udpSessions);

    /// <summary>The ports listening now, as (protocol, port).</summary>
    public IReadOnlyList<(ProtocolType Protocol, int Port)> OpenPorts
    {
        get
        {
            lock (_gate)
            {
                return [.. _ports.Keys];
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _stopped = false;
        }

        _subscription = ChangeToken.OnChange(_source.GetChangeToken, () => Apply(_source.Current));
        Apply(_source.Current);
        return Task.CompletedTask;
    }

    /// <summary>Closes every port and ends every connection and session; waits for them until <paramref name="cancellationToken"/>.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        _subscription = null;
        List<IPortListener> closing;
        lock (_gate)
        {
            _stopped = true;
            closing = [.. _ports.Values];
            _ports.Clear();
        }

        foreach (var port in closing)
        {
            port.Dispose();
        }

        try
        {
            await Task.WhenAll(_work.Keys).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host's shutdown timeout: what is left was cancelled already and ends by itself.
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);

    /// <summary>Brings the listening ports in line with <paramref name="snapshot"/>'s raw resources.</summary>
    public void Apply(EdgeSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            var wanted = new Dictionary<(ProtocolType, int), EdgeRawResource>();
            foreach (var resource in snapshot.RawResources)
            {
                ProtocolType? protocol = resource.Protocol?.ToUpperInvariant() switch
                {
                    "TCP" => ProtocolType.Tcp,
                    "UDP" => ProtocolType.Udp,
                    _ => null,
                };
                if (protocol is null)
                {
                    L4Log.InvalidResource(_logger, resource.ResourceId, $"protocol '{resource.Protocol}' is neither tcp nor udp");
                    continue;
                }

                if (resource.ProxyPort is < 1 or > 65535)
                {
                    L4Log.InvalidResource(_logger, resource.ResourceId, $"port {resource.ProxyPort} is out of range");
                    continue;
                }

                if (!wanted.TryAdd((protocol.Value, resource.ProxyPort), resource))
                {
                    L4Log.PortTaken(_logger, resource.ResourceId, ProtocolName(protocol.Value), resource.ProxyPort,
                        wanted[(protocol.Value, resource.ProxyPort)].ResourceId);
                }
            }

            foreach (var key in _ports.Keys.Where(k => !wanted.ContainsKey(k)).ToList())
            {
                _ports.Remove(key, out var port);
                port!.Dispose();
            }

            foreach (var ((protocol, number), resource) in wanted)
            {
                var state = new ResourceState(resource, RuleSet.Compile(resource.Rules));
                if (_ports.TryGetValue((protocol, number), out var existing))
                {
                    existing.State = state;
                    continue;
                }

                var endpoint = new IPEndPoint(_bindAddress, number);
                var name = ProtocolName(protocol);
                try
                {
                    IPortListener port = protocol == ProtocolType.Tcp ? new TcpPort(this, endpoint, state) : new UdpPort(this, endpoint, state);
                    _ports.Add((protocol, number), port);
                    L4Log.Listening(_logger, name, number, resource.ResourceId);
                }
                catch (SocketException e)
                {
                    L4Log.BindFailed(_logger, name, number, $"{e.SocketErrorCode}: {e.Message}");
                }
            }
        }
    }

    private static string ProtocolName(ProtocolType protocol) => protocol == ProtocolType.Tcp ? "TCP" : "UDP";

    /// <summary>Runs <paramref name="work"/> in the background and keeps it until it ends, so that stopping can wait.</summary>
    private void Track(Task work)
    {
        _work.TryAdd(work, 0);
        _ = work.ContinueWith(static (t, self) => ((RawResourceListeners)self!)._work.TryRemove(t, out _), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// Picks targets round-robin and tries each once, from the next in turn, until one connects (or opens a flow).
    /// </summary>
    private async ValueTask<T?> DialAsync<T>(
        ResourceState state,
        string protocol,
        IPEndPoint client,
        Func<ITargetDialer, int, CancellationToken, ValueTask<T>> dial,
        CancellationToken cancellationToken)
        where T : class
    {
        var targets = state.Resource.TargetIds;
        var port = state.Resource.ProxyPort;
        if (targets.Count > 0)
        {
            var start = state.NextStart(targets.Count);
            for (var i = 0; i < targets.Count; i++)
            {
                var targetId = targets[(start + i) % targets.Count];
                using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
                try
                {
                    return await dial(_dialer, targetId, linked.Token);
                }
                catch (TargetUnreachableException e)
                {
                    L4Log.TargetUnreachable(_logger, protocol, port, targetId, e.Message);
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    L4Log.TargetUnreachable(_logger, protocol, port, targetId,
                        $"no answer within {_options.ConnectTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
                }
            }
        }

        L4Log.NoTarget(_logger, protocol, port, client);
        return null;
    }

    /// <summary>Whether a client may use the resource now: not blocked, and not dropped by a rule.</summary>
    private bool Admit(ResourceState state, string protocol, IPEndPoint client)
    {
        var resource = state.Resource;
        if (resource.Blocked)
        {
            Refuse(protocol, resource.ProxyPort, client, "resource blocked");
            return false;
        }

        // Raw connections have no sign-in, so PASS and no match let the client through like ACCEPT.
        if (resource.ApplyRules && state.Rules.Evaluate(client.Address, null, null, _geo) == RuleOutcome.Drop)
        {
            Refuse(protocol, resource.ProxyPort, client, "dropped by rule");
            return false;
        }

        return true;
    }

    private void Refuse(string protocol, int port, IPEndPoint client, string reason)
    {
        L4Log.Refused(_logger, protocol, port, client, reason);
    }

    /// <summary>A resource as a port serves it; replaced whole when the resource changes.</summary>
    private sealed class ResourceState(EdgeRawResource resource, RuleSet rules)
    {
        private int _next = -1;

        public EdgeRawResource Resource { get; } = resource;

        public RuleSet Rules { get; } = rules;

        public int NextStart(int count) => (int)((uint)Interlocked.Increment(ref _next) % (uint)count);
    }

    /// <summary>A listening port; disposing it closes the port and ends its connections or sessions.</summary>
    private interface IPortListener : IDisposable
    {
        ResourceState State { get; set; }
    }

    /// <summary>
    /// Ends a connection or session after a quiet period: activity only stamps the time, and the one-shot timer,
    /// when it fires, either ends the connection or sleeps again for what is left.
    /// </summary>
    private sealed class IdleTimer : IDisposable
    {
        private readonly TimeProvider _time;
        private readonly TimeSpan _timeout;
        private readonly Action _onIdle;
        private readonly ITimer _timer;
        private long _last;

        public IdleTimer(TimeProvider time, TimeSpan timeout, Action onIdle)
        {
            _time = time;
            _timeout = timeout;
            _onIdle = onIdle;
            _last = time.GetTimestamp();
            _timer = time.CreateTimer(static s => ((IdleTimer)s!).Check(), this, timeout, Timeout.InfiniteTimeSpan);
        }

        public void Touch() => Volatile.Write(ref _last, _time.GetTimestamp());

        public void Dispose() => _timer.Dispose();

        private void Check()
        {
            var left = _timeout - _time.GetElapsedTime(Volatile.Read(ref _last));
            try
            {
                if (left <= TimeSpan.Zero)
                {
                    _onIdle();
                }
                else
                {
                    _timer.Change(left, Timeout.InfiniteTimeSpan);
                }
            }
            catch (ObjectDisposedException)
            {
                // The connection ended while the timer fired.
            }
        }
    }
}
