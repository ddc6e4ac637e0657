using System.Buffers.Binary;
using System.Net;
using System.Text;
using Pangolin.WireGuard.AllowedIps;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Peers;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Fuzz;

/// <summary>
/// What the fuzzer feeds: received datagrams (handshake state machine, cookie replies, transport decryption and
/// the inner IP header), UAPI set requests, raw IP packets for cryptokey routing, and what a TUN with offload
/// reads (a virtio header and a TCP super-packet, cut into segments and glued back). Every target must return
/// normally for any input; an exception is a finding.
/// </summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["datagram"] = Datagram,
        ["uapi"] = Uapi,
        ["ippacket"] = IpPacket,
        ["tunoffload"] = TunPacket,
    };

    // Fixed keys so that the committed corpus stays valid: B is the device under test, A its peer. Library code
    // (instrumented by SharpFuzz) must not run before the fuzzer's shared memory exists, so nothing here is eager.
    internal static WgKey PrivateA => new(Convert.FromHexString("08a9ae0d3c9b5b7d0b1a1a4e9b3b0f6f2d5c2c8f1e3d4b6a798a7b6c5d4e3f70"));
    internal static WgKey PrivateB => new(Convert.FromHexString("10b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f50"));
    internal static readonly byte[] SessionKeyAToB = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    internal static readonly byte[] SessionKeyBToA = Enumerable.Range(101, 32).Select(i => (byte)i).ToArray();
    internal const uint SessionIndexAtB = 0x01020304;

    private static readonly Lazy<WireGuardDevice> Device = new(CreateDevice);
    private static readonly Lazy<AllowedIpsTable<string>> Table = new(CreateTable);

    public static void Datagram(byte[] data) =>
        Device.Value.ProcessDatagramForFuzzing(data, UdpEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Loopback, 51820)));

    public enum Depth
    {
        Dropped,
        Decrypted,
        SessionDerived,
    }

    /// <summary>How far one datagram gets into a fresh device: shows that the seeds pass the early checks.</summary>
    public static Depth ProbeDepth(byte[] data)
    {
        var device = CreateDevice();
        var peer = device.PeerForTests(PublicOf(PrivateA));
        var before = peer.Next;
        var reached = device.ProcessDatagramForFuzzing(data, UdpEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Loopback, 51820)));
        if (peer.Next is not null && peer.Next != before)
        {
            return Depth.SessionDerived;
        }
        return reached && data[0] == Protocol.TypeTransport ? Depth.Decrypted : Depth.Dropped;
    }

    public static void Uapi(byte[] data)
    {
        try
        {
            _ = UapiProtocol.ParseSetRequest(Encoding.UTF8.GetString(data));
        }
        catch (ConfigurationException)
        {
            // refusing bad input is the expected outcome
        }
    }

    public static void IpPacket(byte[] data)
    {
        _ = Peer.IpPacketLength(data);
        _ = Table.Value.LookupSource(data);
        _ = Table.Value.LookupDestination(data);
    }

    /// <summary>Cuts a read from an offloading TUN into segments, then glues what it can back together, as a write would.</summary>
    public static void TunPacket(byte[] data)
    {
        const int offset = 16;
        var segmenter = new Tun.TunOffload.Segmenter();
        if (!segmenter.Begin(data, 0, data.Length))
        {
            return;
        }
        var buffers = new List<byte[]>();
        var sizes = new List<int>();
        while (segmenter.HasNext && buffers.Count < 1024)
        {
            var buffer = new byte[offset + 2048];
            var length = segmenter.Next(buffer.AsSpan(offset));
            if (length >= 0)
            {
                buffers.Add(buffer);
                sizes.Add(length);
            }
        }
        var all = buffers.ToArray();
        var allSizes = sizes.ToArray();
        var destination = new byte[Tun.TunOffload.HeaderSize + Tun.TunOffload.MaxPacket];
        for (var i = 0; i < all.Length;)
        {
            var end = Tun.TunOffload.FindRun(all, allSizes, offset, i, all.Length, out var total, out var push);
            if (end - i > 1)
            {
                Tun.TunOffload.Coalesce(all, allSizes, offset, i, end, total, push, destination);
            }
            i = end;
        }
    }

    internal static WgKey PublicOf(WgKey privateKey)
    {
        var pub = new byte[32];
        Curve25519.PublicKeyOf(privateKey.Bytes, pub);
        return new WgKey(pub);
    }

    private static WireGuardDevice CreateDevice()
    {
        var device = new WireGuardDevice(new NullPacketInterface(), _ => throw new IOException("no socket while fuzzing"), new DeviceOptions { Workers = 1 });
        var update = new DeviceUpdate { PrivateKey = PrivateB };
        var peer = new PeerUpdate(PublicOf(PrivateA));
        peer.AllowedIps.Add(IPNetwork.Parse("10.0.0.1/32"));
        peer.AllowedIps.Add(IPNetwork.Parse("fd00::1/128"));
        update.Peers.Add(peer);
        device.Configure(update);
        device.InstallSessionForFuzzing(PublicOf(PrivateA), SessionKeyBToA, SessionKeyAToB, SessionIndexAtB, 0x0a0b0c0d);
        return device;
    }

    private static AllowedIpsTable<string> CreateTable()
    {
        var table = new AllowedIpsTable<string>();
        table.Insert(IPNetwork.Parse("10.0.0.0/8"), "a");
        table.Insert(IPNetwork.Parse("10.1.0.0/16"), "b");
        table.Insert(IPNetwork.Parse("0.0.0.0/0"), "default");
        table.Insert(IPNetwork.Parse("fd00::/8"), "c");
        return table;
    }

    /// <summary>Valid inputs of every kind, the fuzzer's starting points (written by `seed`).</summary>
    public static IEnumerable<(string Target, string Name, byte[] Data)> Seeds()
    {
        var time = TimeProvider.System;
        using var identityA = new StaticIdentity(PrivateA.Bytes);
        var atA = new Handshake(identityA, PublicOf(PrivateB).Bytes) { LocalIndex = 7 };
        var initiation = new byte[Protocol.InitiationSize];
        atA.CreateInitiation(initiation, time);
        new CookieGenerator(atA, time).AddMacs(initiation);
        yield return ("datagram", "initiation", initiation);

        var response = new byte[Protocol.ResponseSize];
        response[0] = Protocol.TypeResponse;
        BinaryPrimitives.WriteUInt32LittleEndian(response.AsSpan(4), 9);
        BinaryPrimitives.WriteUInt32LittleEndian(response.AsSpan(8), 7);
        new CookieGenerator(atA, time).AddMacs(response);
        yield return ("datagram", "response", response);

        var cookie = new byte[Protocol.CookieReplySize];
        cookie[0] = Protocol.TypeCookieReply;
        BinaryPrimitives.WriteUInt32LittleEndian(cookie.AsSpan(4), 7);
        yield return ("datagram", "cookie-reply", cookie);

        foreach (var (name, packet) in new[] { ("transport-ipv4", Ipv4("10.0.0.1", "10.9.0.1")), ("transport-ipv6", Ipv6()), ("transport-keepalive", Array.Empty<byte>()) })
        {
            yield return ("datagram", name, Transport(packet, 0));
        }

        yield return ("uapi", "set-full", Encoding.UTF8.GetBytes(
            "private_key=" + PrivateB.ToHex() + "\nlisten_port=51820\nfwmark=0\nreplace_peers=true\npublic_key=" + PublicOf(PrivateA).ToHex()
            + "\npreshared_key=" + new string('0', 64) + "\nendpoint=[::1]:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\nprotocol_version=1\n"));
        yield return ("uapi", "remove", Encoding.UTF8.GetBytes("public_key=" + PublicOf(PrivateA).ToHex() + "\nremove=true\n"));
        yield return ("ippacket", "ipv4", Ipv4("10.1.2.3", "192.168.1.1"));
        yield return ("ippacket", "ipv6", Ipv6());
        yield return ("tunoffload", "tso-ipv4", TsoRead(ipv6: false));
        yield return ("tunoffload", "tso-ipv6", TsoRead(ipv6: true));
    }

    /// <summary>What a TUN with TSO hands over: a virtio header, then a TCP packet of 1,000 payload bytes to cut by 300.</summary>
    private static byte[] TsoRead(bool ipv6)
    {
        var ip = ipv6 ? 40 : 20;
        var data = new byte[Tun.TunOffload.HeaderSize + ip + 20 + 1000];
        new Tun.TunOffload.VirtioHeader
        {
            Flags = Tun.TunOffload.NeedsChecksum,
            GsoType = ipv6 ? Tun.TunOffload.GsoTcpV6 : Tun.TunOffload.GsoTcpV4,
            HeaderLength = (ushort)(ip + 20),
            GsoSize = 300,
            ChecksumStart = (ushort)ip,
            ChecksumOffset = 16,
        }.Write(data);
        var packet = data.AsSpan(Tun.TunOffload.HeaderSize);
        if (ipv6)
        {
            packet[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(packet[4..], (ushort)(packet.Length - 40));
            packet[6] = 6;
            packet[7] = 64;
        }
        else
        {
            packet[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(packet[2..], (ushort)packet.Length);
            packet[8] = 64;
            packet[9] = 6;
        }
        packet[ip + 12] = 5 << 4;
        packet[ip + 13] = 0x18; // ACK, PSH
        return data;
    }

    private static byte[] Transport(byte[] packet, ulong counter)
    {
        var padded = (packet.Length + 15) & ~15;
        var message = new byte[Protocol.TransportOverhead + padded];
        message[0] = Protocol.TypeTransport;
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(4), SessionIndexAtB);
        BinaryPrimitives.WriteUInt64LittleEndian(message.AsSpan(8), counter);
        packet.CopyTo(message, Protocol.TransportHeaderSize);
        Span<byte> nonce = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], counter);
        using var aead = new System.Security.Cryptography.ChaCha20Poly1305(SessionKeyAToB);
        var body = message.AsSpan(Protocol.TransportHeaderSize, padded);
        aead.Encrypt(nonce, body, body, message.AsSpan(Protocol.TransportHeaderSize + padded, Protocol.TagSize));
        return message;
    }

    private static byte[] Ipv4(string source, string destination)
    {
        var packet = new byte[28];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = 64;
        packet[9] = 17;
        IPAddress.Parse(source).TryWriteBytes(packet.AsSpan(12), out _);
        IPAddress.Parse(destination).TryWriteBytes(packet.AsSpan(16), out _);
        return packet;
    }

    private static byte[] Ipv6()
    {
        var packet = new byte[48];
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), 8);
        packet[6] = 17;
        IPAddress.Parse("fd00::1").TryWriteBytes(packet.AsSpan(8), out _);
        IPAddress.Parse("fd00::2").TryWriteBytes(packet.AsSpan(24), out _);
        return packet;
    }

    private sealed class NullPacketInterface : IPacketInterface
    {
        public string Name => "fuzz0";

        public int Mtu => 1420;

        public int BatchSize => 1;

        public int Read(byte[][] buffers, int[] sizes, int offset) => throw new ObjectDisposedException(nameof(NullPacketInterface));

        public void Write(byte[][] buffers, int[] sizes, int offset, int count)
        {
        }

        public void Dispose()
        {
        }
    }
}
