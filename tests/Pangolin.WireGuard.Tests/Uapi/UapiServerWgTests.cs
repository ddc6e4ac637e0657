using System.Runtime.Versioning;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Tests.Infrastructure;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Uapi;

/// <summary>Debian's `wg` against a real <see cref="UapiServer"/> in /var/run/wireguard, where wg looks.</summary>
[SupportedOSPlatform("linux")]
public sealed class UapiServerWgTests : IDisposable
{
    private readonly UapiScratch _scratch = new();
    private readonly InMemoryDevice _device = new();

    public void Dispose() => _scratch.Dispose();

    private string If => _scratch.Interface;

    private UapiServer Start() => UapiServer.Start(If, _device);

    private sealed record Keys(string Private, string Public, string PrivateFile);

    private async Task<Keys> NewKeysAsync(string name)
    {
        var key = WgKey.GeneratePrivate().ToBase64();
        return new Keys(key, await Wg.PublicKeyAsync(key), _scratch.WriteFile(name, key + "\n"));
    }

    [Fact]
    public async Task Wg_set_with_every_option_reads_back_exactly_through_dump_showconf_and_each_show_field()
    {
        await using var server = Start();
        var device = await NewKeysAsync("device.key");
        var peer = await NewKeysAsync("peer.key");
        var psk = WgKey.GeneratePreshared().ToBase64();
        var pskFile = _scratch.WriteFile("psk", psk + "\n");

        await Wg.OkAsync("set", If, "private-key", device.PrivateFile, "listen-port", "51820", "fwmark", "0x1234",
            "peer", peer.Public, "preshared-key", pskFile, "endpoint", "192.0.2.1:51820", "persistent-keepalive", "25",
            "allowed-ips", "10.0.0.0/24,fd00::/64");

        Assert.Equal(
            $"{device.Private}\t{device.Public}\t51820\t0x1234\n" +
            $"{peer.Public}\t{psk}\t192.0.2.1:51820\t10.0.0.0/24,fd00::/64\t0\t0\t0\t25\n",
            await Wg.OkAsync("show", If, "dump"));
        Assert.Equal(
            "[Interface]\n" +
            "ListenPort = 51820\n" +
            "FwMark = 0x1234\n" +
            $"PrivateKey = {device.Private}\n" +
            "\n" +
            "[Peer]\n" +
            $"PublicKey = {peer.Public}\n" +
            $"PresharedKey = {psk}\n" +
            "AllowedIPs = 10.0.0.0/24, fd00::/64\n" +
            "Endpoint = 192.0.2.1:51820\n" +
            "PersistentKeepalive = 25\n",
            await Wg.OkAsync("showconf", If));
        Assert.Equal($"{device.Public}\n", await Wg.OkAsync("show", If, "public-key"));
        Assert.Equal($"{device.Private}\n", await Wg.OkAsync("show", If, "private-key"));
        Assert.Equal("51820\n", await Wg.OkAsync("show", If, "listen-port"));
        Assert.Equal("0x1234\n", await Wg.OkAsync("show", If, "fwmark"));
        Assert.Equal($"{peer.Public}\n", await Wg.OkAsync("show", If, "peers"));
        Assert.Equal($"{peer.Public}\t{psk}\n", await Wg.OkAsync("show", If, "preshared-keys"));
        Assert.Equal($"{peer.Public}\t192.0.2.1:51820\n", await Wg.OkAsync("show", If, "endpoints"));
        Assert.Equal($"{peer.Public}\t10.0.0.0/24 fd00::/64\n", await Wg.OkAsync("show", If, "allowed-ips"));
        Assert.Equal($"{peer.Public}\t0\n", await Wg.OkAsync("show", If, "latest-handshakes"));
        Assert.Equal($"{peer.Public}\t0\t0\n", await Wg.OkAsync("show", If, "transfer"));
        Assert.Equal($"{peer.Public}\t25\n", await Wg.OkAsync("show", If, "persistent-keepalive"));

        // And the device holds what wg meant.
        var snapshot = _device.GetConfiguration();
        Assert.Equal(WgKey.FromBase64(device.Private), snapshot.PrivateKey);
        Assert.Equal(0x1234, snapshot.FwMark);
        Assert.Equal(WgKey.FromBase64(psk), Assert.Single(snapshot.Peers).PresharedKey);
    }

