using Pangolin.WireGuard.Crypto;

namespace Pangolin.WireGuard.Tests.Crypto;

public sealed class KdfTests
{
    // wireguard-go device/kdf_test.go: key, input, then T1, T2, T3 (its t0, t1, t2).
    public static TheoryData<string, string, string, string, string> WireGuardGoVectors => new()
    {
        {
            "746573742d6b6579", "746573742d696e707574",
            "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
            "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
            "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24"
        },
        {
            "776972656775617264", "776972656775617264",
            "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
            "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
            "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160"
        },
        {
            "", "",
            "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
            "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
            "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e"
        },
    };

    [Theory]
    [MemberData(nameof(WireGuardGoVectors))]
    public void Kdf1_Kdf2_and_Kdf3_reproduce_wireguard_gos_test_vectors(string key, string input, string t1, string t2, string t3)
    {
        var k = Convert.FromHexString(key);
        var x = Convert.FromHexString(input);
        var out1 = new byte[32];
        var out2 = new byte[32];
        var out3 = new byte[32];

        Kdf.Kdf3(k, x, out1, out2, out3);
        Assert.Equal(t1, Convert.ToHexStringLower(out1));
        Assert.Equal(t2, Convert.ToHexStringLower(out2));
        Assert.Equal(t3, Convert.ToHexStringLower(out3));

        Array.Clear(out1);
        Array.Clear(out2);
        Kdf.Kdf2(k, x, out1, out2);
        Assert.Equal(t1, Convert.ToHexStringLower(out1));
        Assert.Equal(t2, Convert.ToHexStringLower(out2));

        Array.Clear(out1);
        Kdf.Kdf1(k, x, out1);
        Assert.Equal(t1, Convert.ToHexStringLower(out1));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(32, 32)]
    [InlineData(32, 0)]
    [InlineData(32, 200)]
    [InlineData(7, 65)]
    public void The_outputs_follow_the_whitepapers_definition_over_hmac(int keyLength, int inputLength)
    {
        var key = Blake2sTests.Sequence(keyLength, seed: 1);
        var input = Blake2sTests.Sequence(inputLength, seed: 2);

        // Whitepaper §5.4: T0 = HMAC(key, input), T1 = HMAC(T0, 0x1), T2 = HMAC(T0, T1 ‖ 0x2), T3 = HMAC(T0, T2 ‖ 0x3).
        var t0 = Blake2sTests.ReferenceHmac(key, input);
        var t1 = Blake2sTests.ReferenceHmac(t0, [0x1]);
        var t2 = Blake2sTests.ReferenceHmac(t0, [.. t1, 0x2]);
        var t3 = Blake2sTests.ReferenceHmac(t0, [.. t2, 0x3]);

        var out1 = new byte[32];
        var out2 = new byte[32];
        var out3 = new byte[32];
        Kdf.Kdf3(key, input, out1, out2, out3);
        Assert.Equal(t1, out1);
        Assert.Equal(t2, out2);
        Assert.Equal(t3, out3);
    }

    [Fact]
    public void An_output_may_be_the_key_itself_as_in_noises_chaining_key_update()
    {
        // Ck, k = KDF2(Ck, dh): the chaining key is read before it is overwritten.
        var chainingKey = Blake2sTests.Sequence(32, seed: 9);
        var dh = Blake2sTests.Sequence(32, seed: 4);
        var expected1 = new byte[32];
        var expected2 = new byte[32];
        Kdf.Kdf2(chainingKey, dh, expected1, expected2);

        var key = new byte[32];
        Kdf.Kdf2(chainingKey, dh, chainingKey, key);

        Assert.Equal(expected1, chainingKey);
        Assert.Equal(expected2, key);
    }

    [Fact]
    public void Outputs_shorter_than_32_bytes_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Kdf.Kdf1([], [], new byte[31]));
        Assert.Throws<ArgumentException>(() => Kdf.Kdf2([], [], new byte[32], new byte[16]));
        Assert.Throws<ArgumentException>(() => Kdf.Kdf3([], [], new byte[32], new byte[32], []));
    }

    [Fact]
    public void The_kdfs_allocate_nothing()
    {
        var key = new byte[32];
        var input = new byte[32];
        var a = new byte[32];
        var b = new byte[32];
        var c = new byte[32];
        Kdf.Kdf3(key, input, a, b, c);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            Kdf.Kdf1(key, input, a);
            Kdf.Kdf2(key, input, a, b);
            Kdf.Kdf3(key, input, a, b, c);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
