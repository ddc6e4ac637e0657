using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.WireGuard.Tests.Configuration;

public sealed class WgKeyTests
{
    [Fact]
    public void The_public_key_of_RFC_7748s_Alice_is_the_one_the_RFC_gives()
    {
        // RFC 7748 §6.1.
        Assert.True(WgKey.TryFromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", out var alice));
        Assert.True(WgKey.TryFromHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", out var expected));
        Assert.Equal(expected, alice.PublicKey());
    }

    [Fact]
    public async Task The_public_key_of_a_generated_private_key_is_what_wg_pubkey_prints()
    {
        for (var i = 0; i < 3; i++)
        {
            var key = WgKey.GeneratePrivate();
            Assert.Equal(await Wg.PublicKeyAsync(key.ToBase64()), key.PublicKey().ToBase64());
        }
    }
}
