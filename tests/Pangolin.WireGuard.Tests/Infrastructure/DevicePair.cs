using System.Net;
using Microsoft.Extensions.Time.Testing;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>
/// Two of our devices, A (10.0.0.1) and B (10.0.0.2), joined by an <see cref="InMemoryNetwork"/>, on one
/// <see cref="FakeTimeProvider"/>. A knows B's endpoint; B learns A's from the handshake.
/// </summary>
public sealed class DevicePair : IAsyncDisposable
{
    public const string AddressA = "10.0.0.1";
    public const string AddressB = "10.0.0.2";

    private DevicePair()
    {
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    public InMemoryNetwork Network { get; } = new();

    public WireGuardDevice A { get; private set; } = null!;

    public WireGuardDevice B { get; private set; } = null!;

    public QueuePacketInterface TunA { get; } = new("a0");

    public QueuePacketInterface TunB { get; } = new("b0");

    public InMemoryUdpPort PortA { get; private set; } = null!;

    public InMemoryUdpPort PortB { get; private set; } = null!;

    public WgKey KeyA { get; } = WgKey.GeneratePrivate();

    public WgKey KeyB { get; } = WgKey.GeneratePrivate();

    public WgKey PublicA => PublicOf(KeyA);

    public WgKey PublicB => PublicOf(KeyB);

    public static WgKey PublicOf(WgKey privateKey)
    {
        Span<byte> pub = stackalloc byte[32];
        Curve25519.PublicKeyOf(privateKey.Bytes, pub);
        return new WgKey(pub);
    }

    /// <summary>Builds and starts the pair. <paramref name="bKnowsA"/> false gives B a different key for A (a wrong key).</summary>
    public static DevicePair Create(WgKey? presharedA = null, WgKey? presharedB = null, bool bKnowsA = true, int workers = 2)
    {
        var pair = new DevicePair();
        var options = new DeviceOptions { Time = pair.Time, Random = new Random(7), Workers = workers, PoolSize = 512 };
        pair.A = new WireGuardDevice(pair.TunA, port => pair.PortA = pair.Network.Open(port, IPAddress.Parse("192.0.2.1")), options);
        pair.B = new WireGuardDevice(pair.TunB, port => pair.PortB = pair.Network.Open(port, IPAddress.Parse("192.0.2.2")), options);
        pair.A.Configure(new DeviceUpdate { PrivateKey = pair.KeyA, ListenPort = 51820 });
        pair.B.Configure(new DeviceUpdate { PrivateKey = pair.KeyB, ListenPort = 51820 });
        var toB = new PeerUpdate(pair.PublicB) { Endpoint = new IPEndPoint(IPAddress.Parse("192.0.2.2"), 51820), PresharedKey = presharedA };
        toB.AllowedIps.Add(IPNetwork.Parse(AddressB + "/32"));
        toB.AllowedIps.Add(IPNetwork.Parse("fd00::2/128"));
        pair.A.Configure(Update(toB));
        var toA = new PeerUpdate(bKnowsA ? pair.PublicA : PublicOf(WgKey.GeneratePrivate())) { PresharedKey = presharedB };
        toA.AllowedIps.Add(IPNetwork.Parse(AddressA + "/32"));
        toA.AllowedIps.Add(IPNetwork.Parse("fd00::1/128"));
        pair.B.Configure(Update(toA));
        pair.A.Start();
        pair.B.Start();
        return pair;
    }

    private static DeviceUpdate Update(PeerUpdate peer)
    {
        var update = new DeviceUpdate();
        update.Peers.Add(peer);
        return update;
    }

    /// <summary>A sends a packet to B; returns what B's interface delivered (null when nothing came).</summary>
    public byte[]? SendAToB(byte[] packet, TimeSpan? timeout = null)
    {
        TunA.Inject(packet);
        return TunB.Next(timeout);
    }

    public byte[]? SendBToA(byte[] packet, TimeSpan? timeout = null)
    {
        TunB.Inject(packet);
        return TunA.Next(timeout);
    }

    public int Count(byte type, UdpEndpointFilter? from = null) =>
        Network.Log.Count(d => d.Type == type && (from is null || from(d)));

    /// <summary>Waits (bounded, real time) until a condition holds: the pipeline runs on real threads.</summary>
    public static void WaitUntil(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting until " + what);
            }
            Thread.Sleep(5);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}

public delegate bool UdpEndpointFilter(Datagram datagram);
