using System.Net;
using Pangolin.Tunnel.Tests.Infrastructure;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Tunnel.Tests;

/// <summary>
/// The exit node against a site tunnel over loopback, both real (devices, UDP sockets, userspace stacks): what the
/// server's embedded node does when the edge reaches a target behind a newt.
/// </summary>
public sealed class ExitNodeRuntimeTests
{
    private const long SixteenMiB = 16L * 1024 * 1024;
    private const int SitePort = 40001;
    private static readonly TimeSpan RefusedWithin = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_site_pings_the_node_and_16_MiB_cross_each_way_over_a_TCP_connection_the_node_opens()
    {
        await using var pair = NodeAndSite.Start();
        await pair.SitePingsNodeAsync();

        using var listener = pair.Site.Stack.ListenTcp(new IPEndPoint(NodeAndSite.SiteAddress, SitePort));
        var accepting = listener.AcceptAsync(TestContext.Current.CancellationToken).AsTask();
        await using var nodeSide = await pair.Node.ConnectTcpAsync(new IPEndPoint(NodeAndSite.SiteAddress, SitePort), TestContext.Current.CancellationToken)
            .WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        await using var siteSide = await accepting.WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);

        await StreamTransfer.ExchangeAsync(nodeSide, siteSide, SixteenMiB);

