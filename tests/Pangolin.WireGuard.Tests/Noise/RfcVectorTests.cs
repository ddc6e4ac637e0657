using System.Security.Cryptography;
using System.Text;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Tests.Noise;

/// <summary>
/// Published test vectors for the primitives WireGuard is built on (whitepaper §5.4): X25519 (RFC 7748),
/// ChaCha20-Poly1305 (RFC 8439) and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), run through the code the
/// protocol uses: <see cref="Curve25519"/>, <see cref="Keypair"/>, <see cref="Aead"/> and the BCL's ChaCha20Poly1305.
/// Hex values are copied from the RFC texts (hex dumps joined, whitespace removed); see each block's comment.
/// </summary>
public sealed class RfcVectorTests
{
    /// <summary>Joins a hex dump (as printed in the RFCs, spaces, colons and line breaks) into bytes.</summary>
    private static byte[] Hex(string dump)
    {
        var digits = new StringBuilder(dump.Length);
        foreach (var c in dump)
        {
            if (char.IsAsciiHexDigit(c))
            {
                digits.Append(c);
            }
        }
        return Convert.FromHexString(digits.ToString());
    }

    private static string Lower(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    // ---------------------------------------------------------------------------------------------------------
    // RFC 7748 §5.2 (X25519 test vectors) and §6.1 (Diffie-Hellman test vector).
    // ---------------------------------------------------------------------------------------------------------

    // §5.2, first vector: input scalar, input u-coordinate, output u-coordinate.
    private const string X25519Scalar1 = "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4";
    private const string X25519U1 = "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c";
    private const string X25519Out1 = "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552";

    // §5.2, second vector. Its u-coordinate ends in 0x93: the most significant bit is set, which §5 says a
    // receiver MUST mask ("implementations of X25519 MUST mask the most significant bit in the final byte").
    private const string X25519Scalar2 = "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d";
    private const string X25519U2 = "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493";
    private const string X25519Out2 = "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957";

    // §6.1.
    private const string AlicePrivate = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    private const string AlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    private const string BobPrivate = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    private const string BobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    private const string AliceBobShared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

    private static string Agree(string scalarHex, ReadOnlySpan<byte> u)
    {
        using var key = Curve25519.ImportPrivate(Convert.FromHexString(scalarHex));
        Span<byte> shared = stackalloc byte[32];
        Assert.True(Curve25519.TryAgree(key, u, shared));
        return Lower(shared);
    }

    [Fact]
    public void X25519_reproduces_the_first_scalar_multiplication_vector_of_RFC_7748_section_5_2()
    {
        Assert.Equal(X25519Out1, Agree(X25519Scalar1, Convert.FromHexString(X25519U1)));
    }

    [Fact]
    public void X25519_reproduces_the_second_vector_of_RFC_7748_section_5_2_with_the_u_coordinates_high_bit_masked()
    {
        var u = Convert.FromHexString(X25519U2);
        u[31] &= 0x7f;

        Assert.Equal(X25519Out2, Agree(X25519Scalar2, u));
    }

    [Fact]
    public void X25519_reproduces_the_second_vector_of_RFC_7748_section_5_2_as_printed_with_the_high_bit_set()
    {
        // As printed, the u-coordinate has bit 255 set; RFC 7748 §5 makes the receiver ignore that bit, so the
        // published output must come out of the unmasked input too.
        var u = Convert.FromHexString(X25519U2);
        Assert.True((u[31] & 0x80) != 0);

        Assert.Equal(X25519Out2, Agree(X25519Scalar2, u));
    }

    [Theory]
    [InlineData(AlicePrivate, AlicePublic)]
    [InlineData(BobPrivate, BobPublic)]
    public void The_public_keys_of_RFC_7748_section_6_1_come_from_the_private_keys(string privateHex, string publicHex)
    {
        Span<byte> publicKey = stackalloc byte[32];
        Curve25519.PublicKeyOf(Convert.FromHexString(privateHex), publicKey);

        Assert.Equal(publicHex, Lower(publicKey));

        // The Key overload (the one handshakes use with a held static key) agrees.
        using var key = Curve25519.ImportPrivate(Convert.FromHexString(privateHex));
        publicKey.Clear();
        Curve25519.PublicKeyOf(key, publicKey);
        Assert.Equal(publicHex, Lower(publicKey));
    }

    [Fact]
    public void Alice_and_Bob_of_RFC_7748_section_6_1_reach_the_published_shared_secret()
    {
        Assert.Equal(AliceBobShared, Agree(AlicePrivate, Convert.FromHexString(BobPublic)));
        Assert.Equal(AliceBobShared, Agree(BobPrivate, Convert.FromHexString(AlicePublic)));
    }

    // Points whose X25519 result is all zeros for every scalar (RFC 7748 §6.1: "the X25519 function produces
    // that value if it operates on an input corresponding to a point with small order"). u = 0 is the point of
    // order 2 (and how the identity encodes), u = 1 a point of order 4, and 5f9c…1157 the low-order public key
    // pyca/cryptography takes from Wycheproof (tests/hazmat/primitives/test_x25519.py, "null shared key").
    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157")]
    public void TryAgree_refuses_a_low_order_public_key_whose_shared_secret_is_all_zeros(string publicHex)
    {
        using var key = Curve25519.ImportPrivate(Convert.FromHexString(AlicePrivate));
        Span<byte> shared = stackalloc byte[32];

        Assert.False(Curve25519.TryAgree(key, Convert.FromHexString(publicHex), shared));
    }

    // ---------------------------------------------------------------------------------------------------------
    // RFC 8439 §2.8.2 (AEAD_CHACHA20_POLY1305 example) and Appendix A.5 (AEAD decryption).
    // ---------------------------------------------------------------------------------------------------------

    private static readonly byte[] Rfc8439Plaintext = Hex("""
        4c 61 64 69 65 73 20 61 6e 64 20 47 65 6e 74 6c
        65 6d 65 6e 20 6f 66 20 74 68 65 20 63 6c 61 73
        73 20 6f 66 20 27 39 39 3a 20 49 66 20 49 20 63
        6f 75 6c 64 20 6f 66 66 65 72 20 79 6f 75 20 6f
        6e 6c 79 20 6f 6e 65 20 74 69 70 20 66 6f 72 20
        74 68 65 20 66 75 74 75 72 65 2c 20 73 75 6e 73
        63 72 65 65 6e 20 77 6f 75 6c 64 20 62 65 20 69
        74 2e
        """);

    private static readonly byte[] Rfc8439Aad = Hex("50 51 52 53 c0 c1 c2 c3 c4 c5 c6 c7");

    private static readonly byte[] Rfc8439Key = Hex("""
        80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f
        90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f
        """);

    // nonce = constant | iv: the "32-bit fixed-common part" 07 00 00 00, then the IV 40 … 47.
    private static readonly byte[] Rfc8439Nonce = Hex("07 00 00 00" + "40 41 42 43 44 45 46 47");

    private static readonly byte[] Rfc8439Ciphertext = Hex("""
        d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2
        a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
        3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b
        1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
        92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58
        fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
        3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b
        61 16
        """);

    private static readonly byte[] Rfc8439Tag = Hex("1a:e1:0b:59:4f:09:e2:6a:7e:90:2e:cb:d0:60:06:91");

    [Fact]
    public void ChaCha20Poly1305_reproduces_the_AEAD_example_of_RFC_8439_section_2_8_2()
    {
        Assert.Equal(
            "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
            Encoding.ASCII.GetString(Rfc8439Plaintext));
        var ciphertext = new byte[Rfc8439Plaintext.Length];
        var tag = new byte[16];

        using var aead = new ChaCha20Poly1305(Rfc8439Key);
        aead.Encrypt(Rfc8439Nonce, Rfc8439Plaintext, ciphertext, tag, Rfc8439Aad);

        Assert.Equal(Lower(Rfc8439Ciphertext), Lower(ciphertext));
        Assert.Equal(Lower(Rfc8439Tag), Lower(tag));

        var opened = new byte[ciphertext.Length];
        aead.Decrypt(Rfc8439Nonce, ciphertext, tag, opened, Rfc8439Aad);
        Assert.Equal(Rfc8439Plaintext, opened);
    }

    private static readonly byte[] A5Key = Hex("""
        1c 92 40 a5 eb 55 d3 8a f3 33 88 86 04 f6 b5 f0
        47 39 17 c1 40 2b 80 09 9d ca 5c bc 20 70 75 c0
        """);

    private static readonly byte[] A5Ciphertext = Hex("""
        64 a0 86 15 75 86 1a f4 60 f0 62 c7 9b e6 43 bd
        5e 80 5c fd 34 5c f3 89 f1 08 67 0a c7 6c 8c b2
        4c 6c fc 18 75 5d 43 ee a0 9e e9 4e 38 2d 26 b0
        bd b7 b7 3c 32 1b 01 00 d4 f0 3b 7f 35 58 94 cf
        33 2f 83 0e 71 0b 97 ce 98 c8 a8 4a bd 0b 94 81
        14 ad 17 6e 00 8d 33 bd 60 f9 82 b1 ff 37 c8 55
        97 97 a0 6e f4 f0 ef 61 c1 86 32 4e 2b 35 06 38
        36 06 90 7b 6a 7c 02 b0 f9 f6 15 7b 53 c8 67 e4
        b9 16 6c 76 7b 80 4d 46 a5 9b 52 16 cd e7 a4 e9
        90 40 c5 a4 04 33 22 5e e2 82 a1 b0 a0 6c 52 3e
        af 45 34 d7 f8 3f a1 15 5b 00 47 71 8c bc 54 6a
        0d 07 2b 04 b3 56 4e ea 1b 42 22 73 f5 48 27 1a
        0b b2 31 60 53 fa 76 99 19 55 eb d6 31 59 43 4e
        ce bb 4e 46 6d ae 5a 10 73 a6 72 76 27 09 7a 10
        49 e6 17 d9 1d 36 10 94 fa 68 f0 ff 77 98 71 30
        30 5b ea ba 2e da 04 df 99 7b 71 4d 6c 6f 2c 29
        a6 ad 5c b4 02 2b 02 70 9b
        """);

    private static readonly byte[] A5Nonce = Hex("00 00 00 00 01 02 03 04 05 06 07 08");

    private static readonly byte[] A5Aad = Hex("f3 33 88 86 00 00 00 00 00 00 4e 91");

    private static readonly byte[] A5Tag = Hex("ee ad 9d 67 89 0c bb 22 39 23 36 fe a1 85 1f 38");

    private static readonly byte[] A5Plaintext = Hex("""
        49 6e 74 65 72 6e 65 74 2d 44 72 61 66 74 73 20
        61 72 65 20 64 72 61 66 74 20 64 6f 63 75 6d 65
        6e 74 73 20 76 61 6c 69 64 20 66 6f 72 20 61 20
        6d 61 78 69 6d 75 6d 20 6f 66 20 73 69 78 20 6d
        6f 6e 74 68 73 20 61 6e 64 20 6d 61 79 20 62 65
        20 75 70 64 61 74 65 64 2c 20 72 65 70 6c 61 63
        65 64 2c 20 6f 72 20 6f 62 73 6f 6c 65 74 65 64
        20 62 79 20 6f 74 68 65 72 20 64 6f 63 75 6d 65
        6e 74 73 20 61 74 20 61 6e 79 20 74 69 6d 65 2e
        20 49 74 20 69 73 20 69 6e 61 70 70 72 6f 70 72
        69 61 74 65 20 74 6f 20 75 73 65 20 49 6e 74 65
        72 6e 65 74 2d 44 72 61 66 74 73 20 61 73 20 72
        65 66 65 72 65 6e 63 65 20 6d 61 74 65 72 69 61
        6c 20 6f 72 20 74 6f 20 63 69 74 65 20 74 68 65
        6d 20 6f 74 68 65 72 20 74 68 61 6e 20 61 73 20
        2f e2 80 9c 77 6f 72 6b 20 69 6e 20 70 72 6f 67
        72 65 73 73 2e 2f e2 80 9d
        """);

    [Fact]
    public void ChaCha20Poly1305_decrypts_the_AEAD_vector_of_RFC_8439_appendix_A_5()
    {
        // The RFC's Poly1305 input ends with the lengths 0x0c (AAD) and 0x0109 (ciphertext).
        Assert.Equal(12, A5Aad.Length);
        Assert.Equal(0x109, A5Ciphertext.Length);
        Assert.Equal(0x109, A5Plaintext.Length);
        var plaintext = new byte[A5Ciphertext.Length];

        using var aead = new ChaCha20Poly1305(A5Key);
        aead.Decrypt(A5Nonce, A5Ciphertext, A5Tag, plaintext, A5Aad);

        Assert.Equal(Lower(A5Plaintext), Lower(plaintext));
        Assert.StartsWith("Internet-Drafts are draft documents valid for a maximum of six months", Encoding.UTF8.GetString(plaintext), StringComparison.Ordinal);

        // And encryption gives the received ciphertext and tag back.
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[16];
        aead.Encrypt(A5Nonce, plaintext, ciphertext, tag, A5Aad);
        Assert.Equal(Lower(A5Ciphertext), Lower(ciphertext));
        Assert.Equal(Lower(A5Tag), Lower(tag));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 7)]
    [InlineData(7, 3)]
    [InlineData(15, 7)]
    public void ChaCha20Poly1305_refuses_the_RFC_8439_A_5_message_with_one_tag_bit_flipped(int index, int bit)
    {
        var tag = A5Tag.ToArray();
        tag[index] ^= (byte)(1 << bit);
        var plaintext = new byte[A5Ciphertext.Length];

        using var aead = new ChaCha20Poly1305(A5Key);

        Assert.Throws<AuthenticationTagMismatchException>(() => aead.Decrypt(A5Nonce, A5Ciphertext, tag, plaintext, A5Aad));
        // The BCL zeroes the output when the tag does not verify: no unauthenticated plaintext escapes.
        Assert.DoesNotContain(plaintext, b => b != 0);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Keypair: transport data nonce (whitepaper §5.4.6) is 32 zero bits, then the 64-bit little-endian counter.
    // ---------------------------------------------------------------------------------------------------------

    private static Keypair NewKeypair(byte[] sendKey, byte[] receiveKey) =>
        new(new object(), sendKey, receiveKey, isInitiator: true, localIndex: 1, remoteIndex: 2, createdTimestamp: 0);

    [Theory]
    [InlineData(0UL, "000000000000000000000000")]
    [InlineData(1UL, "000000000100000000000000")]
    [InlineData(0x0102030405060708UL, "000000000807060504030201")]
    [InlineData(ulong.MaxValue - 1, "00000000feffffffffffffff")]
    public void Keypair_Encrypt_is_ChaCha20Poly1305_with_32_zero_bits_then_the_little_endian_counter_and_no_associated_data(ulong counter, string nonceHex)
    {
        using var keypair = NewKeypair(Rfc8439Key, A5Key);
        var packet = Rfc8439Plaintext.ToArray();
        var tag = new byte[16];

        keypair.Encrypt(counter, packet, tag);

        var expected = new byte[Rfc8439Plaintext.Length];
        var expectedTag = new byte[16];
        using var reference = new ChaCha20Poly1305(Rfc8439Key);
        reference.Encrypt(Convert.FromHexString(nonceHex), Rfc8439Plaintext, expected, expectedTag);
        Assert.Equal(Lower(expected), Lower(packet));
        Assert.Equal(Lower(expectedTag), Lower(tag));
    }

    // Keypair takes small packets to libsodium and large ones to OpenSSL: both must give the same bytes.
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(255)]
    [InlineData(256)]
    [InlineData(1008)]
    [InlineData(1023)]
    [InlineData(1024)]
    [InlineData(1440)]
    [InlineData(65519)]
    public void Keypair_seals_and_opens_every_size_as_the_reference_does_on_both_sides_of_the_small_packet_threshold(int size)
    {
        using var sender = NewKeypair(Rfc8439Key, A5Key);
        using var receiver = NewKeypair(A5Key, Rfc8439Key);
        var plaintext = new byte[size];
        new Random(size).NextBytes(plaintext);
        var packet = plaintext.ToArray();
        var tag = new byte[16];
        sender.Encrypt(9, packet, tag);

        var expected = new byte[size];
        var expectedTag = new byte[16];
        using var reference = new ChaCha20Poly1305(Rfc8439Key);
        reference.Encrypt(Convert.FromHexString("000000000900000000000000"), plaintext, expected, expectedTag);
        Assert.Equal(expected, packet);
        Assert.Equal(expectedTag, tag);

        var tampered = packet.ToArray();
        if (size > 0)
        {
            tampered[size / 2] ^= 1;
            Assert.False(receiver.Decrypt(9, tampered, tag));
            // A refused packet must not leave its unauthenticated plaintext behind (OpenSSL decrypts before it checks).
            var unauthenticated = plaintext.ToArray();
            unauthenticated[size / 2] ^= 1;
            Assert.NotEqual(unauthenticated, tampered);
        }
        Assert.True(receiver.Decrypt(9, packet, tag));
        Assert.Equal(plaintext, packet);
    }

