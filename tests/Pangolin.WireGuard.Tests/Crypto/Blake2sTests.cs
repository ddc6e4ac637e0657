using System.Text;
using Pangolin.WireGuard.Crypto;

namespace Pangolin.WireGuard.Tests.Crypto;

public sealed class Blake2sTests
{
    private static readonly byte[] KatKey = Sequence(32);

    [Fact]
    public void The_abc_digest_of_RFC_7693_appendix_B_matches()
    {
        var digest = new byte[32];
        Blake2s.Hash("abc"u8, digest);
        Assert.Equal("508C5E8C327C14E2E1A72BA34EEB452F37458B209ED63A294D999B4C86675982", Convert.ToHexString(digest));
    }

    [Fact]
    public void All_256_unkeyed_known_answers_of_the_BLAKE2_repository_match()
    {
        var vectors = KnownAnswers.Load("unkeyed");
        Assert.Equal(256, vectors.Count);
        var digest = new byte[32];
        for (var length = 0; length < vectors.Count; length++)
        {
            Blake2s.Hash(Sequence(length), digest);
            Assert.True(vectors[length].AsSpan().SequenceEqual(digest), $"unkeyed BLAKE2s of {length} bytes");
        }
    }

    [Fact]
    public void All_256_keyed_known_answers_of_the_BLAKE2_repository_match()
    {
        var vectors = KnownAnswers.Load("keyed");
        Assert.Equal(256, vectors.Count);
        var digest = new byte[32];
        for (var length = 0; length < vectors.Count; length++)
        {
            Blake2s.Mac(KatKey, Sequence(length), digest);
            Assert.True(vectors[length].AsSpan().SequenceEqual(digest), $"keyed BLAKE2s of {length} bytes");
        }
    }

    [Fact]
    public void The_self_test_of_RFC_7693_appendix_E_over_all_output_and_key_sizes_matches()
    {
        // Appendix E hashes, for digest sizes 16/20/28/32 and inputs of 0/3/64/65/255/1024 bytes, the unkeyed digest
        // and the digest keyed with an outlen-byte key, all into one BLAKE2s-256: this covers sizes the KAT does not.
        var grand = new Blake2sState(32);
        Span<byte> digest = stackalloc byte[32];
        foreach (var outputLength in new[] { 16, 20, 28, 32 })
        {
            foreach (var inputLength in new[] { 0, 3, 64, 65, 255, 1024 })
            {
                var input = SelfTestSequence(inputLength, (uint)inputLength);
                Blake2s.Hash(input, digest[..outputLength]);
                grand.Update(digest[..outputLength]);

                var key = SelfTestSequence(outputLength, (uint)outputLength);
                Blake2s.Mac(key, input, digest[..outputLength]);
                grand.Update(digest[..outputLength]);
            }
        }
        grand.Final(digest);
        Assert.Equal("6A411F08CE25ADCDFB02ABA641451CEC53C598B24F4FC787FBDC88797F4C1DFE", Convert.ToHexString(digest));
    }

