using System.Buffers.Binary;
using Microsoft.Extensions.Time.Testing;
using Pangolin.WireGuard.Crypto;

namespace Pangolin.WireGuard.Tests.Crypto;

public sealed class Tai64NTests
{
    [Fact]
    public void The_unix_epoch_is_2_to_the_62_plus_10_seconds_and_no_nanoseconds()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var stamp = new byte[12];
        Tai64N.Now(time, stamp);
        Assert.Equal("400000000000000A00000000", Convert.ToHexString(stamp));
    }

    [Fact]
    public void Seconds_and_whitened_nanoseconds_are_big_endian()
    {
        // 2023-11-14T22:13:20Z plus 123.4567 ms.
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000).AddTicks(1_234_567));
        var stamp = new byte[12];
        Tai64N.Now(time, stamp);

        Assert.Equal(0x400000000000000AUL + 1_700_000_000UL, BinaryPrimitives.ReadUInt64BigEndian(stamp));
        var nanoseconds = BinaryPrimitives.ReadUInt32BigEndian(stamp.AsSpan(8));
        // 123,456,700 ns rounded down to a multiple of 2^24 ns (7 × 16,777,216).
        Assert.Equal(117_440_512u, nanoseconds);
        Assert.Equal(0u, nanoseconds % (1u << 24));
    }

    [Theory]
    // wireguard-go tai64n_test.go: whitening makes stamps less than ~16.8 ms apart equal, 20 ms apart ordered.
    [InlineData(1, false)]                 // 100 ns (.NET's resolution; wireguard-go uses 10 ns)
    [InlineData(100, false)]               // 10 µs
    [InlineData(10_000, false)]            // 1 ms
    [InlineData(100_000, false)]           // 10 ms
    [InlineData(200_000, true)]            // 20 ms
    public void Stamps_are_monotonic_but_blur_the_last_16_milliseconds(long ticksLater, bool expectAfter)
    {
        // wireguard-go starts at 123,456,789 ns after the epoch, "a nontrivial bit pattern".
        var start = DateTimeOffset.UnixEpoch.AddTicks(1_234_567);
        var time = new FakeTimeProvider(start);
        var first = new byte[12];
        Tai64N.Now(time, first);
        time.Advance(TimeSpan.FromTicks(ticksLater));
        var second = new byte[12];
        Tai64N.Now(time, second);

        Assert.Equal(expectAfter, Tai64N.Compare(second, first) > 0);
        Assert.True(Tai64N.Compare(second, first) >= 0);
    }

    [Fact]
    public void Compare_orders_chronologically_across_a_second_boundary()
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_000).AddMilliseconds(999));
        var earlier = new byte[12];
        Tai64N.Now(time, earlier);
        time.Advance(TimeSpan.FromMilliseconds(2));
        var later = new byte[12];
        Tai64N.Now(time, later);

        Assert.Equal(-1, Tai64N.Compare(earlier, later));
        Assert.Equal(1, Tai64N.Compare(later, earlier));
        Assert.Equal(0, Tai64N.Compare(later, later.ToArray()));
        // The nanosecond field of the earlier stamp is larger; the seconds decide.
        Assert.True(BinaryPrimitives.ReadUInt32BigEndian(earlier.AsSpan(8)) > BinaryPrimitives.ReadUInt32BigEndian(later.AsSpan(8)));
    }

    [Fact]
    public void A_short_output_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Tai64N.Now(TimeProvider.System, new byte[11]));
    }
}
