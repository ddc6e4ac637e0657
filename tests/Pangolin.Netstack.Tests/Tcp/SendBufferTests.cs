using Pangolin.Netstack.Tcp;

namespace Pangolin.Netstack.Tests.Tcp;

public sealed class SendBufferTests
{
    private static byte[] Read(SendBuffer buffer, long offset, int length)
    {
        buffer.Get(offset, length, out var first, out var second);
        return [.. first, .. second];
    }

    [Fact]
    public void It_starts_small_and_offers_its_whole_capacity()
    {
        var buffer = new SendBuffer(1 << 20);
        Assert.Equal(ReceiveBuffer.InitialRingSize, buffer.AllocatedSize);
        Assert.Equal(1 << 20, buffer.Room);
        Assert.Equal(0, buffer.Count);
    }

    [Fact]
    public void Growing_keeps_bytes_that_wrapped_around_the_ring()
    {
        var data = new byte[40_000];
        new Random(3).NextBytes(data);
        var buffer = new SendBuffer(64 * 1024);
        buffer.Append(data.AsSpan(0, 10_000));
        buffer.Consume(9_000);
        buffer.Append(data.AsSpan(10_000, 10_000)); // wraps: 11,000 held in a 16 KiB ring from position 9,000
        Assert.Equal(ReceiveBuffer.InitialRingSize, buffer.AllocatedSize);
        buffer.Append(data.AsSpan(20_000, 20_000)); // grows
        Assert.Equal(32 * 1024, buffer.AllocatedSize);
        Assert.Equal(data.AsSpan(9_000).ToArray(), Read(buffer, 0, 31_000));
    }

    [Theory]
    [InlineData(1, 100_000)]
    [InlineData(2, 1 << 20)]
    public void Random_appends_acknowledgments_and_reads_match_the_stream(int seed, int capacity)
    {
        var random = new Random(seed);
        var stream = new byte[4_000_000];
        random.NextBytes(stream);
        var buffer = new SendBuffer(capacity);
        long written = 0;
        long acknowledged = 0;
        while (acknowledged < stream.Length)
        {
            switch (random.Next(3))
            {
                case 0 when written < stream.Length:
                    var count = (int)Math.Min(Math.Min(random.Next(1, 70_000), buffer.Room), stream.Length - written);
                    buffer.Append(stream.AsSpan((int)written, count));
                    written += count;
                    break;
                case 1 when buffer.Count > 0:
                    var offset = random.Next(buffer.Count);
                    var length = Math.Min(random.Next(1, 1500), buffer.Count - offset);
                    Assert.Equal(stream.AsSpan((int)(acknowledged + offset), length).ToArray(), Read(buffer, offset, length));
                    break;
                default:
                    var consumed = random.Next(0, buffer.Count + 1);
                    buffer.Consume(consumed);
                    acknowledged += consumed;
                    break;
            }
            Assert.Equal(written - acknowledged, buffer.Count);
            Assert.InRange(buffer.AllocatedSize, 1, capacity);
        }
    }

    [Fact]
    public void Appending_beyond_the_room_and_reading_beyond_the_data_are_refused()
    {
        var buffer = new SendBuffer(100);
        buffer.Append(new byte[60]);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Append(new byte[41]));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Get(50, 11, out _, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Consume(61));
    }
}
