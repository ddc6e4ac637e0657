using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.WireGuard.Tests.Timers;

/// <summary>Every timer rule of whitepaper §6, on fake time.</summary>
public sealed class TimerTests
{
    private static readonly TimeSpan MaxJitter = TimeSpan.FromMilliseconds(Protocol.RekeyTimeoutJitterMaxMs);

    private static byte[] Ping(string from, string to) => TestPackets.Ipv4Udp(from, to, new byte[32]);

    private static async Task<DevicePair> ConnectedAsync()
    {
        var pair = DevicePair.Create();
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        await Task.CompletedTask;
        return pair;
    }

    /// <summary>
    /// Connected, and quiet: B's keepalive for the first ping (due Keepalive-Timeout after it) has been sent and taken
    /// in, so that no packet of B's moves A's timers later on (each one A receives re-arms its persistent keepalive).
    /// </summary>
    private static async Task<DevicePair> QuietAsync()
    {
        var pair = await ConnectedAsync();
        var fromB = TransportFrom(pair, pair.PortB, 32);
        pair.Time.Advance(Protocol.KeepaliveTimeout);
        DevicePair.WaitUntil(() => TransportFrom(pair, pair.PortB, 32) == fromB + 1, "B's keepalive for the first ping");
        Thread.Sleep(100);
        return pair;
    }

    private static int TransportFrom(DevicePair pair, InMemoryUdpPort port, int dataLengthAtMost = int.MaxValue) =>
        pair.Network.Log.Count(d => d.Type == Protocol.TypeTransport && d.From == port.Endpoint && d.Data.Length <= dataLengthAtMost);

    [Fact]
    public async Task A_receiver_with_nothing_to_say_sends_a_keepalive_after_Keepalive_Timeout()
    {
        await using var pair = await ConnectedAsync();
        var before = TransportFrom(pair, pair.PortB, 32);
        pair.Time.Advance(Protocol.KeepaliveTimeout - TimeSpan.FromMilliseconds(100));
        Assert.Equal(before, TransportFrom(pair, pair.PortB, 32));
        pair.Time.Advance(TimeSpan.FromMilliseconds(200));
        DevicePair.WaitUntil(() => TransportFrom(pair, pair.PortB, 32) == before + 1, "B sends a keepalive (32-byte transport message)");
    }

    [Fact]
    public async Task An_unanswered_initiation_is_retransmitted_every_Rekey_Timeout_until_Rekey_Attempt_Time()
    {
        await using var pair = DevicePair.Create();
        pair.Network.Tap = d => d.Type != Protocol.TypeInitiation || d.From != pair.PortA.Endpoint ? true : false;
        pair.TunA.Inject(Ping(DevicePair.AddressA, DevicePair.AddressB));
        DevicePair.WaitUntil(() => pair.Count(Protocol.TypeInitiation) == 1, "the first initiation");
        // wireguard-go's count: the first initiation, then retries while fewer than MaxHandshakeAttempts + 1 were made.
        for (var attempt = 2; attempt <= Protocol.MaxHandshakeAttempts + 2; attempt++)
        {
            pair.Time.Advance(Protocol.RekeyTimeout - TimeSpan.FromMilliseconds(1));
            Thread.Sleep(20);
            Assert.Equal(attempt - 1, pair.Count(Protocol.TypeInitiation));
            pair.Time.Advance(MaxJitter + TimeSpan.FromMilliseconds(2));
            var expected = attempt;
            DevicePair.WaitUntil(() => pair.Count(Protocol.TypeInitiation) == expected, $"initiation {expected}");
        }
        // Rekey-Attempt-Time has passed: no more attempts.
        pair.Time.Advance(TimeSpan.FromSeconds(30));
        Thread.Sleep(50);
        Assert.Equal(Protocol.MaxHandshakeAttempts + 2, pair.Count(Protocol.TypeInitiation));
    }

    [Fact]
    public async Task Data_sent_without_reply_for_Keepalive_plus_Rekey_Timeout_starts_a_new_handshake()
    {
        await using var pair = await ConnectedAsync();
        pair.Network.Tap = d => d.From != pair.PortB.Endpoint;
        pair.TunA.Inject(Ping(DevicePair.AddressA, DevicePair.AddressB));
        DevicePair.WaitUntil(() => TransportFrom(pair, pair.PortA) >= 2, "A sends the second packet");
        pair.Time.Advance(Protocol.KeepaliveTimeout + Protocol.RekeyTimeout - TimeSpan.FromMilliseconds(10));
        Thread.Sleep(20);
        Assert.Equal(1, pair.Count(Protocol.TypeInitiation));
        pair.Time.Advance(MaxJitter + TimeSpan.FromMilliseconds(20));
        DevicePair.WaitUntil(() => pair.Count(Protocol.TypeInitiation) == 2, "A initiates again");
    }

    [Fact]
    public async Task The_initiator_rekeys_when_sending_after_Rekey_After_Time()
    {
        await using var pair = await ConnectedAsync();
        // Let B's keepalive reach A first, or A's "no reply" timer would start a handshake of its own.
        var received = pair.A.PeerForTests(pair.PublicB).RxBytes; // the handshake response counts too
        pair.Time.Advance(Protocol.KeepaliveTimeout + TimeSpan.FromSeconds(1));
        DevicePair.WaitUntil(() => pair.A.PeerForTests(pair.PublicB).RxBytes >= received + 32, "A receives B's keepalive");
        pair.Time.Advance(Protocol.RekeyAfterTime - Protocol.KeepaliveTimeout - TimeSpan.FromSeconds(2));
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        Assert.Equal(1, pair.Count(Protocol.TypeInitiation));
        pair.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        DevicePair.WaitUntil(() => pair.Count(Protocol.TypeInitiation) == 2 && pair.Count(Protocol.TypeResponse) == 2, "a second handshake");
        // The new session carries traffic both ways.
        Assert.NotNull(pair.SendBToA(Ping(DevicePair.AddressB, DevicePair.AddressA)));
    }