    [Fact]
    public async Task Wg_show_lists_our_interface_among_the_userspace_interfaces()
    {
        await using var server = Start();
        var interfaces = (await Wg.OkAsync("show", "interfaces")).Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(If, interfaces);
        var dumpAll = await Wg.OkAsync("show", "all", "dump");
        Assert.Contains($"{If}\t(none)\t(none)\t0\toff\n", dumpAll, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wg_setconf_replaces_every_peer_and_their_allowed_ips()
    {
        await using var server = Start();
        var device = await NewKeysAsync("device.key");
        var old1 = await NewKeysAsync("old1");
        var old2 = await NewKeysAsync("old2");
        var fresh = await NewKeysAsync("fresh");
        await Wg.OkAsync("set", If, "listen-port", "1000", "peer", old1.Public, "allowed-ips", "10.1.0.0/16",
            "peer", old2.Public, "allowed-ips", "10.2.0.0/16");

        var conf = _scratch.WriteFile("wg.conf",
            $"[Interface]\nPrivateKey = {device.Private}\nListenPort = 51821\n\n" +
            $"[Peer]\nPublicKey = {fresh.Public}\nAllowedIPs = 10.2.0.0/16, 10.3.0.0/16\nEndpoint = [2001:db8::7]:51820\n");
        await Wg.OkAsync("setconf", If, conf);

        Assert.Equal(
            $"{device.Private}\t{device.Public}\t51821\toff\n" +
            $"{fresh.Public}\t(none)\t[2001:db8::7]:51820\t10.2.0.0/16,10.3.0.0/16\t0\t0\t0\toff\n",
            await Wg.OkAsync("show", If, "dump"));
    }

    [Fact]
    public async Task Wg_addconf_adds_peers_and_keeps_the_others()
    {
        await using var server = Start();
        var first = await NewKeysAsync("first");
        var second = await NewKeysAsync("second");
        await Wg.OkAsync("set", If, "peer", first.Public, "allowed-ips", "10.1.0.0/16");
        var conf = _scratch.WriteFile("add.conf", $"[Peer]\nPublicKey = {second.Public}\nAllowedIPs = 10.2.0.0/16\n");
        await Wg.OkAsync("addconf", If, conf);
        Assert.Equal($"{first.Public}\t10.1.0.0/16\n{second.Public}\t10.2.0.0/16\n", await Wg.OkAsync("show", If, "allowed-ips"));
    }

    [Fact]
    public async Task Wg_syncconf_reads_the_device_then_rewrites_it_to_match_the_file()
    {
        await using var server = Start();
        var device = await NewKeysAsync("device.key");
        var stay = await NewKeysAsync("stay");
        var go = await NewKeysAsync("go");
        await Wg.OkAsync("set", If, "private-key", device.PrivateFile, "listen-port", "51822",
            "peer", stay.Public, "allowed-ips", "10.1.0.0/16", "peer", go.Public, "allowed-ips", "10.2.0.0/16");
        var conf = _scratch.WriteFile("sync.conf",
            $"[Interface]\nPrivateKey = {device.Private}\nListenPort = 51822\n\n[Peer]\nPublicKey = {stay.Public}\nAllowedIPs = 10.9.0.0/16\n");
        await Wg.OkAsync("syncconf", If, conf);
        Assert.Equal($"{stay.Public}\t10.9.0.0/16\n", await Wg.OkAsync("show", If, "allowed-ips"));
    }

    [Fact]
    public async Task Wg_set_peer_remove_removes_that_peer_only()
    {
        await using var server = Start();
        var keep = await NewKeysAsync("keep");
        var drop = await NewKeysAsync("drop");
        await Wg.OkAsync("set", If, "peer", keep.Public, "allowed-ips", "10.1.0.0/16", "peer", drop.Public, "allowed-ips", "10.2.0.0/16");
        await Wg.OkAsync("set", If, "peer", drop.Public, "remove");
        Assert.Equal($"{keep.Public}\n", await Wg.OkAsync("show", If, "peers"));

        // Removing a peer that is not there is not an error, as with wireguard-go.
        await Wg.OkAsync("set", If, "peer", drop.Public, "remove");
        Assert.Equal($"{keep.Public}\n", await Wg.OkAsync("show", If, "peers"));
    }

    [Fact]
    public async Task An_IPv6_endpoint_reads_back_in_brackets()
    {
        await using var server = Start();
        var peer = await NewKeysAsync("peer");
        await Wg.OkAsync("set", If, "peer", peer.Public, "endpoint", "[2001:db8::1]:51820");
        Assert.Equal($"{peer.Public}\t[2001:db8::1]:51820\n", await Wg.OkAsync("show", If, "endpoints"));
        Assert.Contains("Endpoint = [2001:db8::1]:51820\n", await Wg.OkAsync("showconf", If), StringComparison.Ordinal);
        Assert.Equal(
            System.Net.IPEndPoint.Parse("[2001:db8::1]:51820"), Assert.Single(_device.GetConfiguration().Peers).Endpoint);
    }

    [Fact]
    public async Task A_link_local_endpoint_keeps_its_interface_scope()
    {
        // wg writes the scope by name (getnameinfo); we keep it (as the index) where wireguard-go 0.0.20220316
        // prints the address without it, so a showconf/setconf round trip would lose it there.
        await using var server = Start();
        var peer = await NewKeysAsync("peer");
        await Wg.OkAsync("set", If, "peer", peer.Public, "endpoint", "[fe80::1%lo]:51820");
        Assert.Equal($"{peer.Public}\t[fe80::1%lo]:51820\n", await Wg.OkAsync("show", If, "endpoints"));
        Assert.Equal(1, Assert.Single(_device.GetConfiguration().Peers).Endpoint!.Address.ScopeId);
    }

    [Fact]
    public async Task Handshake_time_and_byte_counters_show_as_the_numbers_the_device_reports()
    {
        await using var server = Start();
        var peer = await NewKeysAsync("peer");
        await Wg.OkAsync("set", If, "peer", peer.Public, "allowed-ips", "10.0.0.2/32");
        var handshake = DateTimeOffset.UtcNow.AddSeconds(-90);
        _device.SetStatistics(WgKey.FromBase64(peer.Public), handshake, rxBytes: 1234, txBytes: 5_678_901_234);
        var seconds = handshake.ToUnixTimeSeconds();

        Assert.Equal($"(none)\t(none)\t0\toff\n{peer.Public}\t(none)\t(none)\t10.0.0.2/32\t{seconds}\t1234\t5678901234\toff\n",
            await Wg.OkAsync("show", If, "dump"));
        Assert.Equal($"{peer.Public}\t{seconds}\n", await Wg.OkAsync("show", If, "latest-handshakes"));
        Assert.Equal($"{peer.Public}\t1234\t5678901234\n", await Wg.OkAsync("show", If, "transfer"));

        var pretty = await Wg.OkAsync("show", If);
        Assert.Contains("latest handshake: 1 minute, 3", pretty, StringComparison.Ordinal);
        Assert.Contains("transfer: 1.21 KiB received, 5.29 GiB sent", pretty, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_allowed_ip_given_to_another_peer_moves_to_it()
    {
        await using var server = Start();
        var a = await NewKeysAsync("a");
        var b = await NewKeysAsync("b");
        await Wg.OkAsync("set", If, "peer", a.Public, "allowed-ips", "10.0.0.0/24,10.1.0.0/24", "peer", b.Public, "allowed-ips", "10.2.0.0/24");
        await Wg.OkAsync("set", If, "peer", b.Public, "allowed-ips", "10.2.0.0/24,10.0.0.0/24");
        Assert.Equal($"{a.Public}\t10.1.0.0/24\n{b.Public}\t10.2.0.0/24 10.0.0.0/24\n", await Wg.OkAsync("show", If, "allowed-ips"));
    }

    [Fact]
    public async Task A_host_address_with_a_prefix_reads_back_as_its_network_as_with_wireguard_go()
    {
        await using var server = Start();
        var peer = await NewKeysAsync("peer");
        await Wg.OkAsync("set", If, "peer", peer.Public, "allowed-ips", "10.0.0.1/24,fd00::1/64");
        Assert.Equal($"{peer.Public}\t10.0.0.0/24 fd00::/64\n", await Wg.OkAsync("show", If, "allowed-ips"));
    }

    [Fact]
    public async Task Dev_null_keys_off_and_empty_allowed_ips_clear_what_was_set()
    {
        await using var server = Start();
        var device = await NewKeysAsync("device.key");
        var peer = await NewKeysAsync("peer");
        var psk = _scratch.WriteFile("psk", WgKey.GeneratePreshared().ToBase64() + "\n");
        await Wg.OkAsync("set", If, "private-key", device.PrivateFile, "listen-port", "51820", "fwmark", "7",
            "peer", peer.Public, "preshared-key", psk, "persistent-keepalive", "25", "allowed-ips", "10.0.0.0/8");

        await Wg.OkAsync("set", If, "private-key", "/dev/null", "fwmark", "off",
            "peer", peer.Public, "preshared-key", "/dev/null", "persistent-keepalive", "off", "allowed-ips", "");

        Assert.Equal($"(none)\t(none)\t51820\toff\n{peer.Public}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n",
            await Wg.OkAsync("show", If, "dump"));
    }

    [Fact]
    public async Task A_refusal_from_the_device_reaches_wg_with_its_errno()
    {
        _device.Refuse = u => u.ListenPort == 1
            ? new ConfigurationException("port 1 is taken", ConfigurationException.AddressInUse)
            : null;
        await using var server = Start();
        var (code, _, stderr) = await Wg.RunAsync(null, "set", If, "listen-port", "1");
        Assert.Equal(1, code);
        Assert.Contains("Unable to modify interface: Address already in use", stderr, StringComparison.Ordinal);
        Assert.Equal("0\n", await Wg.OkAsync("show", If, "listen-port"));
    }

    [Fact]
    public async Task Concurrent_wg_processes_are_all_served()
    {
        await using var server = Start();
        var peers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => NewKeysAsync($"p{i}")));
        await Task.WhenAll(peers.Select((p, i) => Wg.OkAsync("set", If, "peer", p.Public, "allowed-ips", $"10.{i}.0.0/16")));
        var shown = (await Wg.OkAsync("show", If, "peers")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(peers.Select(p => p.Public).Order(), shown.Order());
    }

    [Fact]
    public async Task A_client_sitting_in_the_middle_of_a_request_does_not_hold_up_wg()
    {
        await using var server = Start();
        await using var slow = await RawUapiClient.ConnectAsync(server.SocketPath);
        await slow.SendAsync("set=1\nlisten_port=4242\n");

        Assert.Equal("0\n", await Wg.OkAsync("show", If, "listen-port"));
        await Wg.OkAsync("set", If, "fwmark", "9");

        await slow.SendAsync("\n");
        Assert.Equal("errno=0\n\n", await slow.ReadAnswerAsync());
        Assert.Equal("4242\n", await Wg.OkAsync("show", If, "listen-port"));
    }
}
