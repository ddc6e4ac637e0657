using System.Buffers.Binary;
using Pangolin.Packets;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.WireGuard.Tests.Net;

public sealed class InternetChecksumTests
{
    [Fact]
    public void The_RFC_1071_example_sums_to_ddf2()
    {
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Span<byte> field = stackalloc byte[2];
        InternetChecksum.Write(field, InternetChecksum.Add(data));
        Assert.Equal(unchecked((ushort)~0xddf2), BinaryPrimitives.ReadUInt16BigEndian(field));
    }

    [Fact]
    public void Every_length_and_content_gives_what_the_word_by_word_definition_gives()
    {
        var random = new Random(11);
        Span<byte> field = stackalloc byte[2];
        for (var length = 0; length < 300; length++)
        {
            for (var round = 0; round < 20; round++)
            {
                var data = new byte[length];
                random.NextBytes(data);
                if (round == 0)
                {
                    data.AsSpan().Fill(0xFF); // the carries' worst case
                }
                InternetChecksum.Write(field, InternetChecksum.Add(data));
                Assert.Equal(TestPackets.Checksum(data), BinaryPrimitives.ReadUInt16BigEndian(field));
            }
        }
    }

    [Theory]
    [InlineData("scalar")]
    [InlineData("vector128")]
    [InlineData("vector256")]
    public void Each_of_the_three_ways_gives_what_the_word_by_word_definition_gives(string way)
    {
        // The JIT here takes the widest way; Native AOT builds (newt) take the 128-bit one: each is checked on its own.
        Func<byte[], ulong, ulong> add = way switch
        {
            "scalar" => (data, sum) => InternetChecksum.AddScalar(data, sum),
            "vector128" => (data, sum) => InternetChecksum.AddVector128(data, sum),
            _ => (data, sum) => InternetChecksum.AddVector256(data, sum),
        };
        var random = new Random(17);
        Span<byte> field = stackalloc byte[2];
        for (var length = 0; length < 1500; length += length < 300 ? 1 : 37)
        {
            for (var round = 0; round < 8; round++)
            {
                var data = new byte[length];
                random.NextBytes(data);
                if (round == 0)
                {
                    data.AsSpan().Fill(0xFF);
                }
                var running = round == 1 ? ulong.MaxValue - 3 : (ulong)random.NextInt64();
                InternetChecksum.Write(field, add(data, 0));
                Assert.Equal(TestPackets.Checksum(data), BinaryPrimitives.ReadUInt16BigEndian(field));
                // A running sum carried in (near overflow in one round) comes out as the scalar way carries it.
                Assert.Equal(InternetChecksum.Fold(InternetChecksum.AddScalar(data, running)), InternetChecksum.Fold(add(data, running)));
            }
        }
    }

    [Theory]
    [InlineData("scalar")]
    [InlineData("vector128")]
    [InlineData("vector256")]
    public void Each_way_of_copying_while_summing_copies_every_byte_and_sums_as_the_definition(string way)
    {
        Func<byte[], byte[], ulong, ulong> copyAndAdd = way switch
        {
            "scalar" => (source, destination, sum) => InternetChecksum.CopyAndAddScalar(source, destination, sum),
            "vector128" => (source, destination, sum) => InternetChecksum.CopyAndAddVector128(source, destination, sum),
            _ => (source, destination, sum) => InternetChecksum.CopyAndAddVector256(source, destination, sum),
        };
        var random = new Random(23);
        Span<byte> field = stackalloc byte[2];
        for (var length = 0; length < 1500; length += length < 300 ? 1 : 41)
        {
            for (var round = 0; round < 4; round++)
            {
                var source = new byte[length];
                random.NextBytes(source);
                if (round == 0)
                {
                    source.AsSpan().Fill(0xFF);
                }
                var destination = new byte[length + 3];
                destination.AsSpan().Fill(0xA5);
                InternetChecksum.Write(field, copyAndAdd(source, destination, 0));
                Assert.Equal(TestPackets.Checksum(source), BinaryPrimitives.ReadUInt16BigEndian(field));
                Assert.Equal(source, destination[..length]);
                Assert.Equal([0xA5, 0xA5, 0xA5], destination[length..]);
                var running = (ulong)random.NextInt64();
                Assert.Equal(InternetChecksum.Fold(InternetChecksum.Add(source, running)), InternetChecksum.Fold(copyAndAdd(source, destination, running)));
            }
        }
    }

    [Fact]
    public void Two_sums_combined_equal_the_sum_of_both_ranges_and_a_short_destination_is_refused()
    {
        var data = new byte[999];
        new Random(3).NextBytes(data);
        var combined = InternetChecksum.Combine(InternetChecksum.Add(data.AsSpan(0, 400)), InternetChecksum.Add(data.AsSpan(400)));
        Assert.Equal(InternetChecksum.Fold(InternetChecksum.Add(data)), InternetChecksum.Fold(combined));
        Assert.Throws<ArgumentOutOfRangeException>(() => InternetChecksum.CopyAndAdd(data, new byte[998]));
    }

    [Fact]
    public void A_range_with_its_checksum_in_place_is_valid_and_one_flipped_bit_is_not()
    {
        var data = new byte[101];
        new Random(5).NextBytes(data);
        data[10] = data[11] = 0;
        InternetChecksum.Write(data.AsSpan(10, 2), InternetChecksum.Add(data));
        Assert.True(InternetChecksum.IsValid(InternetChecksum.Add(data)));
        data[50] ^= 0x10;
        Assert.False(InternetChecksum.IsValid(InternetChecksum.Add(data)));
    }

    [Fact]
    public void A_sum_built_in_pieces_equals_the_sum_of_the_whole()
    {
        var data = new byte[1000];
        new Random(9).NextBytes(data);
        var whole = InternetChecksum.Add(data);
        var pieces = InternetChecksum.Add(data.AsSpan(0, 8 * 7 + 2));
        pieces = InternetChecksum.Add(data.AsSpan(8 * 7 + 2, 400), pieces);
        pieces = InternetChecksum.Add(data.AsSpan(8 * 7 + 402), pieces);
        Assert.Equal(InternetChecksum.Fold(whole), InternetChecksum.Fold(pieces));
    }
}
