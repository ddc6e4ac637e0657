using System.Net;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.WireGuard.Tests.Device;

/// <summary>Two of our devices over an in-memory network: handshakes, data both ways, and the protocol's refusals.</summary>
public sealed class DeviceTests
{
    private static byte[] Ping(string from, string to, int size = 64) =>
        TestPackets.Ipv4Udp(from, to, Enumerable.Range(0, size).Select(i => (byte)i).ToArray());

    [Fact]
    public async Task A_handshake_then_packets_flow_both_ways_unchanged()
    {
        await using var pair = DevicePair.Create();
        var toB = Ping(DevicePair.AddressA, DevicePair.AddressB);
        Assert.Equal(toB, pair.SendAToB(toB));
        var toA = Ping(DevicePair.AddressB, DevicePair.AddressA, 1000);
        Assert.Equal(toA, pair.SendBToA(toA));
        var v6 = TestPackets.Ipv6Udp("fd00::1", "fd00::2", new byte[300]);
        Assert.Equal(v6, pair.SendAToB(v6));

        Assert.Equal(1, pair.Count(Protocol.TypeInitiation));
        Assert.Equal(1, pair.Count(Protocol.TypeResponse));
        // Transport messages are padded to 16 bytes plus the 32-byte overhead (§5.4.6).
        Assert.All(pair.Network.Log.Where(d => d.Type == Protocol.TypeTransport), d => Assert.Equal(0, (d.Data.Length - 32) % 16));
        var b = pair.B.GetConfiguration().Peers.Single();
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 51820), b.Endpoint); // learnt from the handshake
        Assert.NotNull(b.LastHandshake);
        Assert.True(b.RxBytes > 0 && b.TxBytes > 0);
    }

    [Fact]
    public async Task Many_packets_arrive_in_order()
    {
        await using var pair = DevicePair.Create(workers: 4);
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        for (var i = 0; i < 2000; i++)
        {
            pair.TunA.Inject(TestPackets.Ipv4Udp(DevicePair.AddressA, DevicePair.AddressB, BitConverter.GetBytes(i)));
        }
        for (var i = 0; i < 2000; i++)
        {
            var packet = pair.TunB.Next();
            Assert.NotNull(packet);
            Assert.Equal(i, BitConverter.ToInt32(packet, 28));
        }
    }

    [Fact]
    public async Task A_preshared_key_on_both_sides_works_and_a_mismatch_passes_nothing()
    {
        var psk = WgKey.GeneratePreshared();
        await using (var pair = DevicePair.Create(psk, psk))
        {
            Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        }
        await using (var mismatch = DevicePair.Create(psk, WgKey.GeneratePreshared()))
        {
            Assert.Null(mismatch.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB), TimeSpan.FromSeconds(1)));
            Assert.Equal(0, mismatch.Count(Protocol.TypeTransport));
        }
    }

    [Fact]
    public async Task A_wrong_key_passes_nothing_and_nothing_crashes()
    {
        await using var pair = DevicePair.Create(bKnowsA: false);
        Assert.Null(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB), TimeSpan.FromSeconds(1)));
        Assert.Equal(1, pair.Count(Protocol.TypeInitiation));
        Assert.Equal(0, pair.Count(Protocol.TypeResponse));
        // Garbage of every message type and size is dropped.
        var random = new Random(3);
        foreach (var size in new[] { 0, 1, 4, 31, 32, 64, 92, 148, 1500 })
        {
            for (byte type = 0; type <= 5; type++)
            {
                var junk = new byte[size];
                random.NextBytes(junk);
                if (size > 0)
                {
                    junk[0] = type;
                }
                pair.Network.Inject(pair.PortA.Endpoint, pair.PortB.Endpoint, junk);
            }
        }
        pair.B.Configure(new DeviceUpdate { ListenPort = 51820 });
        Assert.NotNull(pair.B.GetConfiguration());
    }

    [Fact]
    public async Task A_packet_whose_inner_source_the_peer_may_not_use_is_dropped()
    {
        await using var pair = DevicePair.Create();
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        // A routes it (destination is B's), but B does not accept 10.9.9.9 from A.
        Assert.Null(pair.SendAToB(Ping("10.9.9.9", DevicePair.AddressB), TimeSpan.FromMilliseconds(500)));
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        // And a destination no peer owns goes nowhere.
        pair.TunA.Inject(Ping(DevicePair.AddressA, "10.1.1.1"));
        Assert.Null(pair.TunB.Next(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task A_replayed_transport_message_is_delivered_once()
    {
        await using var pair = DevicePair.Create();
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        var transport = pair.Network.Log.Last(d => d.Type == Protocol.TypeTransport && d.To == pair.PortB.Endpoint);
        pair.Network.Inject(transport.From, transport.To, transport.Data);
        pair.Network.Inject(transport.From, transport.To, transport.Data);
        Assert.Null(pair.TunB.Next(TimeSpan.FromMilliseconds(500)));
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
    }

    [Fact]
    public async Task The_responder_follows_the_initiator_to_a_new_address()
    {
        await using var pair = DevicePair.Create();
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        var moved = UdpEndpointOf("198.51.100.7", 40404);
        pair.PortA.SendFrom = moved;
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        Assert.Equal(moved.ToIPEndPoint(), pair.B.GetConfiguration().Peers.Single().Endpoint);
    }

    [Fact]
    public async Task Removing_a_peer_stops_its_traffic_and_replacing_allowed_ips_reroutes()
    {
        await using var pair = DevicePair.Create();
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        var replace = new PeerUpdate(pair.PublicB) { ReplaceAllowedIps = true };
        replace.AllowedIps.Add(IPNetwork.Parse("10.0.0.0/24"));
        var update = new DeviceUpdate();
        update.Peers.Add(replace);
        pair.A.Configure(update);
        Assert.Equal([IPNetwork.Parse("10.0.0.0/24")], pair.A.GetConfiguration().Peers.Single().AllowedIps);
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));

        var remove = new DeviceUpdate();
        remove.Peers.Add(new PeerUpdate(pair.PublicB) { Remove = true });
        pair.A.Configure(remove);
        Assert.Empty(pair.A.GetConfiguration().Peers);
        Assert.Null(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB), TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Under_load_a_handshake_needs_a_cookie_and_then_succeeds()
    {
        await using var pair = DevicePair.Create();
        pair.B.ForceUnderLoad = true;
        pair.TunA.Inject(Ping(DevicePair.AddressA, DevicePair.AddressB));
        DevicePair.WaitUntil(() => pair.A.PeerForTests(pair.PublicB).Cookies.HasCookie, "B answers with a cookie and A takes it");
        Assert.Equal(1, pair.Count(Protocol.TypeCookieReply));
        Assert.Equal(0, pair.Count(Protocol.TypeResponse));
        // The retransmission carries MAC2 made with the cookie, and B accepts it.
        pair.Time.Advance(Protocol.RekeyTimeout + TimeSpan.FromMilliseconds(Protocol.RekeyTimeoutJitterMaxMs));
        Assert.NotNull(pair.TunB.Next());
        var second = pair.Network.Log.Where(d => d.Type == Protocol.TypeInitiation).Last();
        Assert.True(second.Data.AsSpan(132, 16).ContainsAnyExcept((byte)0), "the second initiation carries MAC2");
    }

    private static UdpEndpoint UdpEndpointOf(string address, int port) =>
        UdpEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port));
}
