using System.Buffers.Binary;
using System.Net;
using Pangolin.WireGuard.Tests.Infrastructure;
using Pangolin.WireGuard.Tun;

namespace Pangolin.WireGuard.Tests.Tun;

/// <summary>Cutting the kernel's TCP super-packets into segments, and gluing segments back, as TSO and GRO do.</summary>
public sealed class TunOffloadTests
{
    private const int Offset = 16;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_super_packet_is_cut_into_segments_with_the_headers_a_kernel_would_give_them(bool ipv6)
    {
        var payload = RandomBytes(5000, 1);
        var super = Tcp(ipv6, sequence: 1_000_000, payload, TunOffload.TcpAck | TunOffload.TcpPsh | TunOffload.TcpCwr, id: 0x1234, validChecksum: false);
        var segments = Segment(super, ipv6 ? TunOffload.GsoTcpV6 : TunOffload.GsoTcpV4, gsoSize: 1368, transportOffset: ipv6 ? 40 : 20);

        Assert.Equal([1368, 1368, 1368, 896], segments.Select(s => s.Length - HeaderLength(ipv6)));
        var joined = new List<byte>();
        for (var i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            var tcp = segment.AsSpan(ipv6 ? 40 : 20);
            Assert.Equal(1_000_000u + (uint)(i * 1368), BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
            var flags = tcp[13];
            Assert.Equal(i == segments.Count - 1, (flags & TunOffload.TcpPsh) != 0);
            Assert.Equal(i == 0, (flags & TunOffload.TcpCwr) != 0);
            Assert.True((flags & TunOffload.TcpAck) != 0);
            Assert.True(TcpChecksumIsValid(segment, ipv6), $"segment {i} has a valid TCP checksum");
            if (ipv6)
            {
                Assert.Equal(segment.Length - 40, BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(4)));
            }
            else
            {
                Assert.Equal(segment.Length, BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(2)));
                Assert.Equal(0x1234 + i, BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(4)));
                Assert.Equal(0, TestPackets.Checksum(segment.AsSpan(0, 20))); // a header with a valid checksum sums to all ones
            }
            joined.AddRange(tcp[32..].ToArray());
        }
        Assert.Equal(payload, joined.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_userspace_stacks_super_packet_queued_by_reference_is_read_as_segments_across_reads(bool ipv6)
    {
        var payload = RandomBytes(5000, 3);
        var super = Tcp(ipv6, sequence: 4_000_000_000, payload, TunOffload.TcpAck | TunOffload.TcpPsh, id: 0xFFFE, validChecksum: false);
        using var memory = new Pangolin.WireGuard.Device.MemoryPacketInterface(capacity: 64);
        var pooled = System.Buffers.ArrayPool<byte>.Shared.Rent(super.Length);
        super.CopyTo(pooled, 0);
        Assert.True(memory.TryEnqueueSegmented(pooled, super.Length, 1368));
        Assert.Equal(3, memory.PendingForDevice); // counted by its full segments

        // Two buffers a read: the super-packet spans two reads, then the queue is empty.
        var segments = new List<byte[]>();
        for (var read = 0; read < 2; read++)
        {
            var buffers = new[] { new byte[Offset + 1500], new byte[Offset + 1500] };
            var sizes = new int[2];
            var count = memory.Read(buffers, sizes, Offset);
            Assert.Equal(2, count);
            segments.AddRange(buffers.Select((b, i) => b.AsSpan(Offset, sizes[i]).ToArray()));
        }
        Assert.Equal(0, memory.PendingForDevice);

        Assert.Equal([1368, 1368, 1368, 896], segments.Select(s => s.Length - HeaderLength(ipv6)));
        var joined = new List<byte>();
        for (var i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            var tcp = segment.AsSpan(ipv6 ? 40 : 20);
            Assert.Equal(unchecked(4_000_000_000u + (uint)(i * 1368)), BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
            Assert.Equal(i == segments.Count - 1, (tcp[13] & TunOffload.TcpPsh) != 0);
            Assert.True(TcpChecksumIsValid(segment, ipv6), $"segment {i} has a valid TCP checksum");
            if (!ipv6)
            {
                Assert.Equal(segment.Length, BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(2)));
                Assert.Equal((ushort)(0xFFFE + i), BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(4)));
                Assert.Equal(0, TestPackets.Checksum(segment.AsSpan(0, 20)));
            }
            else
            {
                Assert.Equal(segment.Length - 40, BinaryPrimitives.ReadUInt16BigEndian(segment.AsSpan(4)));
            }
            joined.AddRange(tcp[32..].ToArray());
        }
        Assert.Equal(payload, joined.ToArray());
    }

    [Fact]
    public void A_full_queue_refuses_a_super_packet_and_one_that_is_not_TCP_is_dropped_on_read()
    {
        using var memory = new Pangolin.WireGuard.Device.MemoryPacketInterface(capacity: 4);
        var packet = Tcp(false, 1, RandomBytes(100, 4), TunOffload.TcpAck, id: 1, validChecksum: true);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(memory.TryEnqueue(packet));
        }
        var refused = System.Buffers.ArrayPool<byte>.Shared.Rent(3000);
        Assert.False(memory.TryEnqueueSegmented(refused, 3000, 1000));
        var buffers = new[] { new byte[Offset + 1500], new byte[Offset + 1500], new byte[Offset + 1500], new byte[Offset + 1500] };
        var sizes = new int[4];
        Assert.Equal(4, memory.Read(buffers, sizes, Offset));

        // A super-packet counts as its segments (three of the four places); not TCP, it is dropped when read.
        var udp = TestPackets.Ipv4Udp("10.0.0.1", "10.0.0.2", RandomBytes(3000, 5));
        var pooled = System.Buffers.ArrayPool<byte>.Shared.Rent(udp.Length);
        udp.CopyTo(pooled, 0);
        Assert.True(memory.TryEnqueueSegmented(pooled, udp.Length, 1000));
        Assert.Equal(3, memory.PendingForDevice);
        Assert.True(memory.TryEnqueue(packet));
        Assert.False(memory.TryEnqueue(packet));
        Assert.Equal(1, memory.Read(buffers, sizes, Offset));
        Assert.Equal(packet, buffers[0].AsSpan(Offset, sizes[0]).ToArray());
        Assert.Equal(1, memory.DroppedReads);
        Assert.Equal(0, memory.PendingForDevice);
    }

    [Fact]
    public void A_single_packet_with_a_partial_checksum_gets_it_finished()
    {
        var packet = Tcp(false, 7, RandomBytes(333, 2), TunOffload.TcpAck, id: 1, validChecksum: false);
        // The kernel leaves the folded pseudo-header sum in the field (CHECKSUM_PARTIAL).
        var partial = (ushort)~PseudoHeaderChecksum(packet, false);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(36), partial);
        var segments = Segment(packet, TunOffload.GsoNone, gsoSize: 0, transportOffset: 20, flags: TunOffload.NeedsChecksum);
        Assert.Single(segments);
        Assert.True(TcpChecksumIsValid(segments[0], false));
    }

    [Fact]
    public void Nonsense_from_the_kernel_is_refused_without_an_exception()
    {
        var segmenter = new TunOffload.Segmenter();
        var random = new Random(4);
        var buffer = new byte[2000];
        for (var i = 0; i < 20000; i++)
        {
            var length = random.Next(0, 300);
            var data = RandomBytes(length, i);
            if (length >= 12)
            {
                data[1] = (byte)random.Next(0, 6);
                data[10] = (byte)(random.Next(2) == 0 ? 0x45 : 0x60);
            }
            if (segmenter.Begin(data, 0, data.Length))
            {
                while (segmenter.HasNext)
                {
                    segmenter.Next(buffer.AsSpan(Offset));
                }
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Consecutive_segments_glue_into_a_super_packet_that_cuts_back_into_the_same_segments(bool ipv6)
    {
        var original = Flow(ipv6, count: 10, size: 1368, lastSize: 700, pushLast: true);
        var (buffers, sizes) = AtOffset(original);
        var end = TunOffload.FindRun(buffers, sizes, Offset, 0, buffers.Length, out var total, out var push);
        Assert.Equal(10, end);
        Assert.True(push);
        var written = new byte[TunOffload.HeaderSize + TunOffload.MaxPacket];
        var length = TunOffload.Coalesce(buffers, sizes, Offset, 0, end, total, push, written);
        var header = TunOffload.VirtioHeader.Read(written);
        Assert.Equal(ipv6 ? TunOffload.GsoTcpV6 : TunOffload.GsoTcpV4, header.GsoType);
        Assert.Equal(TunOffload.NeedsChecksum, header.Flags);
        Assert.Equal(1368, header.GsoSize);
        Assert.Equal(ipv6 ? 40 : 20, header.ChecksumStart);
        Assert.Equal(16, header.ChecksumOffset);
        Assert.Equal(HeaderLength(ipv6) + 9 * 1368 + 700, length - TunOffload.HeaderSize);

        var again = Segment(written.AsSpan(0, length).ToArray(), header);
        Assert.Equal(original.Length, again.Count);
        for (var i = 0; i < original.Length; i++)
        {
            Assert.Equal(original[i], again[i]);
        }
    }

    [Fact]
    public void A_run_stops_at_a_gap_another_flow_a_bad_checksum_a_flag_a_short_segment_or_64_KiB()
    {
        // A gap in the sequence numbers.
        var flow = Flow(false, 4, 1000, 1000, false);
        BinaryPrimitives.WriteUInt32BigEndian(flow[2].AsSpan(24), 999_999);
        FixTcpChecksum(flow[2], false);
        Assert.Equal(2, Run(flow));

        // Another port.
        flow = Flow(false, 4, 1000, 1000, false);
        BinaryPrimitives.WriteUInt16BigEndian(flow[1].AsSpan(20), 4444);
        FixTcpChecksum(flow[1], false);
        Assert.Equal(1, Run(flow));

        // A corrupted segment is written alone, as it came, for the kernel to drop.
        flow = Flow(false, 4, 1000, 1000, false);
        flow[3][100] ^= 1;
        Assert.Equal(3, Run(flow));
        flow = Flow(false, 4, 1000, 1000, false);
        flow[0][100] ^= 1;
        Assert.Equal(1, Run(flow));

        // SYN, FIN, RST or URG never join; PSH ends a run; a first segment with PSH stays alone.
        foreach (var flag in new[] { TunOffload.TcpSyn, TunOffload.TcpFin, TunOffload.TcpRst, TunOffload.TcpUrg })
        {
            flow = Flow(false, 4, 1000, 1000, false);
            flow[1][33] |= flag;
            FixTcpChecksum(flow[1], false);
            Assert.Equal(1, Run(flow));
        }
        flow = Flow(false, 4, 1000, 1000, false);
        flow[1][33] |= TunOffload.TcpPsh;
        FixTcpChecksum(flow[1], false);
        Assert.Equal(2, Run(flow));
        flow = Flow(false, 4, 1000, 1000, false);
        flow[0][33] |= TunOffload.TcpPsh;
        FixTcpChecksum(flow[0], false);
        Assert.Equal(1, Run(flow));

        // A shorter segment ends the run; a longer one cannot follow.
        flow = Flow(false, 4, 1000, 500, false);
        Assert.Equal(4, Run(flow));
        flow = [.. Flow(false, 2, 1000, 500, false), .. Flow(false, 1, 1000, 1000, false)];
        Assert.Equal(2, Run(flow));

        // No more than 64 KiB in one packet.
        flow = Flow(false, 60, 1400, 1400, false);
        var end = Run(flow);
        Assert.Equal((65535 - 52) / 1400, end);

        // UDP never joins.
        var udp = new[] { TestPackets.Ipv4Udp("10.0.0.1", "10.0.0.2", new byte[100]), TestPackets.Ipv4Udp("10.0.0.1", "10.0.0.2", new byte[100]) };
        Assert.Equal(1, Run(udp));
    }

    private static int Run(byte[][] packets)
    {
        var (buffers, sizes) = AtOffset(packets);
        return TunOffload.FindRun(buffers, sizes, Offset, 0, buffers.Length, out _, out _);
    }

    private static (byte[][] Buffers, int[] Sizes) AtOffset(byte[][] packets)
    {
        var buffers = packets.Select(p =>
        {
            var buffer = new byte[Offset + p.Length + 32];
            p.CopyTo(buffer, Offset);
            return buffer;
        }).ToArray();
        return (buffers, packets.Select(p => p.Length).ToArray());
    }

    private static byte[][] Flow(bool ipv6, int count, int size, int lastSize, bool pushLast)
    {
        var packets = new byte[count][];
        var sequence = 5000u;
        for (var i = 0; i < count; i++)
        {
            var length = i == count - 1 ? lastSize : size;
            var flags = (byte)(TunOffload.TcpAck | (i == count - 1 && pushLast ? TunOffload.TcpPsh : 0));
            packets[i] = Tcp(ipv6, sequence, RandomBytes(length, 100 + i), flags, id: (ushort)(77 + i), validChecksum: true);
            sequence += (uint)length;
        }
        return packets;
    }

    private static List<byte[]> Segment(byte[] packet, byte gsoType, int gsoSize, int transportOffset, byte flags = TunOffload.NeedsChecksum)
    {
        var withHeader = new byte[TunOffload.HeaderSize + packet.Length];
        new TunOffload.VirtioHeader
        {
            Flags = flags,
            GsoType = gsoType,
            HeaderLength = (ushort)(transportOffset + 32),
            GsoSize = (ushort)gsoSize,
            ChecksumStart = (ushort)transportOffset,
            ChecksumOffset = 16,
        }.Write(withHeader);
        packet.CopyTo(withHeader, TunOffload.HeaderSize);
        return Segment(withHeader, TunOffload.VirtioHeader.Read(withHeader));
    }

    private static List<byte[]> Segment(byte[] withHeader, TunOffload.VirtioHeader header)
    {
        _ = header;
        var segmenter = new TunOffload.Segmenter();
        Assert.True(segmenter.Begin(withHeader, 0, withHeader.Length));
        var segments = new List<byte[]>();
        var buffer = new byte[2048];
        while (segmenter.HasNext)
        {
            var length = segmenter.Next(buffer.AsSpan(Offset));
            Assert.True(length > 0);
            segments.Add(buffer.AsSpan(Offset, length).ToArray());
        }
        return segments;
    }

    private static int HeaderLength(bool ipv6) => (ipv6 ? 40 : 20) + 32;

    /// <summary>A TCP segment with a 12-byte timestamp option (32-byte TCP header), as Linux sends them.</summary>
    private static byte[] Tcp(bool ipv6, uint sequence, byte[] payload, byte flags, ushort id, bool validChecksum)
    {
        var ip = ipv6 ? 40 : 20;
        var packet = new byte[ip + 32 + payload.Length];
        if (ipv6)
        {
            packet[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)(packet.Length - 40));
            packet[6] = 6;
            packet[7] = 64;
            IPAddress.Parse("fd00::1").TryWriteBytes(packet.AsSpan(8, 16), out _);
            IPAddress.Parse("fd00::2").TryWriteBytes(packet.AsSpan(24, 16), out _);
        }
        else
        {
            packet[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), id);
            packet[6] = 0x40; // DF
            packet[8] = 64;
            packet[9] = 6;
            IPAddress.Parse("100.89.210.1").TryWriteBytes(packet.AsSpan(12, 4), out _);
            IPAddress.Parse("100.89.210.2").TryWriteBytes(packet.AsSpan(16, 4), out _);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), TestPackets.Checksum(packet.AsSpan(0, 20)));
        }
        var tcp = packet.AsSpan(ip);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 5201);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], 123456);
        tcp[12] = 8 << 4;
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 501);
        tcp[20] = 1;
        tcp[21] = 1;
        tcp[22] = 8;
        tcp[23] = 10;
        BinaryPrimitives.WriteUInt32BigEndian(tcp[24..], 0xAABBCCDD);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[28..], 0x11223344);
        payload.CopyTo(tcp[32..]);
        if (validChecksum)
        {
            FixTcpChecksum(packet, ipv6);
        }
        return packet;
    }

    private static void FixTcpChecksum(byte[] packet, bool ipv6)
    {
        var ip = ipv6 ? 40 : 20;
        packet[ip + 16] = packet[ip + 17] = 0;
        var sum = Fold((uint)(ushort)~PseudoHeaderChecksum(packet, ipv6) + (ushort)~TestPackets.Checksum(packet.AsSpan(ip)));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(ip + 16), (ushort)~sum);
    }

    private static bool TcpChecksumIsValid(byte[] packet, bool ipv6)
    {
        var ip = ipv6 ? 40 : 20;
        var sum = (uint)(ushort)~PseudoHeaderChecksum(packet, ipv6) + (ushort)~TestPackets.Checksum(packet.AsSpan(ip));
        return Fold(sum) == 0xFFFF;
    }

    /// <summary>The complemented checksum of the pseudo-header alone (word-by-word, independent of the code under test).</summary>
    private static ushort PseudoHeaderChecksum(byte[] packet, bool ipv6)
    {
        var ip = ipv6 ? 40 : 20;
        var addresses = ipv6 ? packet.AsSpan(8, 32) : packet.AsSpan(12, 8);
        var pseudo = new byte[addresses.Length + 4];
        addresses.CopyTo(pseudo);
        BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(addresses.Length), 6);
        BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(addresses.Length + 2), (ushort)(packet.Length - ip));
        return TestPackets.Checksum(pseudo);
    }

    private static ushort Fold(uint sum)
    {
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
