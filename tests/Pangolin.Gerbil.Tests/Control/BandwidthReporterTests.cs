using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Gerbil.Control;
using Pangolin.Gerbil.Tests.Infrastructure;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Gerbil.Tests.Control;

/// <summary>The bandwidth report against the fake server, fed with counters the test sets.</summary>
public sealed class BandwidthReporterTests : IAsyncLifetime
{
    private const long MiB = 1024 * 1024;
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(20);
    private readonly FakeTimeProvider _time = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private FakeControlServer _control = null!;
    private List<PeerSnapshot> _peers = [];

    public async ValueTask InitializeAsync() => _control = await FakeControlServer.StartAsync(_time);

    private BandwidthReporter Reporter() =>
        new(_http, new ControlEndpoints(_control.BaseUrl).ReceiveBandwidth, () => _peers, _time, NullLogger<BandwidthReporter>.Instance);

    private static PeerSnapshot Peer(WgKey key, long rx, long tx) => new(key, null, null, 0, [], null, rx, tx);

    [Fact]
    public async Task Traffic_is_reported_in_megabytes_in_batches_of_250()
    {
        var keys = Enumerable.Range(0, 600).Select(_ => WgKey.GeneratePrivate().PublicKey()).ToList();
        _peers = [.. keys.Select((k, i) => Peer(k, (i + 1) * MiB / 2, i * MiB))];
        using var reporter = Reporter();

        Assert.True(await reporter.ReportAsync(TestContext.Current.CancellationToken));

        Assert.Equal([250, 250, 100], _control.BandwidthCalls.Select(c => c.Body.Count));
        var reported = _control.AcceptedBandwidth.ToDictionary(p => p.PublicKey);
        Assert.Equal(600, reported.Count);
        for (var i = 0; i < keys.Count; i++)
        {
            var entry = reported[keys[i].ToBase64()];
            Assert.Equal((i + 1) / 2.0, entry.BytesIn);
            Assert.Equal(i, entry.BytesOut);
        }
    }

    [Fact]
    public async Task Only_peers_that_moved_something_since_the_last_report_are_sent()
    {
        var busy = WgKey.GeneratePrivate().PublicKey();
        var idle = WgKey.GeneratePrivate().PublicKey();
        _peers = [Peer(busy, 3 * MiB, MiB), Peer(idle, 0, 0)];
        using var reporter = Reporter();
        await reporter.ReportAsync(TestContext.Current.CancellationToken);
        _peers = [Peer(busy, 3 * MiB, MiB), Peer(idle, MiB / 4, 0)];

        await reporter.ReportAsync(TestContext.Current.CancellationToken);

        var calls = _control.BandwidthCalls;
        Assert.Equal(2, calls.Count);
        var first = Assert.Single(calls[0].Body);
        Assert.Equal((busy.ToBase64(), 3.0, 1.0), (first.PublicKey, first.BytesIn, first.BytesOut));
        var second = Assert.Single(calls[1].Body);
        Assert.Equal((idle.ToBase64(), 0.25, 0.0), (second.PublicKey, second.BytesIn, second.BytesOut));
    }

    [Fact]
    public async Task Nothing_is_posted_when_no_peer_moved_anything()
    {
        _peers = [Peer(WgKey.GeneratePrivate().PublicKey(), 0, 0)];
        using var reporter = Reporter();

        Assert.True(await reporter.ReportAsync(TestContext.Current.CancellationToken));

        Assert.Empty(_control.BandwidthCalls);
    }

    [Fact]
    public async Task Traffic_the_server_refused_is_kept_and_added_to_the_next_report()
    {
        var key = WgKey.GeneratePrivate().PublicKey();
        _peers = [Peer(key, 2 * MiB, MiB)];
        _control.RefuseBandwidth(1);
        using var reporter = Reporter();

        Assert.False(await reporter.ReportAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, reporter.PendingPeers);
        _peers = [Peer(key, 3 * MiB, MiB)];
        Assert.True(await reporter.ReportAsync(TestContext.Current.CancellationToken));

        Assert.Equal([500, 200], _control.BandwidthCalls.Select(c => c.Status));
        var accepted = Assert.Single(_control.AcceptedBandwidth);
        Assert.Equal((3.0, 1.0), (accepted.BytesIn, accepted.BytesOut));
        Assert.Equal(0, reporter.PendingPeers);
    }

    [Fact]
    public async Task An_unreachable_server_loses_nothing_either()
    {
        var key = WgKey.GeneratePrivate().PublicKey();
        _peers = [Peer(key, MiB, 0)];
        var control = _control;
        using var reporter = new BandwidthReporter(_http, new Uri("http://127.0.0.1:1/api/v1/gerbil/receive-bandwidth"), () => _peers, _time,
            NullLogger<BandwidthReporter>.Instance);

        Assert.False(await reporter.ReportAsync(TestContext.Current.CancellationToken));

        Assert.Equal(1, reporter.PendingPeers);
        Assert.Empty(control.BandwidthCalls);
    }

    [Fact]
    public async Task The_report_runs_every_10_seconds()
    {
        var key = WgKey.GeneratePrivate().PublicKey();
        _peers = [Peer(key, MiB, 0)];
        using var reporter = Reporter();
        using var stop = new CancellationTokenSource();
        var running = reporter.RunAsync(stop.Token);

        _time.Advance(BandwidthReporter.Interval - TimeSpan.FromSeconds(1));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Empty(_control.BandwidthCalls);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await Eventually.TrueAsync(() => _control.BandwidthCalls.Count == 1, Within));
        _peers = [Peer(key, 2 * MiB, 0)];
        _time.Advance(BandwidthReporter.Interval);
        Assert.True(await Eventually.TrueAsync(() => _control.BandwidthCalls.Count == 2, Within));

        await stop.CancelAsync();
        await running.WaitAsync(Within, TestContext.Current.CancellationToken);
        Assert.Equal([1.0, 1.0], _control.AcceptedBandwidth.Select(b => b.BytesIn));
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _control.DisposeAsync();
    }
}
