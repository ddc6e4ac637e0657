using System.Runtime.InteropServices;

namespace Pangolin.WireGuard.Noise;

/// <summary>
/// libsodium's ChaCha20-Poly1305 (IETF, detached tag), called directly: the library NSec already ships. It takes
/// the key on every call, with no cipher context to re-arm, which makes it the faster of the two for small packets
/// (ACKs, keepalives); OpenSSL's wider vector code wins from about 256 bytes (AeadBenchmarks).
/// </summary>
internal static unsafe partial class Sodium
{
    private const string Library = "libsodium";

    static Sodium()
    {
        // NSec initialises the library too; sodium_init is idempotent and thread-safe.
        if (sodium_init() < 0)
        {
            throw new InvalidOperationException("libsodium could not be initialised.");
        }
    }

    /// <summary>Encrypts in place (libsodium allows the ciphertext to overwrite the plaintext) and writes the tag.</summary>
    public static void Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, Span<byte> data, Span<byte> tag)
    {
        fixed (byte* k = key)
        fixed (byte* n = nonce)
        fixed (byte* d = data)
        fixed (byte* t = tag)
        {
            ulong tagLength;
            _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(d, t, &tagLength, d, (ulong)data.Length, null, 0, null, n, k);
        }
    }

    /// <summary>Verifies the tag, then decrypts in place; false (and the data untouched) when the tag does not verify.</summary>
    public static bool Decrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, Span<byte> data, ReadOnlySpan<byte> tag)
    {
        fixed (byte* k = key)
        fixed (byte* n = nonce)
        fixed (byte* d = data)
        fixed (byte* t = tag)
        {
            return crypto_aead_chacha20poly1305_ietf_decrypt_detached(d, null, d, (ulong)data.Length, t, null, 0, n, k) == 0;
        }
    }

    [LibraryImport(Library)]
    private static partial int sodium_init();

    [LibraryImport(Library)]
    private static partial int crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        byte* c, byte* mac, ulong* macLength, byte* m, ulong mLength, byte* ad, ulong adLength, byte* nsec, byte* npub, byte* k);

    [LibraryImport(Library)]
    private static partial int crypto_aead_chacha20poly1305_ietf_decrypt_detached(
        byte* m, byte* nsec, byte* c, ulong cLength, byte* mac, byte* ad, ulong adLength, byte* npub, byte* k);
}
