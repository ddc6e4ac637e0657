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
