using System.Buffers.Binary;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Netstack.Ip;
using Pangolin.Packets;

namespace Pangolin.Netstack.Tests.Ip;

public sealed class FragmentReassemblerTests
{
    private static readonly byte[] SourceV4 = [10, 0, 0, 1];
    private static readonly byte[] DestinationV4 = [10, 0, 0, 2];
    private static readonly byte[] SourceV6 = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    private static readonly byte[] DestinationV6 = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    private readonly FakeTimeProvider _time = new();

    // ---- IPv4 ----

    [Fact]
    public void Ipv4_fragments_in_order_give_back_the_unfragmented_datagram()
    {
        var data = Data(3000);
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, FragmentsV4(data, 1480, id: 7));

        AssertPacket(DatagramV4(data, id: 7), result);
        Assert.Equal(1, reassembler.Reassembled);
        Assert.Equal(0, reassembler.PendingCount);
        Assert.Equal(0, reassembler.MemoryInUse);
    }

    [Fact]
    public void Ipv4_fragments_out_of_order_give_back_the_unfragmented_datagram()
    {
        var data = Data(5000);
        var fragments = FragmentsV4(data, 1000, id: 9);
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, [fragments[2], fragments[0], fragments[4], fragments[1], fragments[3]]);

        AssertPacket(DatagramV4(data, id: 9), result);
    }

    [Fact]
    public void Ipv4_fragments_in_reverse_order_give_back_the_unfragmented_datagram()
    {
        var data = Data(4001);
        var fragments = FragmentsV4(data, 512, id: 11);
        fragments.Reverse();
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, fragments);

        AssertPacket(DatagramV4(data, id: 11), result);
    }

    [Fact]
    public void The_reassembled_ipv4_datagram_is_not_a_fragment_and_has_a_valid_header_checksum()
    {
        var data = Data(100);
        var reassembler = new FragmentReassembler(_time);

        using var result = AddAll(reassembler, FragmentsV4(data, 64, id: 1, dontFragment: true));

        Assert.True(IpPacket.TryParse(result.Packet, out var packet));
        Assert.False(packet.IsFragment);
        Assert.Equal(120, BinaryPrimitives.ReadUInt16BigEndian(result.Packet[2..]));
        Assert.Equal(0x4000, BinaryPrimitives.ReadUInt16BigEndian(result.Packet[6..])); // DF kept, MF and offset cleared
        Assert.True(packet.Payload.SequenceEqual(data));
    }

    [Fact]
    public void The_first_ipv4_fragments_header_and_options_head_the_datagram_even_when_later_ones_differ()
    {
        var data = Data(200);
        byte[] options = [0x94, 0x04, 0, 0]; // Router Alert (RFC 2113), copied on fragmentation
        var first = FragmentV4(data.AsSpan(0, 96), id: 3, offset: 0, more: true, options: options, ttl: 5);
        var second = FragmentV4(data.AsSpan(96), id: 3, offset: 96, more: false, ttl: 9);
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, [second, first]);

        AssertPacket(DatagramV4(data, id: 3, options: options, ttl: 5), result);
    }

    [Fact]
    public void Duplicated_ipv4_fragments_are_ignored_and_the_datagram_still_completes()
    {
        var data = Data(3000);
        var fragments = FragmentsV4(data, 1000, id: 5);
        var reassembler = new FragmentReassembler(_time);

        Assert.False(reassembler.TryAdd(fragments[0], out _));
        Assert.False(reassembler.TryAdd(fragments[0], out _));
        Assert.False(reassembler.TryAdd(fragments[2], out _));
        Assert.False(reassembler.TryAdd(fragments[2], out _));
        Assert.False(reassembler.TryAdd(fragments[0], out _));
        Assert.True(reassembler.TryAdd(fragments[1], out var result));

        AssertPacket(DatagramV4(data, id: 5), result);
        Assert.Equal(0, reassembler.Dropped);
        Assert.Equal(1, reassembler.Reassembled);
    }

    [Fact]
    public void A_duplicate_after_completion_opens_a_new_datagram_that_never_completes_alone()
    {
        var data = Data(100);
        var fragments = FragmentsV4(data, 64, id: 5);
        var reassembler = new FragmentReassembler(_time);
        AddAll(reassembler, fragments).Dispose();

        Assert.False(reassembler.TryAdd(fragments[0], out var late));

        Assert.Null(late);
        Assert.Equal(1, reassembler.PendingCount);
    }

    [Fact]
    public void A_tiny_last_fragment_completes_the_datagram()
    {
        var data = Data(1481);
        var fragments = FragmentsV4(data, 1480, id: 2);
        Assert.Equal(2, fragments.Count);
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, [fragments[1], fragments[0]]);

        AssertPacket(DatagramV4(data, id: 2), result);
    }

    [Fact]
    public void A_partially_overlapping_ipv4_fragment_discards_the_whole_datagram()
    {
        var data = Data(48);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(0, 16), id: 4, offset: 0, more: true), out _));
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(32, 16), id: 4, offset: 32, more: false), out _));

        // Same bytes as the original, but straddling received and missing data: not a duplicate.
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(8, 16), id: 4, offset: 8, more: true), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
        // The missing piece now opens a new datagram instead of completing the discarded one.
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(16, 16), id: 4, offset: 16, more: true), out var result));
        Assert.Null(result);
    }

    [Fact]
    public void An_ipv4_fragment_covering_received_data_with_different_bytes_discards_the_datagram()
    {
        var data = Data(48);
        var forged = Data(16, seed: 99);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(0, 16), id: 4, offset: 0, more: true), out _));

        Assert.False(reassembler.TryAdd(FragmentV4(forged, id: 4, offset: 0, more: true), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void A_fragment_inside_a_run_of_received_fragments_with_the_same_bytes_is_a_duplicate()
    {
        var data = Data(48);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(0, 16), id: 4, offset: 0, more: true), out _));
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(16, 16), id: 4, offset: 16, more: true), out _));

        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(8, 16), id: 4, offset: 8, more: true), out _));
        Assert.True(reassembler.TryAdd(FragmentV4(data.AsSpan(32, 16), id: 4, offset: 32, more: false), out var result));

        AssertPacket(DatagramV4(data, id: 4), result);
        Assert.Equal(0, reassembler.Dropped);
    }

    [Fact]
    public void Two_last_fragments_with_different_ends_discard_the_datagram()
    {
        var data = Data(64);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(32, 32), id: 6, offset: 32, more: false), out _));

        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(32, 24), id: 6, offset: 32, more: false), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void A_last_fragment_that_ends_before_received_data_discards_the_datagram()
    {
        var data = Data(64);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(32, 32), id: 6, offset: 32, more: true), out _));

        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(16, 8), id: 6, offset: 16, more: false), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void A_fragment_past_the_last_fragments_end_discards_the_datagram()
    {
        var data = Data(64);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(16, 24), id: 6, offset: 16, more: false), out _));

        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(40, 8), id: 6, offset: 40, more: true), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void A_non_last_fragment_not_a_multiple_of_8_long_is_refused_and_the_datagram_kept()
    {
        var data = Data(40);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(16), id: 8, offset: 16, more: false), out _));

        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(0, 12), id: 8, offset: 0, more: true), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(1, reassembler.PendingCount);
        Assert.True(reassembler.TryAdd(FragmentV4(data.AsSpan(0, 16), id: 8, offset: 0, more: true), out var result));
        AssertPacket(DatagramV4(data, id: 8), result);
    }

    [Fact]
    public void An_empty_fragment_is_refused()
    {
        var reassembler = new FragmentReassembler(_time);

        Assert.False(reassembler.TryAdd(FragmentV4([], id: 8, offset: 16, more: true), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void A_packet_that_is_not_a_fragment_or_not_valid_is_refused()
    {
        var reassembler = new FragmentReassembler(_time);
        var whole = DatagramV4(Data(40), id: 1);
        var corrupt = FragmentV4(Data(16), id: 1, offset: 0, more: true);
        corrupt[10] ^= 1; // header checksum

        Assert.False(reassembler.TryAdd(whole, out _));
        Assert.False(reassembler.TryAdd(corrupt, out _));

        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void A_65535_byte_ipv4_datagram_is_reassembled()
    {
        var data = Data(65535 - 20);
        var fragments = FragmentsV4(data, 1480, id: 12);
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, fragments);

        Assert.Equal(65535, result.Packet.Length);
        AssertPacket(DatagramV4(data, id: 12), result);
    }

    [Fact]
    public void An_ipv4_fragment_ending_past_65535_is_refused()
    {
        var reassembler = new FragmentReassembler(_time);

        // 20 + 65512 + 8 = 65540.
        Assert.False(reassembler.TryAdd(FragmentV4(Data(8), id: 13, offset: 65512, more: false), out _));
        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);

        // 20 + 65512 + 3 = 65535 exactly is fine.
        Assert.False(reassembler.TryAdd(FragmentV4(Data(3), id: 13, offset: 65512, more: false), out _));
        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(1, reassembler.PendingCount);
    }

    [Fact]
    public void A_first_fragment_whose_longer_header_pushes_the_datagram_past_65535_discards_it()
    {
        var data = Data(65515);
        byte[] options = [0x94, 0x04, 0, 0];
        var reassembler = new FragmentReassembler(_time);
        // Later fragments carry a 20-byte header and fit; the first one's 24-byte header makes 65539.
        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(1480), id: 14, offset: 1480, more: false), out _));

        Assert.False(reassembler.TryAdd(FragmentV4(data.AsSpan(0, 1480), id: 14, offset: 0, more: true, options: options), out var result));

        Assert.Null(result);
        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void Interleaved_unrelated_datagrams_are_kept_apart()
    {
        var a = Data(3000, seed: 1);
        var b = Data(3000, seed: 2);
        var c = Data(3000, seed: 3);
        var d = Data(3000, seed: 4);
        var fa = FragmentsV4(a, 1000, id: 20);
        var fb = FragmentsV4(b, 1000, id: 21);
        var fc = FragmentsV4(c, 1000, id: 20, protocol: IpProtocol.Tcp); // same id, other protocol
        var fd = FragmentsV4(d, 1000, id: 20, source: [10, 0, 0, 9]); // same id, other source
        var reassembler = new FragmentReassembler(_time);
        var results = new List<ReassembledPacket>();
        for (var i = 0; i < 3; i++)
        {
            foreach (var fragments in new[] { fa, fb, fc, fd })
            {
                if (reassembler.TryAdd(fragments[2 - i], out var done))
                {
                    results.Add(done!);
                }
            }
        }

        Assert.Equal(4, results.Count);
        AssertPacket(DatagramV4(a, id: 20), results[0]);
        AssertPacket(DatagramV4(b, id: 21), results[1]);
        AssertPacket(DatagramV4(c, id: 20, protocol: IpProtocol.Tcp), results[2]);
        AssertPacket(DatagramV4(d, id: 20, source: [10, 0, 0, 9]), results[3]);
    }

    // ---- IPv6 ----

    [Fact]
    public void Ipv6_fragments_after_a_hop_by_hop_header_give_back_the_datagram_without_the_fragment_header()
    {
        var data = Data(3000);
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, FragmentsV6(data, 1232, id: 0x12345678, hopByHop: true));

        AssertPacket(DatagramV6(data, hopByHop: true), result);
    }

    [Fact]
    public void Ipv6_fragments_out_of_order_give_back_the_datagram()
    {
        var data = Data(5003);
        var fragments = FragmentsV6(data, 1000, id: 77);
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, [fragments[4], fragments[1], fragments[3], fragments[0], fragments[2], fragments[5]]);

        Assert.True(IpPacket.TryParse(result.Packet, out var packet));
        Assert.False(packet.IsFragment);
        Assert.Equal(IpProtocol.Udp, packet.Protocol);
        AssertPacket(DatagramV6(data), result);
    }

    [Fact]
    public void Ipv6_fragments_in_reverse_order_give_back_the_datagram()
    {
        var data = Data(2000);
        var fragments = FragmentsV6(data, 256, id: 78, hopByHop: true);
        fragments.Reverse();
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, fragments);

        AssertPacket(DatagramV6(data, hopByHop: true), result);
    }

    [Fact]
    public void The_ipv6_unfragmentable_part_comes_from_the_first_fragment_even_if_it_arrives_last_with_more_headers()
    {
        var data = Data(96);
        var reassembler = new FragmentReassembler(_time);
        // The later fragment opened the datagram with a shorter header chain; the first one's must still fit before the data.
        Assert.False(reassembler.TryAdd(FragmentV6(data.AsSpan(48), id: 5, offset: 48, more: false), out _));

        Assert.True(reassembler.TryAdd(FragmentV6(data.AsSpan(0, 48), id: 5, offset: 0, more: true, hopByHop: true), out var result));

        AssertPacket(DatagramV6(data, hopByHop: true), result);
    }

    [Fact]
    public void Duplicated_ipv6_fragments_are_ignored()
    {
        var data = Data(2500);
        var fragments = FragmentsV6(data, 1000, id: 79);
        var reassembler = new FragmentReassembler(_time);

        Assert.False(reassembler.TryAdd(fragments[1], out _));
        Assert.False(reassembler.TryAdd(fragments[1], out _));
        Assert.False(reassembler.TryAdd(fragments[2], out _));
        Assert.False(reassembler.TryAdd(fragments[2], out _));
        Assert.True(reassembler.TryAdd(fragments[0], out var result));

        AssertPacket(DatagramV6(data), result);
        Assert.Equal(0, reassembler.Dropped);
    }

    [Fact]
    public void An_overlapping_ipv6_fragment_discards_the_whole_datagram()
    {
        var data = Data(48);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV6(data.AsSpan(0, 24), id: 80, offset: 0, more: true), out _));
        Assert.False(reassembler.TryAdd(FragmentV6(data.AsSpan(32, 16), id: 80, offset: 32, more: false), out _));

        Assert.False(reassembler.TryAdd(FragmentV6(data.AsSpan(16, 16), id: 80, offset: 16, more: true), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
        Assert.False(reassembler.TryAdd(FragmentV6(data.AsSpan(24, 8), id: 80, offset: 24, more: true), out var result));
        Assert.Null(result);
    }

    [Fact]
    public void An_ipv6_atomic_fragment_is_returned_at_once_and_leaves_a_pending_datagram_with_its_id_alone()
    {
        var data = Data(64);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV6(data.AsSpan(0, 32), id: 81, offset: 0, more: true), out _));

        Assert.True(reassembler.TryAdd(FragmentV6(Data(20, seed: 5), id: 81, offset: 0, more: false, hopByHop: true), out var atomic));
        AssertPacket(DatagramV6(Data(20, seed: 5), hopByHop: true), atomic);

        Assert.Equal(1, reassembler.PendingCount);
        Assert.True(reassembler.TryAdd(FragmentV6(data.AsSpan(32), id: 81, offset: 32, more: false), out var result));
        AssertPacket(DatagramV6(data), result);
    }

    [Fact]
    public void A_65535_byte_ipv6_payload_is_reassembled()
    {
        var data = Data(65535 - 8); // after an 8-byte hop-by-hop header
        var reassembler = new FragmentReassembler(_time);

        var result = AddAll(reassembler, FragmentsV6(data, 1232, id: 82, hopByHop: true));

        Assert.Equal(65535, BinaryPrimitives.ReadUInt16BigEndian(result.Packet[4..]));
        AssertPacket(DatagramV6(data, hopByHop: true), result);
    }

    [Fact]
    public void An_ipv6_fragment_making_the_payload_longer_than_65535_is_refused()
    {
        var reassembler = new FragmentReassembler(_time);

        // 8 (hop-by-hop) + 65528 + 8 = 65544.
        Assert.False(reassembler.TryAdd(FragmentV6(Data(8), id: 83, offset: 65528, more: false, hopByHop: true), out _));
        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);

        // 65528 + 7 = 65535 without it is fine.
        Assert.False(reassembler.TryAdd(FragmentV6(Data(7), id: 83, offset: 65528, more: false), out _));
        Assert.Equal(1, reassembler.PendingCount);
    }

    [Fact]
    public void Ipv6_last_fragments_with_different_ends_discard_the_datagram()
    {
        var data = Data(64);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(FragmentV6(data.AsSpan(16, 16), id: 84, offset: 16, more: false), out _));

        // No overlap and no data past it: only the second total conflicts with the first.
        Assert.False(reassembler.TryAdd(FragmentV6(data.AsSpan(32), id: 84, offset: 32, more: false), out _));

        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.PendingCount);
    }

    [Fact]
    public void Ipv4_and_ipv6_datagrams_are_kept_apart()
    {
        var v4 = Data(100, seed: 1);
        var v6 = Data(100, seed: 2);
        var f4 = FragmentsV4(v4, 64, id: 1);
        var f6 = FragmentsV6(v6, 64, id: 1);
        var reassembler = new FragmentReassembler(_time);

        Assert.False(reassembler.TryAdd(f4[0], out _));
        Assert.False(reassembler.TryAdd(f6[0], out _));
        Assert.True(reassembler.TryAdd(f6[1], out var r6));
        Assert.True(reassembler.TryAdd(f4[1], out var r4));

        AssertPacket(DatagramV4(v4, id: 1), r4);
        AssertPacket(DatagramV6(v6), r6);
    }

    // ---- Time ----

    [Fact]
    public void A_datagram_expires_60_seconds_after_its_first_fragment_arrived()
    {
        var fragments = FragmentsV4(Data(3000), 1000, id: 30);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(fragments[0], out _));
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.False(reassembler.TryAdd(fragments[1], out _));

        _time.Advance(TimeSpan.FromSeconds(30) - TimeSpan.FromTicks(1));
        reassembler.Expire();
        Assert.Equal(1, reassembler.PendingCount);

        _time.Advance(TimeSpan.FromTicks(1));
        reassembler.Expire();
        Assert.Equal(0, reassembler.PendingCount);
        Assert.Equal(1, reassembler.TimedOut);
        Assert.Equal(0, reassembler.Dropped);
        Assert.Equal(0, reassembler.MemoryInUse);
    }

    [Fact]
    public void Expiry_is_also_checked_when_a_fragment_arrives()
    {
        var data = Data(3000);
        var fragments = FragmentsV4(data, 1000, id: 31);
        var reassembler = new FragmentReassembler(_time);
        Assert.False(reassembler.TryAdd(fragments[0], out _));
        Assert.False(reassembler.TryAdd(fragments[1], out _));
        _time.Advance(TimeSpan.FromSeconds(60));

        Assert.False(reassembler.TryAdd(fragments[2], out var result));

        Assert.Null(result);
        Assert.Equal(1, reassembler.TimedOut);
        Assert.Equal(1, reassembler.PendingCount); // the late fragment starts over
    }

    [Fact]
    public void The_timeout_is_configurable()
    {
        var fragments = FragmentsV4(Data(3000), 1000, id: 32);
        var reassembler = new FragmentReassembler(_time, new FragmentReassemblerOptions { Timeout = TimeSpan.FromSeconds(15) });
        Assert.False(reassembler.TryAdd(fragments[0], out _));

        _time.Advance(TimeSpan.FromSeconds(15));
        reassembler.Expire();

        Assert.Equal(1, reassembler.TimedOut);
    }

    [Fact]
    public void A_timed_out_datagram_reports_its_first_fragment_as_received_for_icmp()
    {
        var fragments = FragmentsV4(Data(3000), 1000, id: 33, options: [0x94, 0x04, 0, 0]);
        var reported = new List<byte[]>();
        var reassembler = new FragmentReassembler(_time, new FragmentReassemblerOptions { OnTimeExceeded = p => reported.Add(p.ToArray()) });
        Assert.False(reassembler.TryAdd(fragments[2], out _));
        Assert.False(reassembler.TryAdd(fragments[0], out _));

        _time.Advance(TimeSpan.FromSeconds(60));
        reassembler.Expire();

        Assert.Equal(fragments[0], Assert.Single(reported));
    }

    [Fact]
    public void A_timed_out_ipv6_datagram_reports_its_first_fragment_with_the_fragment_header()
    {
        var fragments = FragmentsV6(Data(3000), 1000, id: 34, hopByHop: true);
        var reported = new List<byte[]>();
        var reassembler = new FragmentReassembler(_time, new FragmentReassemblerOptions { OnTimeExceeded = p => reported.Add(p.ToArray()) });
        Assert.False(reassembler.TryAdd(fragments[0], out _));
        Assert.False(reassembler.TryAdd(fragments[1], out _));

        _time.Advance(TimeSpan.FromSeconds(61));
        reassembler.Expire();

        Assert.Equal(fragments[0], Assert.Single(reported));
    }

    [Fact]
    public void A_timed_out_datagram_without_its_first_fragment_reports_nothing()
    {
        var fragments = FragmentsV4(Data(3000), 1000, id: 35);
        var reported = 0;
        var reassembler = new FragmentReassembler(_time, new FragmentReassemblerOptions { OnTimeExceeded = _ => reported++ });
        Assert.False(reassembler.TryAdd(fragments[1], out _));
        Assert.False(reassembler.TryAdd(fragments[2], out _));

        _time.Advance(TimeSpan.FromSeconds(60));
        reassembler.Expire();

        Assert.Equal(0, reported);
        Assert.Equal(1, reassembler.TimedOut);
    }

    // ---- Limits ----

    [Fact]
    public void Going_over_the_memory_limit_evicts_the_oldest_datagram()
    {
        // Each datagram below holds a 4096-byte buffer (60 + 2000 rounded up by the pool) and a 1 KiB block map.
        var reassembler = new FragmentReassembler(_time, new FragmentReassemblerOptions { MemoryLimit = 11_000 });
        var datagrams = Enumerable.Range(0, 3).Select(i => FragmentsV4(Data(2000, seed: i), 1000, id: (ushort)(40 + i))).ToList();
        Assert.False(reassembler.TryAdd(datagrams[0][1], out _));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(reassembler.TryAdd(datagrams[1][1], out _));
        Assert.Equal(2 * 5120, reassembler.MemoryInUse);

        Assert.False(reassembler.TryAdd(datagrams[2][1], out _));

        Assert.Equal(2, reassembler.PendingCount);
        Assert.Equal(1, reassembler.Dropped);
        Assert.False(reassembler.TryAdd(datagrams[0][0], out _)); // the oldest is gone: this opens it anew...
        Assert.Equal(2, reassembler.Dropped); // ...and evicts the next oldest
        Assert.True(reassembler.TryAdd(datagrams[2][0], out var result));
        AssertPacket(DatagramV4(Data(2000, seed: 2), id: 42), result);
    }

    [Fact]
    public void A_datagram_that_cannot_fit_the_memory_limit_alone_is_dropped()
    {
        var reassembler = new FragmentReassembler(_time, new FragmentReassemblerOptions { MemoryLimit = 8_000 });

        Assert.False(reassembler.TryAdd(FragmentV4(Data(8), id: 1, offset: 10_000, more: false), out _));

        Assert.Equal(0, reassembler.PendingCount);
        Assert.Equal(1, reassembler.Dropped);
        Assert.Equal(0, reassembler.MemoryInUse);
    }

    [Fact]
    public void Going_over_the_pending_count_evicts_the_oldest_datagram()
    {
        var reassembler = new FragmentReassembler(_time, new FragmentReassemblerOptions { MaxPendingDatagrams = 2 });
        var datagrams = Enumerable.Range(0, 3).Select(i => FragmentsV4(Data(200, seed: i), 128, id: (ushort)(50 + i))).ToList();
        Assert.False(reassembler.TryAdd(datagrams[0][0], out _));
        Assert.False(reassembler.TryAdd(datagrams[1][0], out _));

        Assert.False(reassembler.TryAdd(datagrams[2][0], out _));

        Assert.Equal(2, reassembler.PendingCount);
        Assert.Equal(1, reassembler.Dropped);
        Assert.True(reassembler.TryAdd(datagrams[1][1], out var second));
        AssertPacket(DatagramV4(Data(200, seed: 1), id: 51), second);
        Assert.True(reassembler.TryAdd(datagrams[2][1], out var third));
        AssertPacket(DatagramV4(Data(200, seed: 2), id: 52), third);
        Assert.False(reassembler.TryAdd(datagrams[0][1], out _));
    }

    [Fact]
    public void The_defaults_are_60_seconds_4_MiB_64_datagrams_and_65535_bytes()
    {
        var options = new FragmentReassemblerOptions();

        Assert.Equal(TimeSpan.FromSeconds(60), options.Timeout);
        Assert.Equal(4 * 1024 * 1024, options.MemoryLimit);
        Assert.Equal(64, options.MaxPendingDatagrams);
        Assert.Equal(65535, options.MaxDatagramLength);
    }

    [Fact]
    public void Options_out_of_range_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FragmentReassembler(_time, new FragmentReassemblerOptions { Timeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FragmentReassembler(_time, new FragmentReassemblerOptions { MaxPendingDatagrams = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FragmentReassembler(_time, new FragmentReassemblerOptions { MaxDatagramLength = 65536 }));
    }

    // ---- Buffers ----

    [Fact]
    public void A_disposed_packet_no_longer_exposes_its_buffer()
    {
        var reassembler = new FragmentReassembler(_time);
        var result = AddAll(reassembler, FragmentsV4(Data(100), 64, id: 1));

        result.Dispose();
        result.Dispose();

        Assert.Throws<ObjectDisposedException>(() => result.Packet.Length);
    }

    [Fact]
    public void Steady_state_reassembly_allocates_only_the_result_object()
    {
        var fragments = FragmentsV4(Data(4000), 1480, id: 60);
        var reassembler = new FragmentReassembler(_time);
        for (var i = 0; i < 10; i++)
        {
            AddAll(reassembler, fragments).Dispose();
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            foreach (var fragment in fragments)
            {
                if (reassembler.TryAdd(fragment, out var result))
                {
                    result!.Dispose();
                }
            }
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(110, reassembler.Reassembled);
        Assert.True(allocated <= 100 * 48, $"{allocated} bytes for 100 datagrams");
    }

    // ---- Builders ----

    private static ReassembledPacket AddAll(FragmentReassembler reassembler, List<byte[]> fragments)
    {
        for (var i = 0; i < fragments.Count; i++)
        {
            var done = reassembler.TryAdd(fragments[i], out var result);
            Assert.True(done == (i == fragments.Count - 1), $"fragment {i} of {fragments.Count}: TryAdd returned {done}");
            Assert.Equal(done, result is not null);
            if (done)
            {
                return result!;
            }
        }
        throw new InvalidOperationException("no fragments");
    }

    private static void AssertPacket(byte[] expected, ReassembledPacket? actual)
    {
        Assert.NotNull(actual);
        using (actual)
        {
            Assert.Equal(expected.Length, actual.Packet.Length);
            Assert.True(expected.AsSpan().SequenceEqual(actual.Packet), "reassembled packet differs from the unfragmented one");
        }
    }

    private static byte[] Data(int length, int seed = 0)
    {
        var data = new byte[length];
        new Random(seed + 1).NextBytes(data);
        return data;
    }

    private static List<byte[]> FragmentsV4(
        byte[] data, int size, ushort id, byte protocol = IpProtocol.Udp, byte[]? source = null, byte[]? options = null,
        bool dontFragment = false)
    {
        var fragments = new List<byte[]>();
        for (var offset = 0; offset < data.Length; offset += size)
        {
            var length = Math.Min(size, data.Length - offset);
            fragments.Add(FragmentV4(
                data.AsSpan(offset, length), id, offset, more: offset + length < data.Length, protocol, source,
                offset == 0 ? options : null, dontFragment: dontFragment));
        }
        return fragments;
    }

    private static byte[] DatagramV4(byte[] data, ushort id, byte protocol = IpProtocol.Udp, byte[]? source = null, byte[]? options = null, byte ttl = 64) =>
        FragmentV4(data, id, 0, more: false, protocol, source, options, ttl);

    private static byte[] FragmentV4(
        ReadOnlySpan<byte> data, ushort id, int offset, bool more, byte protocol = IpProtocol.Udp, byte[]? source = null,
        byte[]? options = null, byte ttl = 64, bool dontFragment = false)
    {
        var headerLength = 20 + (options?.Length ?? 0);
        var packet = new byte[headerLength + data.Length];
        packet[0] = (byte)(0x40 | (headerLength / 4));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(6), (ushort)((dontFragment ? 0x4000 : 0) | (more ? 0x2000 : 0) | (offset / 8)));
        packet[8] = ttl;
        packet[9] = protocol;
        (source ?? SourceV4).CopyTo(packet, 12);
        DestinationV4.CopyTo(packet, 16);
        options?.CopyTo(packet, 20);
        InternetChecksum.Write(packet.AsSpan(10, 2), InternetChecksum.Add(packet.AsSpan(0, headerLength)));
        data.CopyTo(packet.AsSpan(headerLength));
        return packet;
    }

    private static List<byte[]> FragmentsV6(byte[] data, int size, uint id, bool hopByHop = false)
    {
        var fragments = new List<byte[]>();
        for (var offset = 0; offset < data.Length; offset += size)
        {
            var length = Math.Min(size, data.Length - offset);
            fragments.Add(FragmentV6(data.AsSpan(offset, length), id, offset, more: offset + length < data.Length, hopByHop));
        }
        return fragments;
    }

    private static byte[] DatagramV6(byte[] data, bool hopByHop = false)
    {
        var extension = hopByHop ? 8 : 0;
        var packet = new byte[40 + extension + data.Length];
        WriteV6Header(packet, packet.Length - 40, hopByHop ? IpProtocol.HopByHop : IpProtocol.Udp);
        if (hopByHop)
        {
            WriteHopByHop(packet.AsSpan(40), IpProtocol.Udp);
        }
        data.CopyTo(packet, 40 + extension);
        return packet;
    }

    private static byte[] FragmentV6(ReadOnlySpan<byte> data, uint id, int offset, bool more, bool hopByHop = false)
    {
        var extension = hopByHop ? 8 : 0;
        var packet = new byte[40 + extension + 8 + data.Length];
        WriteV6Header(packet, packet.Length - 40, hopByHop ? IpProtocol.HopByHop : IpProtocol.Fragment);
        if (hopByHop)
        {
            WriteHopByHop(packet.AsSpan(40), IpProtocol.Fragment);
        }
        var fragment = packet.AsSpan(40 + extension);
        fragment[0] = IpProtocol.Udp;
        BinaryPrimitives.WriteUInt16BigEndian(fragment[2..], (ushort)(offset | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(fragment[4..], id);
        data.CopyTo(fragment[8..]);
        return packet;
    }

    private static void WriteV6Header(Span<byte> packet, int payloadLength, byte nextHeader)
    {
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet[4..], (ushort)payloadLength);
        packet[6] = nextHeader;
        packet[7] = 64;
        SourceV6.CopyTo(packet[8..]);
        DestinationV6.CopyTo(packet[24..]);
    }

    private static void WriteHopByHop(Span<byte> header, byte nextHeader)
    {
        // Next Header, length 0 (8 bytes), and a PadN option filling the rest (RFC 8200 §4.2).
        header[0] = nextHeader;
        header[1] = 0;
        header[2] = 1;
        header[3] = 4;
        header[4..8].Clear();
    }
}