    [Fact]
    public void WireGuards_initial_chaining_key_and_hash_match_the_values_boringtun_hardcodes()
    {
        // Whitepaper §5.4.2: Ci = HASH(CONSTRUCTION), Hi = HASH(Ci ‖ IDENTIFIER). boringtun keeps both as constants.
        byte[] expectedChainingKey =
        [
            96, 226, 109, 174, 243, 39, 239, 192, 46, 195, 53, 226, 160, 37, 210, 208,
            22, 235, 66, 6, 248, 114, 119, 245, 45, 56, 209, 152, 139, 120, 205, 54,
        ];
        byte[] expectedHash =
        [
            34, 17, 179, 97, 8, 26, 197, 102, 105, 18, 67, 219, 69, 138, 213, 50,
            45, 156, 108, 102, 34, 147, 232, 183, 14, 225, 156, 101, 186, 7, 158, 243,
        ];

        var chainingKey = new byte[32];
        Blake2s.Hash("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"u8, chainingKey);
        var hash = new byte[32];
        Blake2s.Hash(chainingKey, "WireGuard v1 zx2c4 Jason@zx2c4.com"u8, hash);

        Assert.Equal(expectedChainingKey, chainingKey);
        Assert.Equal(expectedHash, hash);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Incremental_updates_split_at_every_position_equal_the_one_shot_digest(bool keyed)
    {
        // 200 bytes crosses three block boundaries; every split point covers empty, partial and exact-block pieces.
        var input = Sequence(200);
        var key = keyed ? KatKey : [];
        var expected = new byte[32];
        var oneShot = new Blake2sState(32, key);
        oneShot.Update(input);
        oneShot.Final(expected);

        var actual = new byte[32];
        for (var split = 0; split <= input.Length; split++)
        {
            var state = new Blake2sState(32, key);
            state.Update(input.AsSpan(0, split));
            state.Update(input.AsSpan(split));
            state.Final(actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"split at {split}");
        }

        // Three pieces around every boundary, and one byte at a time.
        foreach (var first in new[] { 1, 63, 64, 65, 127, 128 })
        {
            for (var second = 0; first + second <= input.Length; second += 13)
            {
                var state = new Blake2sState(32, key);
                state.Update(input.AsSpan(0, first));
                state.Update(input.AsSpan(first, second));
                state.Update(input.AsSpan(first + second));
                state.Final(actual);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"pieces {first}+{second}");
            }
        }
        var bytewise = new Blake2sState(32, key);
        foreach (var b in input)
        {
            bytewise.Update([b]);
        }
        bytewise.Final(actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Hashing_two_parts_equals_hashing_their_concatenation()
    {
        var input = Sequence(150);
        var expected = new byte[32];
        Blake2s.Hash(input, expected);
        var actual = new byte[32];
        for (var split = 0; split <= input.Length; split++)
        {
            Blake2s.Hash(input.AsSpan(0, split), input.AsSpan(split), actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"split at {split}");
        }
    }

    [Fact]
    public void A_16_byte_mac_is_keyed_BLAKE2s_with_a_16_byte_digest_not_a_truncation()
    {
        // WireGuard's MAC() (mac1/mac2) is BLAKE2s(key, 16, msg): the digest size is in the parameter block.
        var key = Sequence(32);
        var mac = new byte[16];
        Blake2s.Mac(key, "msg"u8, mac);
        var full = new byte[32];
        Blake2s.Mac(key, "msg"u8, full);
        Assert.False(full.AsSpan(0, 16).SequenceEqual(mac));

        var state = new Blake2sState(16, key);
        state.Update("msg"u8);
        var viaState = new byte[16];
        state.Final(viaState);
        Assert.Equal(mac, viaState);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 3)]
    [InlineData(16, 64)]
    [InlineData(32, 116)]
    [InlineData(64, 65)]
    [InlineData(65, 200)]
    [InlineData(100, 1)]
    public void Hmac_equals_RFC_2104_built_by_hand_from_the_hash(int keyLength, int inputLength)
    {
        var key = Sequence(keyLength, seed: 7);
        var input = Sequence(inputLength, seed: 11);

        var expected = ReferenceHmac(key, input);
        var actual = new byte[32];
        Blake2s.Hmac(key, input, actual);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Hmac_matches_values_from_an_independent_implementation()
    {
        // Python: hmac.new(key, msg, hashlib.blake2s).hexdigest()
        var output = new byte[32];
        Blake2s.Hmac("key"u8, "The quick brown fox jumps over the lazy dog"u8, output);
        Assert.Equal("F93215BB90D4AF4C3061CD932FB169FB8BB8A91D0B4022BAEA1271E1323CD9A0", Convert.ToHexString(output));

        Blake2s.Hmac(Sequence(100), "WireGuard"u8, output);
        Assert.Equal("27E2783BBE0418733B41F953203368E342AABAE567508501430166D5CD0D7E37", Convert.ToHexString(output));
    }

    [Fact]
    public void Hmac_output_may_overlap_its_key_or_its_input()
    {
        var key = Sequence(32, seed: 3);
        var input = Sequence(32, seed: 5);
        var expected = new byte[32];
        Blake2s.Hmac(key, input, expected);

        var keyInPlace = key.ToArray();
        Blake2s.Hmac(keyInPlace, input, keyInPlace);
        Assert.Equal(expected, keyInPlace);

        var inputInPlace = input.ToArray();
        Blake2s.Hmac(key, inputInPlace, inputInPlace);
        Assert.Equal(expected, inputInPlace);
    }

    [Fact]
    public void Sizes_outside_the_RFC_limits_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Blake2s.Hash("x"u8, new byte[33]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Blake2s.Hash("x"u8, []));
        Assert.Throws<ArgumentException>(() => Blake2s.Mac(new byte[33], "x"u8, new byte[32]));
        Assert.Throws<ArgumentException>(() => Blake2s.Mac([], "x"u8, new byte[32]));
        Assert.Throws<ArgumentException>(() => Blake2s.Hmac("k"u8, "x"u8, new byte[31]));
        Assert.Throws<InvalidOperationException>(() =>
        {
            var state = default(Blake2sState);
            state.Update("x"u8);
        });
    }

    [Fact]
    public void Final_wipes_the_state_so_it_cannot_be_reused_without_init()
    {
        var state = new Blake2sState(32, KatKey);
        state.Update("secret"u8);
        state.Final(new byte[32]);
        var afterFinal = state;
        Assert.Throws<InvalidOperationException>(() => afterFinal.Update("more"u8));

        state.Init(32);
        state.Update("abc"u8);
        var digest = new byte[32];
        state.Final(digest);
        Assert.Equal("508C5E8C327C14E2E1A72BA34EEB452F37458B209ED63A294D999B4C86675982", Convert.ToHexString(digest));
    }

    [Fact]
    public void Hash_mac_and_hmac_allocate_nothing()
    {
        var input = Sequence(1024);
        var key = Sequence(32);
        var output = new byte[32];
        Exercise();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            Exercise();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        void Exercise()
        {
            Blake2s.Hash(input, output);
            Blake2s.Hash(input.AsSpan(0, 10), input.AsSpan(10), output);
            Blake2s.Mac(key, input.AsSpan(0, 116), output.AsSpan(0, 16));
            Blake2s.Hmac(key, input.AsSpan(0, 32), output);
        }
    }

    /// <summary>HMAC(K, m) = H((K' ^ opad) ‖ H((K' ^ ipad) ‖ m)), RFC 2104 §2, written the plain way.</summary>
    internal static byte[] ReferenceHmac(byte[] key, byte[] input)
    {
        var block = new byte[64];
        if (key.Length > 64)
        {
            Blake2s.Hash(key, block.AsSpan(0, 32));
        }
        else
        {
            key.CopyTo(block, 0);
        }
        var inner = new byte[32];
        Blake2s.Hash([.. block.Select(b => (byte)(b ^ 0x36)), .. input], inner);
        var outer = new byte[32];
        Blake2s.Hash([.. block.Select(b => (byte)(b ^ 0x5c)), .. inner], outer);
        return outer;
    }

    /// <summary>00 01 02 ... as the KAT uses (or another start for variety).</summary>
    internal static byte[] Sequence(int length, int seed = 0)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i + seed);
        }
        return bytes;
    }

    /// <summary>RFC 7693 appendix E's selftest_seq: a Fibonacci generator's high bytes.</summary>
    private static byte[] SelfTestSequence(int length, uint seed)
    {
        var output = new byte[length];
        var a = unchecked(0xDEAD4BAD * seed);
        var b = 1u;
        for (var i = 0; i < length; i++)
        {
            var t = unchecked(a + b);
            a = b;
            b = t;
            output[i] = (byte)(t >> 24);
        }
        return output;
    }

    private static class KnownAnswers
    {
        public static List<byte[]> Load(string section)
        {
            var path = Path.Combine(AppContext.BaseDirectory, "Vectors", "blake2s-kat.txt");
            var result = new List<byte[]>();
            string? current = null;
            foreach (var raw in File.ReadLines(path, Encoding.ASCII))
            {
                var line = raw.Trim();
                if (line.Length == 0 || line.StartsWith('#'))
                {
                    continue;
                }
                if (line.StartsWith('['))
                {
                    current = line[1..^1];
                    continue;
                }
                if (current == section)
                {
                    result.Add(Convert.FromHexString(line));
                }
            }
            return result;
        }
    }
}
