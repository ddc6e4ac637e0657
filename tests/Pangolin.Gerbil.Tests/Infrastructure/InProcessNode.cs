using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Gerbil.Api;
using Pangolin.Gerbil.Nodes;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Tests.Infrastructure;

/// <summary>
/// A managed exit node in userspace, hosted in the test process against a <see cref="FakeControlServer"/>: the
/// real classes (fetcher, node, peer API, reporter) with the schedule on a <see cref="FakeTimeProvider"/>, so that a
/// test moves the 5 s retries and 10 s reports along itself. The node's WireGuard timers keep the real clock.
/// </summary>
internal sealed class InProcessNode : IAsyncDisposable
{
    public static readonly TimeSpan Within = TimeSpan.FromSeconds(20);

    private readonly CancellationTokenSource _stop = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly ILoggerFactory _loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug));
    private Task? _run;

    public FakeControlServer Control { get; private set; } = null!;

    public FakeTimeProvider Time { get; } = new();

    public ManagedExitNode Managed { get; private set; } = null!;

    public UserspaceExitNode Node { get; private set; } = null!;

    public PeerApi Api { get; private set; } = null!;

    /// <summary>A client for the peer API, with its base address set.</summary>
    public HttpClient Client { get; private set; } = null!;

    public IPAddress NodeAddress => Node.Address.Address;

    /// <summary>Starts the fake server, lets <paramref name="arrange"/> script it, then runs the node until it is up.</summary>
    /// <param name="arrange">Scripts the fake server before the node starts.</param>
    /// <param name="configure">Changes the node's options (a token, a signing key).</param>
    public static Task<InProcessNode> StartAsync(Action<FakeControlServer>? arrange = null, Func<GerbilOptions, GerbilOptions>? configure = null) =>
        StartCoreAsync(arrange, configure, waitUntilUp: true);

    /// <summary>As <see cref="StartAsync"/>, without waiting for the node to be up (a test that withholds the config).</summary>
    public static Task<InProcessNode> StartUnreadyAsync(Action<FakeControlServer> arrange, Func<GerbilOptions, GerbilOptions>? configure = null) =>
        StartCoreAsync(arrange, configure, waitUntilUp: false);

    private static async Task<InProcessNode> StartCoreAsync(Action<FakeControlServer>? arrange, Func<GerbilOptions, GerbilOptions>? configure, bool waitUntilUp)
    {
        var host = new InProcessNode();
        try
        {
            // The fake stamps calls with the node's schedule clock.
            host.Control = await FakeControlServer.StartAsync(host.Time);
            arrange?.Invoke(host.Control);
            host.Run(configure ?? (o => o));
            if (waitUntilUp)
            {
                await host.WaitUntilUpAsync();
            }
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    private void Run(Func<GerbilOptions, GerbilOptions> configure)
    {
        var apiPort = Ports.FreeTcp();
        var options = configure(new GerbilOptions
        {
            RemoteConfig = new ControlEndpoints(Control.BaseUrl),
            ReachableAt = new Uri($"http://127.0.0.1:{apiPort}"),
            ApiListen = new IPEndPoint(IPAddress.Loopback, apiPort),
            Mode = ExitNodeMode.Userspace,
        });
        Managed = new ManagedExitNode(options, WgKey.GeneratePrivate(), _http, _loggers, Time);
        _run = Task.Run(() => Managed.RunAsync(_stop.Token));
    }

    /// <summary>Waits (bounded) until the node is configured and its API listens.</summary>
    public async Task WaitUntilUpAsync()
    {
        var (node, api) = await Managed.Ready.WaitAsync(Within, TestContext.Current.CancellationToken);
        Node = (UserspaceExitNode)node;
        Api = api;
        Client = new HttpClient { BaseAddress = api.Address, Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>A site on its own tunnel address that dials this node.</summary>
    public Site DialSite(string address, WgKey? privateKey = null) =>
        Site.Dial(Node.PublicKey, Node.ListenPort, NodeAddress, IPAddress.Parse(address), privateKey);

    /// <summary>Advances the schedule clock by <paramref name="step"/> until <paramref name="condition"/> holds (bounded).</summary>
    /// <remarks>A step taken while the node is between two awaits is not lost: the next one moves it on.</remarks>
    public async Task<bool> AdvanceUntilAsync(TimeSpan step, Func<bool> condition)
    {
        using var bound = new CancellationTokenSource(Within);
        while (!condition())
        {
            if (bound.IsCancellationRequested)
            {
                return false;
            }
            Time.Advance(step);
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        return true;
    }

    /// <summary>Stops the node as a signal would, and waits for the run to end (bounded).</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            await _run.WaitAsync(Within, TestContext.Current.CancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            Client?.Dispose();
            _http.Dispose();
            _loggers.Dispose();
            _stop.Dispose();
            if (Control is not null)
            {
                await Control.DisposeAsync();
            }
        }
    }
}