    [Fact]
    public void A_disposed_keypair_refuses_to_seal_rather_than_use_a_wiped_key()
    {
        var keypair = NewKeypair(Rfc8439Key, A5Key);
        keypair.Dispose();
        Assert.Throws<ObjectDisposedException>(() => keypair.Encrypt(0, new byte[64], new byte[16]));
        Assert.Throws<ObjectDisposedException>(() => keypair.Encrypt(0, new byte[2000], new byte[16]));
        Assert.Throws<ObjectDisposedException>(() => keypair.Decrypt(0, new byte[64], new byte[16]));
    }

    [Fact]
    public void Keypair_Decrypt_opens_what_the_peers_Encrypt_sealed_and_refuses_it_under_another_counter()
    {
        // The initiator's send key is the responder's receive key and the other way round (§5.4.5).
        using var initiator = NewKeypair(Rfc8439Key, A5Key);
        using var responder = NewKeypair(A5Key, Rfc8439Key);
        const ulong Counter = 41;

        var packet = Rfc8439Plaintext.ToArray();
        var tag = new byte[16];
        initiator.Encrypt(Counter, packet, tag);
        Assert.NotEqual(Lower(Rfc8439Plaintext), Lower(packet));

        var wrongCounter = packet.ToArray();
        Assert.False(responder.Decrypt(Counter + 1, wrongCounter, tag));
        // The sender's own receive key is the wrong key for its own packets.
        var wrongKey = packet.ToArray();
        Assert.False(initiator.Decrypt(Counter, wrongKey, tag));
        var flippedTag = tag.ToArray();
        flippedTag[15] ^= 0x80;
        var tampered = packet.ToArray();
        Assert.False(responder.Decrypt(Counter, tampered, flippedTag));

        Assert.True(responder.Decrypt(Counter, packet, tag));
        Assert.Equal(Lower(Rfc8439Plaintext), Lower(packet));
    }

