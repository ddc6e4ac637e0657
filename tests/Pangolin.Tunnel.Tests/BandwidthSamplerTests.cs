using System.Net;
using Pangolin.Tunnel.Tests.Infrastructure;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Tunnel.Tests;

public sealed class BandwidthSamplerTests
{
    private const long OneMiB = 1024 * 1024;
    private static readonly WgKey Alice = WgKey.GeneratePrivate().PublicKey();
    private static readonly WgKey Bob = WgKey.GeneratePrivate().PublicKey();

    [Fact]
    public void A_peer_seen_for_the_first_time_contributes_its_whole_counters()
    {
        var sampler = new BandwidthSampler();

        var sample = sampler.Sample([Peer(Alice, rx: 1000, tx: 3000)]);

        Assert.Equal([new PeerBandwidth(Alice, BytesIn: 1000, BytesOut: 3000)], sample);
    }

    [Fact]
    public void Later_samples_give_what_each_peer_moved_since_the_previous_one()
    {
        var sampler = new BandwidthSampler();
        sampler.Sample([Peer(Alice, rx: 1000, tx: 3000), Peer(Bob, rx: 10, tx: 20)]);

        var sample = sampler.Sample([Peer(Alice, rx: 1500, tx: 3100), Peer(Bob, rx: 60, tx: 20)]);

        Assert.Equal([new PeerBandwidth(Alice, 500, 100), new PeerBandwidth(Bob, 50, 0)], sample);
    }

    [Fact]
    public void A_counter_that_went_down_counts_from_zero()
    {
        var sampler = new BandwidthSampler();
        sampler.Sample([Peer(Alice, rx: 1000, tx: 3000)]);

        // Removed and added again between two samples: the device's counters started over.
        var sample = sampler.Sample([Peer(Alice, rx: 400, tx: 3500)]);

        Assert.Equal([new PeerBandwidth(Alice, 400, 500)], sample);
    }

    [Fact]
    public void A_peer_absent_from_a_sample_is_forgotten()
    {
        var sampler = new BandwidthSampler();
        sampler.Sample([Peer(Alice, rx: 1000, tx: 3000), Peer(Bob, rx: 10, tx: 20)]);

        Assert.Equal([new PeerBandwidth(Bob, 5, 0)], sampler.Sample([Peer(Bob, rx: 15, tx: 20)]));

        // Back with counters above the old ones: had it been remembered, only the difference would count.
        Assert.Equal([new PeerBandwidth(Alice, 1200, 3100)], sampler.Sample([Peer(Alice, rx: 1200, tx: 3100), Peer(Bob, rx: 15, tx: 20)]));
    }

    [Fact]
    public void Peers_that_moved_nothing_are_left_out()
    {
        var sampler = new BandwidthSampler();

        Assert.Empty(sampler.Sample([Peer(Alice, rx: 0, tx: 0)]));
        sampler.Sample([Peer(Alice, rx: 70, tx: 80), Peer(Bob, rx: 1, tx: 0)]);
        Assert.Empty(sampler.Sample([Peer(Alice, rx: 70, tx: 80), Peer(Bob, rx: 1, tx: 0)]));
        Assert.Empty(sampler.Sample([]));
    }

    [Fact]
    public async Task The_exit_nodes_real_counters_show_a_MiB_from_the_site_as_in_and_a_MiB_to_it_as_out()
    {
        await using var pair = NodeAndSite.Start();
        await pair.SitePingsNodeAsync();
        using var listener = pair.Site.Stack.ListenTcp(new IPEndPoint(NodeAndSite.SiteAddress, 40001));
        var accepting = listener.AcceptAsync(TestContext.Current.CancellationToken).AsTask();
        await using var nodeSide = await pair.Node.ConnectTcpAsync(new IPEndPoint(NodeAndSite.SiteAddress, 40001), TestContext.Current.CancellationToken)
            .WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        await using var siteSide = await accepting.WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        var sampler = new BandwidthSampler();
        sampler.Sample(pair.Node.Snapshot().Peers);

        await StreamTransfer.SendOneWayAsync(siteSide, nodeSide, OneMiB);
        var upload = Assert.Single(sampler.Sample(pair.Node.Snapshot().Peers));

        await StreamTransfer.SendOneWayAsync(nodeSide, siteSide, OneMiB);
        var download = Assert.Single(sampler.Sample(pair.Node.Snapshot().Peers));

        Assert.Equal(pair.Site.PublicKey, upload.PublicKey);
        Assert.True(upload.BytesIn >= OneMiB && upload.BytesOut < upload.BytesIn, $"site to node: in {upload.BytesIn}, out {upload.BytesOut}");
        Assert.True(download.BytesOut >= OneMiB && download.BytesIn < download.BytesOut, $"node to site: in {download.BytesIn}, out {download.BytesOut}");
    }

    private static PeerSnapshot Peer(WgKey key, long rx, long tx) =>
        new(key, null, null, 0, [], null, rx, tx);
}
