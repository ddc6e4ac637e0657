using System.Globalization;
using System.Runtime.Versioning;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.WireGuard.Tests.Interop;

/// <summary>
/// Our device (in-process, on a real TUN in a namespace) against Debian's wireguard-go (a process in another
/// namespace) over a veth pair: handshakes either way, pings, 200 MB TCP streams with their SHA-256, a rekey forced by
/// a clock shifted mid-transfer, roaming on both sides, preshared keys, a wrong public key, and `wg show dump`.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "Interop")]
public sealed class WireGuardGoInteropTests(ITestOutputHelper output)
{
    private const long TransferBytes = 200L * 1024 * 1024;
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan RoamWithin = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task Our_device_initiates_the_handshake_and_pings_pass_both_ways()
    {
        await using var net = await InteropNetwork.CreateAsync();
        net.ConfigureOursTyped();
        // wireguard-go knows no endpoint for us: it cannot send first, so the handshake must be ours.
        await net.ConfigureGoAsync(withEndpoint: false);

        Assert.True(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), "ours → go\n" + net.Diagnostics());
        Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), "go → ours\n" + net.Diagnostics());

        Assert.True(net.WireGuardGo.CountLog("Received handshake initiation") >= 1, net.Diagnostics());
        Assert.Equal(0, net.WireGuardGo.CountLog("Sending handshake initiation"));
        Assert.NotNull(Assert.Single(net.Device.GetConfiguration().Peers).LastHandshake);
    }

    [Fact]
    public async Task WireGuard_go_initiates_the_handshake_and_pings_pass_both_ways()
    {
        await using var net = await InteropNetwork.CreateAsync();
        // We know no endpoint for wireguard-go: the handshake must be theirs, and we learn their endpoint from it.
        await net.ConfigureOursWithWgAsync(withEndpoint: false);
        await net.ConfigureGoAsync();

        Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), "go → ours\n" + net.Diagnostics());
        Assert.True(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), "ours → go\n" + net.Diagnostics());

        Assert.True(net.WireGuardGo.CountLog("Sending handshake initiation") >= 1, net.Diagnostics());
        Assert.Equal(0, net.WireGuardGo.CountLog("Received handshake initiation"));
        Assert.Equal($"{InteropNetwork.GoUnderlay}:{InteropNetwork.GoPort}", (await net.OurDumpAsync()).Peer.Endpoint);
    }

    [Fact]
    public async Task A_200_MB_TCP_stream_arrives_intact_in_both_directions()
    {
        await using var net = await InteropNetwork.CreateAsync();
        net.ConfigureOursTyped();
        await net.ConfigureGoAsync();

        using (var toGo = TcpTransfer.Start(net.Ours.Name, net.Go.Name, InteropNetwork.GoTunnel, TransferBytes, TransferTimeout, seed: 1))
        {
            var result = await toGo.Completion;
            output.WriteLine($"ours → go: {result.ReceivedBytes} bytes in {result.Elapsed.TotalSeconds:F1} s, {result.Gbps:F2} Gbit/s");
            Assert.Equal(TransferBytes, result.ReceivedBytes);
            Assert.Equal(result.SentSha256, result.ReceivedSha256);
        }
        using (var toUs = TcpTransfer.Start(net.Go.Name, net.Ours.Name, InteropNetwork.OurTunnel, TransferBytes, TransferTimeout, seed: 2))
        {
            var result = await toUs.Completion;
            output.WriteLine($"go → ours: {result.ReceivedBytes} bytes in {result.Elapsed.TotalSeconds:F1} s, {result.Gbps:F2} Gbit/s");
            Assert.Equal(TransferBytes, result.ReceivedBytes);
            Assert.Equal(result.SentSha256, result.ReceivedSha256);
        }
    }

    [Fact]
    public async Task A_session_older_than_Rekey_After_Time_is_renewed_mid_transfer_and_the_stream_arrives_intact()
    {
        await using var net = await InteropNetwork.CreateAsync();
        net.ConfigureOursTyped();
        // Without an endpoint wireguard-go cannot initiate: the session is ours as initiator, which is the side that
        // rekeys on Rekey-After-Time when it sends (whitepaper §6.2).
        await net.ConfigureGoAsync(withEndpoint: false);

        // The receiver stops at a quarter, so three quarters surely cross the tunnel after the clock moves.
        using var transfer = TcpTransfer.Start(net.Ours.Name, net.Go.Name, InteropNetwork.GoTunnel, TransferBytes, TransferTimeout, seed: 3,
            holdReceiverAt: TransferBytes / 4);
        await transfer.ReceiverHeld.WaitAsync(TransferTimeout, TestContext.Current.CancellationToken);
        Assert.True(transfer.Sent < TransferBytes / 2, $"{transfer.Sent} bytes sent while the receiver held at a quarter");
        var firstHandshake = Assert.Single(net.Device.GetConfiguration().Peers).LastHandshake;
        Assert.NotNull(firstHandshake);
        var initiationsBefore = net.WireGuardGo.CountLog("Received handshake initiation");

        // Older than Rekey-After-Time (120 s), younger than Reject-After-Time (180 s): the next send starts a handshake
        // while the old session still carries traffic.
        net.Time.Shift(TimeSpan.FromSeconds(125));
        transfer.ReleaseReceiver();
        var result = await transfer.Completion;
        output.WriteLine($"ours → go with a rekey: {result.ReceivedBytes} bytes in {result.Elapsed.TotalSeconds:F1} s");

        Assert.Equal(TransferBytes, result.ReceivedBytes);
        Assert.Equal(result.SentSha256, result.ReceivedSha256);
        // wireguard-go's log reaches us through a pipe, possibly after the stream's last byte.
        Assert.True(await Eventually.TrueAsync(() => net.WireGuardGo.CountLog("Received handshake initiation") > initiationsBefore, Within),
            "no second handshake\n" + net.Diagnostics());
        var secondHandshake = Assert.Single(net.Device.GetConfiguration().Peers).LastHandshake;
        Assert.NotNull(secondHandshake);
        Assert.True(secondHandshake - firstHandshake >= TimeSpan.FromSeconds(120), $"latest handshake {firstHandshake:O} → {secondHandshake:O}");
        // The new session works for fresh traffic both ways.
        Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), net.Diagnostics());
    }

    [Fact]
    public async Task Our_device_follows_wireguard_go_to_its_new_address_and_answers_there()
    {
        await using var net = await InteropNetwork.CreateAsync();
        net.ConfigureOursTyped();
        await net.ConfigureGoAsync();
        Assert.True(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), net.Diagnostics());

        // The old address goes away entirely: an answer to it could not arrive.
        net.Go.Ip("addr", "del", InteropNetwork.GoUnderlay + "/24", "dev", InteropNetwork.GoVeth);
        net.Go.AddAddress(InteropNetwork.GoVeth, "10.211.0.3/24");

        // Debian's wireguard-go (0.0.20220316) keeps its sticky source 10.211.0.2: its sends fail with ENETUNREACH until
        // "we stopped hearing back after 15 seconds" makes it handshake again from the new address. Hence the wait.
        Assert.True(await InteropNetwork.PingEventuallyAsync(net.Go, InteropNetwork.OurTunnel, RoamWithin), "go → ours from the new address\n" + net.Diagnostics());
        Assert.Equal($"10.211.0.3:{InteropNetwork.GoPort}", (await net.OurDumpAsync()).Peer.Endpoint);
        var endpoints = await Wg.OkInAsync(net.Ours.Name, "show", net.OurInterface, "endpoints");
        Assert.Equal($"{net.GoPublic}\t10.211.0.3:{InteropNetwork.GoPort}\n", endpoints);
        Assert.True(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), "ours → go at the new address\n" + net.Diagnostics());
    }

    [Fact]
    public async Task WireGuard_go_follows_our_device_to_its_new_address_and_answers_there()
    {
        await using var net = await InteropNetwork.CreateAsync();
        await net.ConfigureOursWithWgAsync();
        await net.ConfigureGoAsync();
        Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), net.Diagnostics());

        net.Ours.Ip("addr", "del", InteropNetwork.OurUnderlay + "/24", "dev", InteropNetwork.OurVeth);
        net.Ours.AddAddress(InteropNetwork.OurVeth, "10.211.0.4/24");

        Assert.True(await InteropNetwork.PingEventuallyAsync(net.Ours, InteropNetwork.GoTunnel, Within), "ours → go from the new address\n" + net.Diagnostics());
        Assert.Equal($"10.211.0.4:{InteropNetwork.OurPort}", (await net.GoDumpAsync()).Peer.Endpoint);
        Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), "go → ours at the new address\n" + net.Diagnostics());
    }

    [Fact]
    public async Task With_the_same_preshared_key_on_both_sides_data_passes()
    {
        await using var net = await InteropNetwork.CreateAsync();
        var psk = WgKey.GeneratePreshared();
        net.ConfigureOursTyped(presharedKey: psk);
        await net.ConfigureGoAsync(presharedKey: psk);

        Assert.True(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), net.Diagnostics());
        Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), net.Diagnostics());
        Assert.Equal(psk.ToBase64(), (await net.OurDumpAsync()).Peer.PresharedKey);
        Assert.Equal(psk.ToBase64(), (await net.GoDumpAsync()).Peer.PresharedKey);
    }

    [Fact]
    public async Task With_different_preshared_keys_no_data_passes_until_they_match()
    {
        await using var net = await InteropNetwork.CreateAsync();
        var ours = WgKey.GeneratePreshared();
        net.ConfigureOursTyped(presharedKey: ours);
        await net.ConfigureGoAsync(presharedKey: WgKey.GeneratePreshared());

        Assert.False(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), "ours → go passed with mismatched keys");
        Assert.False(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), "go → ours passed with mismatched keys");
        Assert.Null(Assert.Single(net.Device.GetConfiguration().Peers).LastHandshake);
        Assert.Equal(0, (await net.GoDumpAsync()).Peer.LatestHandshake);

        // The same set-up with the keys made equal works: the failure above was the key, nothing else.
        await net.SetGoAsync("peer", net.OurPublic.ToBase64(), "preshared-key", net.KeyFile(ours));
        Assert.True(await InteropNetwork.PingEventuallyAsync(net.Ours, InteropNetwork.GoTunnel, Within), net.Diagnostics());
    }

    [Fact]
    public async Task With_a_wrong_public_key_no_data_passes_and_the_device_still_serves_the_right_peer_afterwards()
    {
        await using var net = await InteropNetwork.CreateAsync();
        var wrong = WgKey.FromBase64(await Wg.PublicKeyAsync(WgKey.GeneratePrivate().ToBase64()));
        net.ConfigureOursTyped(peerPublic: wrong);
        await net.ConfigureGoAsync();

        Assert.False(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), "ours → go passed with a wrong key");
        Assert.False(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), "go → ours passed with a wrong key");
        var peer = Assert.Single(net.Device.GetConfiguration().Peers);
        Assert.Equal(wrong, peer.PublicKey);
        Assert.Null(peer.LastHandshake);
        Assert.Equal(0, peer.RxBytes);
        Assert.Equal(0, (await net.GoDumpAsync()).Peer.LatestHandshake);

        // Still running: the UAPI answers, and the right key makes the tunnel work.
        await net.SetOursAsync("peer", wrong.ToBase64(), "remove",
            "peer", net.GoPublic.ToBase64(), "endpoint", $"{InteropNetwork.GoUnderlay}:{InteropNetwork.GoPort}", "allowed-ips", InteropNetwork.GoTunnel + "/32");
        Assert.Equal(net.GoPublic.ToBase64(), (await net.OurDumpAsync()).Peer.PublicKey);
        Assert.True(await InteropNetwork.PingEventuallyAsync(net.Ours, InteropNetwork.GoTunnel, Within), net.Diagnostics());
        Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), net.Diagnostics());
        Assert.DoesNotContain(net.Logs.Logger.Lines, line => line.StartsWith("Error", StringComparison.Ordinal)
            || line.StartsWith("Critical", StringComparison.Ordinal) || line.Contains("Exception", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Wg_show_dump_of_our_device_reads_peers_handshake_and_counters_consistent_with_wireguard_go()
    {
        await using var net = await InteropNetwork.CreateAsync();
        // wireguard-go first: turning persistent keepalive on sends at once, and a handshake lost to a port that is not
        // listening yet would only be retried after Rekey-Timeout (5 s).
        await net.ConfigureGoAsync();
        await net.ConfigureOursWithWgAsync(keepalive: 25);
        Assert.True(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), net.Diagnostics());

        var dump = await net.OurDumpAsync();
        Assert.Equal(net.OurPrivate.ToBase64(), dump.PrivateKey);
        Assert.Equal(net.OurPublic.ToBase64(), dump.PublicKey);
        Assert.Equal(InteropNetwork.OurPort, dump.ListenPort);
        Assert.Equal("off", dump.FwMark);
        var peer = dump.Peer;
        Assert.Equal(net.GoPublic.ToBase64(), peer.PublicKey);
        Assert.Equal("(none)", peer.PresharedKey);
        Assert.Equal($"{InteropNetwork.GoUnderlay}:{InteropNetwork.GoPort}", peer.Endpoint);
        Assert.Equal(InteropNetwork.GoTunnel + "/32", peer.AllowedIps);
        Assert.Equal("25", peer.PersistentKeepalive);
        Assert.InRange(peer.LatestHandshake, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.True(peer.TransferRx > 0 && peer.TransferTx > 0, $"rx {peer.TransferRx} tx {peer.TransferTx}");

        Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), net.Diagnostics());
        var after = (await net.OurDumpAsync()).Peer;
        // Three echo requests and three replies of 84 bytes each way at least, padded and framed.
        Assert.True(after.TransferRx >= peer.TransferRx + 3 * 84, $"rx {peer.TransferRx} → {after.TransferRx}");
        Assert.True(after.TransferTx >= peer.TransferTx + 3 * 84, $"tx {peer.TransferTx} → {after.TransferTx}");

        // Our tx is their rx and the other way round, give or take a keepalive (32 bytes) in flight.
        WgDumpPeer ourPeer = after, goPeer = (await net.GoDumpAsync()).Peer;
        var consistent = await Eventually.TrueAsync(async () =>
        {
            ourPeer = (await net.OurDumpAsync()).Peer;
            goPeer = (await net.GoDumpAsync()).Peer;
            return Math.Abs(ourPeer.TransferTx - goPeer.TransferRx) <= 32 && Math.Abs(ourPeer.TransferRx - goPeer.TransferTx) <= 32;
        }, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(200));
        Assert.True(consistent, string.Create(CultureInfo.InvariantCulture,
            $"ours rx {ourPeer.TransferRx} tx {ourPeer.TransferTx}; wireguard-go rx {goPeer.TransferRx} tx {goPeer.TransferTx}"));
        Assert.Equal(ourPeer.LatestHandshake, goPeer.LatestHandshake, tolerance: 2);
    }
}