    // ---------------------------------------------------------------------------------------------------------
    // XChaCha20-Poly1305 (cookie replies, whitepaper §5.4.7): draft-irtf-cfrg-xchacha-03 appendix A.3.1.
    // ---------------------------------------------------------------------------------------------------------

    private static readonly byte[] XPlaintext = Hex("""
        4c616469657320616e642047656e746c656d656e206f662074686520636c6173
        73206f66202739393a204966204920636f756c64206f6666657220796f75206f
        6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73
        637265656e20776f756c642062652069742e
        """);

    private static readonly byte[] XAad = Hex("50515253c0c1c2c3c4c5c6c7");

    private static readonly byte[] XKey = Hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");

    private static readonly byte[] XNonce = Hex("404142434445464748494a4b4c4d4e4f5051525354555657");

    private static readonly byte[] XCiphertext = Hex("""
        bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
        731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
        2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
        21f9664c97637da9768812f615c68b13b52e
        """);

    private static readonly byte[] XTag = Hex("c0875924c1c7987947deafd8780acf49");

    [Fact]
    public void Aead_SealX_reproduces_the_AEAD_XChaCha20_Poly1305_vector_of_draft_irtf_cfrg_xchacha()
    {
        var output = new byte[XPlaintext.Length + 16];

        Aead.SealX(XKey, XNonce, XPlaintext, XAad, output);

        Assert.Equal(Lower(XCiphertext) + Lower(XTag), Lower(output));
    }