        var site = Assert.Single(pair.Node.Snapshot().Peers);
        Assert.True(site.RxBytes > SixteenMiB && site.TxBytes > SixteenMiB, $"rx {site.RxBytes}, tx {site.TxBytes}");
    }

    [Fact]
    public async Task A_datagram_crosses_from_the_node_to_the_site_and_the_answer_comes_back()
    {
        await using var pair = NodeAndSite.Start();
        await pair.SitePingsNodeAsync();
        using var siteSocket = pair.Site.Stack.BindUdp(new IPEndPoint(NodeAndSite.SiteAddress, SitePort));
        using var nodeSocket = pair.Node.BindUdp(new IPEndPoint(NodeAndSite.NodeAddress, 0));

        var question = "who serves this site?"u8.ToArray();
        nodeSocket.SendTo(question, new IPEndPoint(NodeAndSite.SiteAddress, SitePort));
        var buffer = new byte[1500];
        var received = await siteSocket.ReceiveFromAsync(buffer, TestContext.Current.CancellationToken).AsTask()
            .WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        Assert.Equal(question, buffer.AsSpan(0, received.Length).ToArray());
        Assert.Equal(NodeAndSite.NodeAddress, received.RemoteEndPoint.Address);

        var answer = "newt, through the tunnel"u8.ToArray();
        siteSocket.SendTo(answer, received.RemoteEndPoint);
        var back = await nodeSocket.ReceiveFromAsync(buffer, TestContext.Current.CancellationToken).AsTask()
            .WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        Assert.Equal(answer, buffer.AsSpan(0, back.Length).ToArray());
        Assert.Equal(new IPEndPoint(NodeAndSite.SiteAddress, SitePort), back.RemoteEndPoint);
    }

    [Fact]
    public async Task A_peer_removed_from_the_exit_node_no_longer_reaches_its_site_and_a_site_added_again_with_a_new_key_does()
    {
        await using var pair = NodeAndSite.Start();
        await pair.SitePingsNodeAsync();
        using (var listener = pair.Site.Stack.ListenTcp(new IPEndPoint(NodeAndSite.SiteAddress, SitePort)))
        {
            await using var reached = await pair.Node.ConnectTcpAsync(new IPEndPoint(NodeAndSite.SiteAddress, SitePort), TestContext.Current.CancellationToken)
                .WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        }

        Assert.True(pair.Node.RemovePeer(pair.Site.PublicKey));
        Assert.False(pair.Node.RemovePeer(pair.Site.PublicKey));
        Assert.Empty(pair.Node.Snapshot().Peers);
        using (var listener = pair.Site.Stack.ListenTcp(new IPEndPoint(NodeAndSite.SiteAddress, SitePort)))
        {
            using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            giveUp.CancelAfter(RefusedWithin);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                pair.Node.ConnectTcpAsync(new IPEndPoint(NodeAndSite.SiteAddress, SitePort), giveUp.Token));
        }

        // The newt registers again with a new key; the server adds that key with the same /30 before it answers.
        var newKey = WgKey.GeneratePrivate();
        pair.Node.AddPeer(newKey.PublicKey(), [NodeAndSite.SiteBlock]);
        var site = await pair.ReplaceSiteAsync(newKey);
        await pair.SitePingsNodeAsync();
        using var again = site.Stack.ListenTcp(new IPEndPoint(NodeAndSite.SiteAddress, SitePort));
        var accepting = again.AcceptAsync(TestContext.Current.CancellationToken).AsTask();
        await using var nodeSide = await pair.Node.ConnectTcpAsync(new IPEndPoint(NodeAndSite.SiteAddress, SitePort), TestContext.Current.CancellationToken)
            .WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        await using var siteSide = await accepting.WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        await StreamTransfer.SendOneWayAsync(nodeSide, siteSide, 64 * 1024);
        Assert.Equal(site.PublicKey, Assert.Single(pair.Node.Snapshot().Peers).PublicKey);
    }

    [Fact]
    public async Task Adding_a_known_peer_again_replaces_its_allowed_IPs_and_keeps_its_endpoint()
    {
        await using var pair = NodeAndSite.Start();
        await pair.SitePingsNodeAsync();
        var before = Assert.Single(pair.Node.Snapshot().Peers);
        Assert.NotNull(before.Endpoint);

        var narrower = new IPNetwork(NodeAndSite.SiteAddress, 32);
        pair.Node.AddPeer(pair.Site.PublicKey, [narrower]);

        var after = Assert.Single(pair.Node.Snapshot().Peers);
        Assert.Equal([narrower], after.AllowedIps);
        Assert.Equal(before.Endpoint, after.Endpoint);
        using var siteSocket = pair.Site.Stack.BindUdp(new IPEndPoint(NodeAndSite.SiteAddress, SitePort));
        using var nodeSocket = pair.Node.BindUdp(new IPEndPoint(NodeAndSite.NodeAddress, 0));
        nodeSocket.SendTo("still there"u8, new IPEndPoint(NodeAndSite.SiteAddress, SitePort));
        var received = await siteSocket.ReceiveFromAsync(new byte[1500], TestContext.Current.CancellationToken).AsTask()
            .WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);
        Assert.Equal(11, received.Length);
    }

    [Fact]
    public async Task Syncing_the_peers_removes_those_not_named_and_keeps_the_endpoint_of_those_that_stay()
    {
        await using var pair = NodeAndSite.Start();
        await pair.SitePingsNodeAsync();
        var endpoint = Assert.Single(pair.Node.Snapshot().Peers).Endpoint;
        var other = WgKey.GeneratePrivate().PublicKey();
        var otherBlock = IPNetwork.Parse("100.89.137.8/30");

        pair.Node.SyncPeers([(pair.Site.PublicKey, [NodeAndSite.SiteBlock]), (other, [otherBlock])]);

        var peers = pair.Node.Snapshot().Peers.ToDictionary(p => p.PublicKey);
        Assert.Equal(2, peers.Count);
        Assert.Equal(endpoint, peers[pair.Site.PublicKey].Endpoint);
        Assert.Equal([NodeAndSite.SiteBlock], peers[pair.Site.PublicKey].AllowedIps);
        Assert.Null(peers[other].Endpoint);
        Assert.Equal([otherBlock], peers[other].AllowedIps);

        pair.Node.SyncPeers([(other, [otherBlock])]);

        Assert.Equal(other, Assert.Single(pair.Node.Snapshot().Peers).PublicKey);
        Assert.False(pair.Node.RemovePeer(pair.Site.PublicKey));

        pair.Node.SyncPeers([]);

        Assert.Empty(pair.Node.Snapshot().Peers);
    }

    [Fact]
    public async Task Peers_added_and_removed_from_many_threads_at_once_end_up_as_the_last_call_for_each_left_them()
    {
        await using var pair = NodeAndSite.Start();
        var keys = Enumerable.Range(0, 64).Select(_ => WgKey.GeneratePrivate().PublicKey()).ToArray();

        // Each key belongs to one thread, which adds and removes it in turn and keeps every even-numbered one.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(thread => Task.Run(() =>
        {
            for (var i = thread; i < keys.Length; i += 8)
            {
                var block = new IPNetwork(new IPAddress([100, 89, 138, (byte)(i * 4)]), 30);
                for (var round = 0; round < 10; round++)
                {
                    pair.Node.AddPeer(keys[i], [block]);
                    Assert.True(pair.Node.RemovePeer(keys[i]));
                }
                if (i % 2 == 0)
                {
                    pair.Node.AddPeer(keys[i], [block]);
                }
            }
        }, TestContext.Current.CancellationToken))).WaitAsync(NodeAndSite.Within, TestContext.Current.CancellationToken);

        var expected = keys.Where((_, i) => i % 2 == 0).Append(pair.Site.PublicKey).ToHashSet();
        Assert.True(expected.SetEquals(pair.Node.Snapshot().Peers.Select(p => p.PublicKey)));
    }

    [Fact]
    public async Task The_snapshot_carries_no_private_key_and_the_node_refuses_its_own_key_as_a_peer()
    {
        await using var pair = NodeAndSite.Start();

        var snapshot = pair.Node.Snapshot();
        Assert.Null(snapshot.PrivateKey);
        Assert.Equal(pair.Node.ListenPort, snapshot.ListenPort);
        Assert.NotEqual(0, pair.Node.ListenPort);
        Assert.Equal([NodeAndSite.NodeAddress], pair.Node.Stack.Addresses);
        Assert.Throws<ArgumentException>(() => pair.Node.AddPeer(pair.Node.PublicKey, [NodeAndSite.SiteBlock]));
        Assert.Throws<ArgumentException>(() => pair.Node.AddPeer(default, [NodeAndSite.SiteBlock]));
        Assert.False(pair.Node.RemovePeer(WgKey.GeneratePrivate().PublicKey()));
    }
}
