using Pangolin.WireGuard.Configuration;

namespace Pangolin.WireGuard.Tests;

public sealed class WgKeyTests
{
    [Fact]
    public void A_key_round_trips_through_base64_and_hex()
    {
        var key = WgKey.GeneratePrivate();
        Assert.Equal(key, WgKey.FromBase64(key.ToBase64()));
        Assert.True(WgKey.TryFromHex(key.ToHex(), out var fromHex));
        Assert.Equal(key, fromHex);
        Assert.Equal(0, key.Bytes[0] & 7);
        Assert.Throws<FormatException>(() => WgKey.FromBase64("AAAA"));
        Assert.False(WgKey.TryFromHex("zz", out _));
    }
}