    [Fact]
    public async Task A_session_is_not_used_after_Reject_After_Time()
    {
        await using var pair = await ConnectedAsync();
        pair.Network.Tap = d => d.Type == Protocol.TypeTransport; // no new handshake can finish
        pair.Time.Advance(Protocol.RejectAfterTime + TimeSpan.FromSeconds(1));
        var before = TransportFrom(pair, pair.PortA);
        pair.TunA.Inject(Ping(DevicePair.AddressA, DevicePair.AddressB));
        DevicePair.WaitUntil(() => pair.Count(Protocol.TypeInitiation) >= 2, "A asks for a new handshake instead of sending");
        Thread.Sleep(50);
        Assert.Equal(before, TransportFrom(pair, pair.PortA));
    }

    [Fact]
    public async Task Key_material_is_zeroed_after_three_times_Reject_After_Time()
    {
        await using var pair = await ConnectedAsync();
        pair.Network.Tap = _ => false;
        Assert.NotNull(pair.A.PeerForTests(pair.PublicB).Current);
        pair.Time.Advance(Protocol.RejectAfterTime * 3 + TimeSpan.FromSeconds(1));
        DevicePair.WaitUntil(() => pair.A.PeerForTests(pair.PublicB).Current is null, "A forgets the session");
        Assert.Null(pair.B.PeerForTests(pair.PublicA).Current);
    }

    [Fact]
    public async Task Persistent_keepalive_sends_every_interval()
    {
        await using var pair = await QuietAsync();
        var update = new DeviceUpdate();
        update.Peers.Add(new PeerUpdate(pair.PublicB) { PersistentKeepaliveInterval = 25 });
        pair.A.Configure(update);
        DevicePair.WaitUntil(() => TransportFrom(pair, pair.PortA, 32) >= 1, "a keepalive when it is turned on");
        var start = TransportFrom(pair, pair.PortA, 32);
        for (var i = 1; i <= 3; i++)
        {
            Thread.Sleep(100); // the timer is re-armed just after the send that the count saw, on the device's thread
            pair.Time.Advance(TimeSpan.FromSeconds(25));
            var expected = start + i;
            DevicePair.WaitUntil(() => TransportFrom(pair, pair.PortA, 32) >= expected, $"keepalive {i}");
        }
        Assert.Equal(25, pair.A.GetConfiguration().Peers.Single().PersistentKeepaliveInterval);
    }

    [Fact]
    public async Task Traffic_pushes_the_persistent_keepalive_back_and_it_then_fires_once_a_full_interval_after_the_last_packet()
    {
        await using var pair = await QuietAsync();
        var update = new DeviceUpdate();
        update.Peers.Add(new PeerUpdate(pair.PublicB) { PersistentKeepaliveInterval = 25 });
        pair.A.Configure(update);
        DevicePair.WaitUntil(() => TransportFrom(pair, pair.PortA, 32) >= 1, "a keepalive when it is turned on");
        Thread.Sleep(100); // the timer is re-armed just after the send that the count saw
        var fromA = TransportFrom(pair, pair.PortA, 32);
        var fromB = TransportFrom(pair, pair.PortB, 32);

        // Each packet A sends or receives re-arms its timer for 25 s later (§6.5, any authenticated packet traversal):
        // A's ping at 10 s, then B's keepalive for it at 20 s.
        pair.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.NotNull(pair.SendAToB(Ping(DevicePair.AddressA, DevicePair.AddressB)));
        pair.Time.Advance(TimeSpan.FromSeconds(10));
        DevicePair.WaitUntil(() => TransportFrom(pair, pair.PortB, 32) == fromB + 1, "B's keepalive at 20 s");
        Thread.Sleep(100); // A takes it in

        // The deadlines it was armed for before (25 s, 35 s) pass without a keepalive...
        pair.Time.Advance(TimeSpan.FromSeconds(16));
        Thread.Sleep(100);
        Assert.Equal(fromA, TransportFrom(pair, pair.PortA, 32));
        pair.Time.Advance(TimeSpan.FromSeconds(8.5)); // 44.5 s
        Thread.Sleep(100);
        Assert.Equal(fromA, TransportFrom(pair, pair.PortA, 32));
        // ...and the last one (45 s) sends exactly one.
        pair.Time.Advance(TimeSpan.FromSeconds(1));
        DevicePair.WaitUntil(() => TransportFrom(pair, pair.PortA, 32) == fromA + 1, "the keepalive 25 s after the last packet");
        Thread.Sleep(100);
        Assert.Equal(fromA + 1, TransportFrom(pair, pair.PortA, 32));
    }

    [Fact]
    public async Task Initiations_are_sent_at_most_once_per_Rekey_Timeout()
    {
        await using var pair = DevicePair.Create();
        pair.Network.Tap = d => d.Type != Protocol.TypeInitiation;
        for (var i = 0; i < 5; i++)
        {
            pair.TunA.Inject(Ping(DevicePair.AddressA, DevicePair.AddressB));
        }
        DevicePair.WaitUntil(() => pair.Count(Protocol.TypeInitiation) >= 1, "an initiation");
        Thread.Sleep(100);
        Assert.Equal(1, pair.Count(Protocol.TypeInitiation));
    }
}
