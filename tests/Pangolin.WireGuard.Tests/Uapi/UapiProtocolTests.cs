using System.Net;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Uapi;

public sealed class UapiProtocolTests
{
    private static readonly string KeyA = new('a', 64);
    private static readonly string KeyB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private static readonly string Zero = new('0', 64);

    private static WgKey Hex(string hex)
    {
        Assert.True(WgKey.TryFromHex(hex, out var key));
        return key;
    }

    private static ConfigurationException Rejects(string body) =>
        Assert.Throws<ConfigurationException>(() => UapiProtocol.ParseSetRequest(body));

    [Fact]
    public void Every_device_key_is_read()
    {
        var update = UapiProtocol.ParseSetRequest($"private_key={KeyA}\nlisten_port=51820\nfwmark=4660\nreplace_peers=true\n\n");
        Assert.Equal(Hex(KeyA), update.PrivateKey);
        Assert.Equal(51820, update.ListenPort);
        Assert.Equal(0x1234, update.FwMark);
        Assert.True(update.ReplacePeers);
        Assert.Empty(update.Peers);
    }

    [Fact]
    public void Absent_device_keys_stay_null_meaning_unchanged()
    {
        var update = UapiProtocol.ParseSetRequest("");
        Assert.Null(update.PrivateKey);
        Assert.Null(update.ListenPort);
        Assert.Null(update.FwMark);
        Assert.False(update.ReplacePeers);
    }

    [Fact]
    public void A_zero_private_key_is_kept_as_a_zero_key_which_clears()
    {
        var update = UapiProtocol.ParseSetRequest($"private_key={Zero}\n");
        Assert.True(update.PrivateKey!.Value.IsZero);
    }

    [Fact]
    public void Keys_are_64_hex_digits_in_either_case_as_go_hex_decodes_them()
    {
        var update = UapiProtocol.ParseSetRequest($"private_key={KeyB.ToUpperInvariant()}\n");
        Assert.Equal(Hex(KeyB), update.PrivateKey);
        foreach (var bad in new[] { KeyA[..63], KeyA + "a", "g" + KeyA[1..], "", " " + KeyA[1..], Convert.ToBase64String(new byte[32]) })
        {
            Assert.Equal(22, Rejects($"private_key={bad}\n").Errno);
            Assert.Equal(22, Rejects($"public_key={bad}\n").Errno);
            Assert.Equal(22, Rejects($"public_key={KeyA}\npreshared_key={bad}\n").Errno);
        }
    }

