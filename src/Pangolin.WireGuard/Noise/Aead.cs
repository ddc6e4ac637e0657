using System.Security.Cryptography;
using NSec.Cryptography;

namespace Pangolin.WireGuard.Noise;

/// <summary>The handshake's AEAD calls (whitepaper §5.4): ChaCha20-Poly1305 with a zero counter, and XChaCha20-Poly1305 for cookies.</summary>
internal static class Aead
{
    /// <summary>AEAD(key, 0, plaintext, ad): ciphertext ‖ tag into <paramref name="output"/> (plaintext.Length + 16 bytes).</summary>
    public static void Seal(ReadOnlySpan<byte> key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> ad, Span<byte> output)
    {
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        using var aead = new System.Security.Cryptography.ChaCha20Poly1305(key);
        aead.Encrypt(nonce, plaintext, output[..plaintext.Length], output.Slice(plaintext.Length, Protocol.TagSize), ad);
    }

    /// <summary>Opens AEAD(key, 0, …) with the given associated data; false when the tag does not verify.</summary>
    public static bool Open(ReadOnlySpan<byte> key, ReadOnlySpan<byte> sealedInput, ReadOnlySpan<byte> ad, Span<byte> plaintext)
    {
        if (sealedInput.Length < Protocol.TagSize)
        {
            return false;
        }
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        var length = sealedInput.Length - Protocol.TagSize;
        using var aead = new System.Security.Cryptography.ChaCha20Poly1305(key);
        try
        {
            aead.Decrypt(nonce, sealedInput[..length], sealedInput[length..], plaintext[..length], ad);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    /// <summary>XAEAD(key, nonce, plaintext, ad) for cookie replies (§5.4.7).</summary>
    public static void SealX(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce24, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> ad, Span<byte> output)
    {
        using var k = Key.Import(AeadAlgorithm.XChaCha20Poly1305, key, KeyBlobFormat.RawSymmetricKey);
        AeadAlgorithm.XChaCha20Poly1305.Encrypt(k, nonce24, ad, plaintext, output[..(plaintext.Length + Protocol.TagSize)]);
    }

    public static bool OpenX(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce24, ReadOnlySpan<byte> sealedInput, ReadOnlySpan<byte> ad, Span<byte> plaintext)
    {
        if (sealedInput.Length < Protocol.TagSize)
        {
            return false;
        }
        using var k = Key.Import(AeadAlgorithm.XChaCha20Poly1305, key, KeyBlobFormat.RawSymmetricKey);
        return AeadAlgorithm.XChaCha20Poly1305.Decrypt(k, nonce24, ad, sealedInput, plaintext[..(sealedInput.Length - Protocol.TagSize)]);
    }
}