    [Fact]
    public void Aead_OpenX_opens_the_draft_irtf_cfrg_xchacha_vector_and_refuses_it_with_a_flipped_tag_bit_or_other_AD()
    {
        var sealedInput = XCiphertext.Concat(XTag).ToArray();
        var plaintext = new byte[XCiphertext.Length];

        Assert.True(Aead.OpenX(XKey, XNonce, sealedInput, XAad, plaintext));
        Assert.Equal(Lower(XPlaintext), Lower(plaintext));

        var flipped = sealedInput.ToArray();
        flipped[^1] ^= 0x01;
        Assert.False(Aead.OpenX(XKey, XNonce, flipped, XAad, plaintext));

        var otherAad = XAad.ToArray();
        otherAad[0] ^= 0x01;
        Assert.False(Aead.OpenX(XKey, XNonce, sealedInput, otherAad, plaintext));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Aead.Seal/Open: the handshake's AEAD(key, 0, plaintext, hash) (whitepaper §5.4.2-§5.4.4): the nonce is the
    // 96-bit zero (32 zero bits and counter 0), since each handshake key seals exactly one message.
    // ---------------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(0)]
    [InlineData(32)]
    [InlineData(114)]
    public void Aead_Seal_is_ChaCha20Poly1305_with_a_12_byte_zero_nonce_and_the_associated_data(int length)
    {
        var plaintext = Rfc8439Plaintext.AsSpan(0, length).ToArray();
        var output = new byte[length + 16];

        Aead.Seal(Rfc8439Key, plaintext, Rfc8439Aad, output);

        var expected = new byte[length];
        var expectedTag = new byte[16];
        using var reference = new ChaCha20Poly1305(Rfc8439Key);
        reference.Encrypt(new byte[12], plaintext, expected, expectedTag, Rfc8439Aad);
        Assert.Equal(Lower(expected) + Lower(expectedTag), Lower(output));

        var opened = new byte[length];
        Assert.True(Aead.Open(Rfc8439Key, output, Rfc8439Aad, opened));
        Assert.Equal(Lower(plaintext), Lower(opened));
    }

    [Fact]
    public void Aead_Open_refuses_a_sealed_message_when_one_bit_of_the_associated_data_changes()
    {
        var output = new byte[Rfc8439Plaintext.Length + 16];
        Aead.Seal(Rfc8439Key, Rfc8439Plaintext, Rfc8439Aad, output);
        var opened = new byte[Rfc8439Plaintext.Length];

        for (var i = 0; i < Rfc8439Aad.Length; i++)
        {
            var aad = Rfc8439Aad.ToArray();
            aad[i] ^= 0x10;
            Assert.False(Aead.Open(Rfc8439Key, output, aad, opened));
        }
        Assert.False(Aead.Open(Rfc8439Key, output, [], opened));
        Assert.True(Aead.Open(Rfc8439Key, output, Rfc8439Aad, opened));
    }

    [Fact]
    public void Aead_Open_refuses_input_shorter_than_a_tag()
    {
        Assert.False(Aead.Open(Rfc8439Key, new byte[15], Rfc8439Aad, new byte[16]));
    }
}