    [Fact]
    public void Every_peer_key_is_read()
    {
        var update = UapiProtocol.ParseSetRequest(
            $"public_key={KeyA}\nupdate_only=true\npreshared_key={KeyB}\nendpoint=192.0.2.1:51820\n" +
            "persistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n" +
            $"protocol_version=1\npublic_key={KeyB}\nremove=true\n\n");
        Assert.Equal(2, update.Peers.Count);
        var first = update.Peers[0];
        Assert.Equal(Hex(KeyA), first.PublicKey);
        Assert.True(first.UpdateOnly);
        Assert.False(first.Remove);
        Assert.Equal(Hex(KeyB), first.PresharedKey);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 51820), first.Endpoint);
        Assert.Equal(25, first.PersistentKeepaliveInterval);
        Assert.True(first.ReplaceAllowedIps);
        Assert.Equal([IPNetwork.Parse("10.0.0.0/24"), IPNetwork.Parse("fd00::/64")], first.AllowedIps);
        var second = update.Peers[1];
        Assert.Equal(Hex(KeyB), second.PublicKey);
        Assert.True(second.Remove);
    }

    [Fact]
    public void Absent_peer_keys_stay_null_meaning_unchanged()
    {
        var peer = Assert.Single(UapiProtocol.ParseSetRequest($"public_key={KeyA}\n").Peers);
        Assert.Null(peer.PresharedKey);
        Assert.Null(peer.Endpoint);
        Assert.Null(peer.PersistentKeepaliveInterval);
        Assert.False(peer.ReplaceAllowedIps);
        Assert.False(peer.UpdateOnly);
        Assert.False(peer.Remove);
        Assert.Empty(peer.AllowedIps);
    }

    [Theory]
    [InlineData("192.0.2.1:51820", "192.0.2.1", 51820)]
    [InlineData("0.0.0.0:0", "0.0.0.0", 0)]
    [InlineData("255.255.255.255:65535", "255.255.255.255", 65535)]
    [InlineData("[2001:db8::1]:443", "2001:db8::1", 443)]
    [InlineData("[::ffff:192.0.2.1]:1", "::ffff:192.0.2.1", 1)]
    [InlineData("[fe80::1%1]:51820", "fe80::1%1", 51820)]
    public void Literal_endpoints_are_read(string text, string address, int port)
    {
        var peer = Assert.Single(UapiProtocol.ParseSetRequest($"public_key={KeyA}\nendpoint={text}\n").Peers);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), peer.Endpoint);
    }

    [Theory]
    [InlineData("")]
    [InlineData("192.0.2.1")]
    [InlineData("192.0.2.1:")]
    [InlineData("192.0.2.1:65536")]
    [InlineData("192.0.2.1:-1")]
    [InlineData("192.0.2.1:+1")]
    [InlineData("192.0.2.1: 1")]
    [InlineData("192.0.2:1")]
    [InlineData("192.0.2.1.5:1")]
    [InlineData("192.0.02.1:1")]
    [InlineData("192.0.2.256:1")]
    [InlineData("0x7f.0.0.1:1")]
    [InlineData("2001:db8::1:443")]
    [InlineData("[2001:db8::1]")]
    [InlineData("[2001:db8::1]:")]
    [InlineData("[2001:db8::1]443")]
    [InlineData("[192.0.2.1]:443")]
    [InlineData("[2001:db8::g]:443")]
    [InlineData("[fe80::1%]:443")]
    [InlineData("localhost:51820")]
    [InlineData("example.com:51820")]
    public void Malformed_endpoints_and_host_names_are_rejected(string text)
    {
        Assert.Equal(22, Rejects($"public_key={KeyA}\nendpoint={text}\n").Errno);
    }

    [Theory]
    [InlineData("10.0.0.0/24", "10.0.0.0/24")]
    [InlineData("10.0.0.1/24", "10.0.0.0/24")]
    [InlineData("10.1.2.3/32", "10.1.2.3/32")]
    [InlineData("10.1.2.3/0", "0.0.0.0/0")]
    [InlineData("10.255.255.255/9", "10.128.0.0/9")]
    [InlineData("fd00::/64", "fd00::/64")]
    [InlineData("fd00::1:2:3:4/64", "fd00::/64")]
    [InlineData("2001:db8::1/128", "2001:db8::1/128")]
    [InlineData("2001:db8:ffff::/33", "2001:db8:8000::/33")]
    [InlineData("::/0", "::/0")]
    public void Allowed_ips_are_read_and_masked_to_their_prefix_as_wireguard_go_stores_them(string text, string expected)
    {
        var peer = Assert.Single(UapiProtocol.ParseSetRequest($"public_key={KeyA}\nallowed_ip={text}\n").Peers);
        Assert.Equal(IPNetwork.Parse(expected), Assert.Single(peer.AllowedIps));
    }

    [Theory]
    [InlineData("")]
    [InlineData("10.0.0.0")]
    [InlineData("10.0.0.0/")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/-1")]
    [InlineData("10.0.0.0/+8")]
    [InlineData("10.0.0.0/08")]
    [InlineData("10.0.0/8")]
    [InlineData("010.0.0.0/8")]
    [InlineData("fd00::/129")]
    [InlineData("fe80::1%1/64")]
    [InlineData("fd00::/64/1")]
    [InlineData("[fd00::]/64")]
    [InlineData("host/32")]
    public void Malformed_allowed_ips_are_rejected(string text)
    {
        Assert.Equal(22, Rejects($"public_key={KeyA}\nallowed_ip={text}\n").Errno);
    }

    [Theory]
    [InlineData("listen_port", "0", 0)]
    [InlineData("listen_port", "65535", 65535)]
    [InlineData("listen_port", "00080", 80)]
    [InlineData("fwmark", "0", 0)]
    [InlineData("fwmark", "2147483647", int.MaxValue)]
    [InlineData("fwmark", "4294967295", -1)]
    public void Device_numbers_take_the_full_unsigned_range(string key, string value, int expected)
    {
        var update = UapiProtocol.ParseSetRequest($"{key}={value}\n");
        Assert.Equal(expected, key == "fwmark" ? update.FwMark : update.ListenPort);
    }

    [Theory]
    [InlineData("listen_port", "65536")]
    [InlineData("listen_port", "-1")]
    [InlineData("listen_port", "+1")]
    [InlineData("listen_port", "")]
    [InlineData("listen_port", " 1")]
    [InlineData("listen_port", "1 ")]
    [InlineData("listen_port", "0x10")]
    [InlineData("listen_port", "1_000")]
    [InlineData("listen_port", "99999999999999999999999")]
    [InlineData("fwmark", "4294967296")]
    [InlineData("fwmark", "0x1234")]
    [InlineData("fwmark", "-1")]
    [InlineData("replace_peers", "false")]
    [InlineData("replace_peers", "TRUE")]
    [InlineData("replace_peers", "1")]
    [InlineData("replace_peers", "")]
    public void Malformed_device_values_are_rejected(string key, string value)
    {
        Assert.Equal(22, Rejects($"{key}={value}\n").Errno);
    }

    [Theory]
    [InlineData("persistent_keepalive_interval", "65536")]
    [InlineData("persistent_keepalive_interval", "-1")]
    [InlineData("persistent_keepalive_interval", "")]
    [InlineData("persistent_keepalive_interval", "off")]
    [InlineData("update_only", "false")]
    [InlineData("update_only", "yes")]
    [InlineData("remove", "false")]
    [InlineData("remove", "")]
    [InlineData("replace_allowed_ips", "false")]
    [InlineData("protocol_version", "0")]
    [InlineData("protocol_version", "2")]
    [InlineData("protocol_version", "")]
    public void Malformed_peer_values_are_rejected(string key, string value)
    {
        Assert.Equal(22, Rejects($"public_key={KeyA}\n{key}={value}\n").Errno);
    }

    [Fact]
    public void Keepalive_takes_zero_which_turns_it_off_and_up_to_65535()
    {
        var update = UapiProtocol.ParseSetRequest(
            $"public_key={KeyA}\npersistent_keepalive_interval=0\npublic_key={KeyB}\npersistent_keepalive_interval=65535\n");
        Assert.Equal(0, update.Peers[0].PersistentKeepaliveInterval);
        Assert.Equal(65535, update.Peers[1].PersistentKeepaliveInterval);
    }

    [Theory]
    [InlineData("bogus=1")]
    [InlineData("=1")]
    [InlineData("Private_key=1")]
    [InlineData("private_key =1")]
    [InlineData("get=1")]
    [InlineData("errno=0")]
    [InlineData("last_handshake_time_sec=0")]
    public void Unknown_device_keys_are_rejected(string line)
    {
        Assert.Equal(22, Rejects(line + "\n").Errno);
    }

    [Theory]
    [InlineData("bogus=1")]
    [InlineData("tx_bytes=0")]
    [InlineData("private_key=aa")]
    [InlineData("listen_port=1")]
    [InlineData("fwmark=1")]
    [InlineData("replace_peers=true")]
    public void Unknown_peer_keys_and_device_keys_after_a_public_key_are_rejected(string line)
    {
        var error = Rejects($"public_key={KeyA}\n{line}\n");
        Assert.Equal(22, error.Errno);
    }

    [Theory]
    [InlineData("endpoint=192.0.2.1:1")]
    [InlineData("allowed_ip=10.0.0.0/8")]
    [InlineData("preshared_key=" + "00000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("remove=true")]
    [InlineData("update_only=true")]
    [InlineData("persistent_keepalive_interval=1")]
    [InlineData("replace_allowed_ips=true")]
    [InlineData("protocol_version=1")]
    public void Peer_keys_before_any_public_key_are_rejected(string line)
    {
        var error = Rejects(line + "\n");
        Assert.Equal(22, error.Errno);
    }

    [Fact]
    public void A_line_without_an_equals_sign_is_a_protocol_error_as_in_wireguard_go()
    {
        Assert.Equal(UapiProtocol.ProtocolErrno, Rejects("listen_port\n").Errno);
        Assert.Equal(71, Rejects($"public_key={KeyA}\nremove\n").Errno);
    }

    [Fact]
    public void A_trailing_carriage_return_is_ignored_as_gos_line_scanner_does()
    {
        var update = UapiProtocol.ParseSetRequest("listen_port=51820\r\nfwmark=1\r\n\r\n");
        Assert.Equal(51820, update.ListenPort);
        Assert.Equal(1, update.FwMark);
    }

    [Fact]
    public void The_body_ends_at_the_empty_line_and_nothing_may_follow_it()
    {
        Assert.Equal(1, UapiProtocol.ParseSetRequest("listen_port=1\n\n").ListenPort);
        Assert.Equal(1, UapiProtocol.ParseSetRequest("listen_port=1").ListenPort);
        Assert.Equal(22, Rejects("listen_port=1\n\nlisten_port=2\n").Errno);
    }

    [Fact]
    public void Later_device_lines_win_and_peer_blocks_stay_in_order_even_for_the_same_key()
    {
        var update = UapiProtocol.ParseSetRequest(
            $"listen_port=1\nlisten_port=2\npublic_key={KeyA}\nallowed_ip=10.0.0.0/8\npublic_key={KeyB}\npublic_key={KeyA}\nallowed_ip=10.1.0.0/16\n");
        Assert.Equal(2, update.ListenPort);
        Assert.Equal([Hex(KeyA), Hex(KeyB), Hex(KeyA)], update.Peers.Select(p => p.PublicKey));
        Assert.Equal(IPNetwork.Parse("10.1.0.0/16"), Assert.Single(update.Peers[2].AllowedIps));
    }

    [Fact]
    public void Replace_allowed_ips_after_allowed_ip_lines_drops_them_as_wireguard_go_removes_them_at_that_line()
    {
        var peer = Assert.Single(UapiProtocol.ParseSetRequest(
            $"public_key={KeyA}\nallowed_ip=10.0.0.0/8\nreplace_allowed_ips=true\nallowed_ip=10.1.0.0/16\n").Peers);
        Assert.True(peer.ReplaceAllowedIps);
        Assert.Equal(IPNetwork.Parse("10.1.0.0/16"), Assert.Single(peer.AllowedIps));
    }

    [Fact]
    public void Lines_after_remove_are_checked_but_change_nothing()
    {
        var peer = Assert.Single(UapiProtocol.ParseSetRequest(
            $"public_key={KeyA}\nremove=true\nendpoint=192.0.2.1:1\nallowed_ip=10.0.0.0/8\npersistent_keepalive_interval=5\n").Peers);
        Assert.True(peer.Remove);
        Assert.Null(peer.Endpoint);
        Assert.Empty(peer.AllowedIps);
        Assert.Null(peer.PersistentKeepaliveInterval);
        Assert.Equal(22, Rejects($"public_key={KeyA}\nremove=true\nendpoint=nonsense\n").Errno);
    }

    [Fact]
    public void Error_messages_never_quote_a_key()
    {
        var privateKey = WgKey.GeneratePrivate();
        var bodies = new[]
        {
            $"private_key={privateKey.ToHex()}0\n",
            $"private_key={privateKey.ToBase64()}\n",
            $"{privateKey.ToBase64()}\n",
            $"{privateKey.ToHex()}=1\n",
            $"listen_port={privateKey.ToBase64()}\n",
            $"listen_port={privateKey.ToHex()}\n",
            $"public_key={KeyA}\nendpoint={privateKey.ToBase64()}\n",
            $"public_key={KeyA}\npreshared_key={privateKey.ToHex()[..63]}\n",
            $"public_key={KeyA}\nprivate_key={privateKey.ToHex()}\n",
        };
        foreach (var body in bodies)
        {
            var message = Rejects(body).Message;
            Assert.DoesNotContain(privateKey.ToHex()[..16], message, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(privateKey.ToBase64()[..16], message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_get_answer_is_written_field_for_field_as_wireguard_go_writes_it()
    {
        var privateKey = Hex(KeyA);
        var peerA = Hex(KeyB);
        var peerB = Hex(new string('c', 64));
        var snapshot = new DeviceSnapshot(privateKey, 51820, 0x1234,
        [
            new PeerSnapshot(peerA, Hex(new string('d', 64)), new IPEndPoint(IPAddress.Parse("192.0.2.1"), 51820), 25,
                [IPNetwork.Parse("10.0.0.0/24"), IPNetwork.Parse("fd00::/64")],
                DateTimeOffset.FromUnixTimeSeconds(1_700_000_000).AddTicks(1_234_567), 1234, 5678),
            new PeerSnapshot(peerB, null, new IPEndPoint(IPAddress.Parse("2001:db8::1"), 443), 0, [], null, 0, 0),
        ]);

        var expected =
            $"private_key={KeyA}\n" +
            "listen_port=51820\n" +
            "fwmark=4660\n" +
            $"public_key={KeyB}\n" +
            $"preshared_key={new string('d', 64)}\n" +
            "protocol_version=1\n" +
            "endpoint=192.0.2.1:51820\n" +
            "last_handshake_time_sec=1700000000\n" +
            "last_handshake_time_nsec=123456700\n" +
            "tx_bytes=5678\n" +
            "rx_bytes=1234\n" +
            "persistent_keepalive_interval=25\n" +
            "allowed_ip=10.0.0.0/24\n" +
            "allowed_ip=fd00::/64\n" +
            $"public_key={new string('c', 64)}\n" +
            $"preshared_key={Zero}\n" +
            "protocol_version=1\n" +
            "endpoint=[2001:db8::1]:443\n" +
            "last_handshake_time_sec=0\n" +
            "last_handshake_time_nsec=0\n" +
            "tx_bytes=0\n" +
            "rx_bytes=0\n" +
            "persistent_keepalive_interval=0\n" +
            "errno=0\n" +
            "\n";
        Assert.Equal(expected, UapiProtocol.FormatGetResponse(snapshot));
    }

    [Fact]
    public void An_empty_device_answers_only_errno_and_unset_fields_are_left_out()
    {
        Assert.Equal("errno=0\n\n", UapiProtocol.FormatGetResponse(new DeviceSnapshot(null, 0, 0, [])));
        Assert.Equal("errno=0\n\n", UapiProtocol.FormatGetResponse(new DeviceSnapshot(default(WgKey), 0, 0, [])));
        var peer = new PeerSnapshot(Hex(KeyB), null, null, 0, [], null, 0, 0);
        var text = UapiProtocol.FormatGetResponse(new DeviceSnapshot(null, 0, unchecked((int)0xFFFFFFFF), [peer]));
        Assert.StartsWith($"fwmark=4294967295\npublic_key={KeyB}\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("endpoint=", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_get_answer_parses_back_as_a_set_of_the_same_settings_where_fields_overlap()
    {
        // The fields both directions share (private_key, listen_port, fwmark, public_key, preshared_key,
        // protocol_version, endpoint, persistent_keepalive_interval, allowed_ip) are spelled the same.
        var snapshot = new DeviceSnapshot(Hex(KeyA), 1, 2,
            [new PeerSnapshot(Hex(KeyB), Hex(KeyA), new IPEndPoint(IPAddress.Parse("fd00::5"), 9), 7, [IPNetwork.Parse("10.9.0.0/16")], null, 0, 0)]);
        var shared = string.Join('\n', UapiProtocol.FormatGetResponse(snapshot).Split('\n')
            .Where(l => !l.StartsWith("last_handshake", StringComparison.Ordinal) && !l.EndsWith("_bytes=0", StringComparison.Ordinal) && !l.StartsWith("errno", StringComparison.Ordinal)));
        var update = UapiProtocol.ParseSetRequest(shared);
        Assert.Equal(Hex(KeyA), update.PrivateKey);
        Assert.Equal(1, update.ListenPort);
        Assert.Equal(2, update.FwMark);
        var peer = Assert.Single(update.Peers);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("fd00::5"), 9), peer.Endpoint);
        Assert.Equal(7, peer.PersistentKeepaliveInterval);
        Assert.Equal(IPNetwork.Parse("10.9.0.0/16"), Assert.Single(peer.AllowedIps));
    }

    [Theory]
    [InlineData(0, "errno=0\n\n")]
    [InlineData(22, "errno=-22\n\n")]
    [InlineData(-22, "errno=-22\n\n")]
    [InlineData(98, "errno=-98\n\n")]
    public void Errors_are_answered_negative_as_wireguard_go_does_and_wg_expects(int errno, string expected)
    {
        Assert.Equal(expected, UapiProtocol.FormatErrno(errno));
    }
}
