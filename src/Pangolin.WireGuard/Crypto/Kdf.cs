using System.Security.Cryptography;

namespace Pangolin.WireGuard.Crypto;

/// <summary>
/// The key derivation of whitepaper §5.4 (HKDF, RFC 5869, over HMAC-BLAKE2s with the salt as the HMAC key):
/// T0 = HMAC(key, input); T1 = HMAC(T0, 0x1); T2 = HMAC(T0, T1 ‖ 0x2); T3 = HMAC(T0, T2 ‖ 0x3).
/// KDFn returns T1..Tn, 32 bytes each. The pseudorandom key T0 is wiped before returning.
/// Outputs may alias the key or the input (Noise does <c>Ck, k = KDF2(Ck, ...)</c>): both are read only while
/// computing T0, before any output is written.
/// </summary>
public static class Kdf
{
    /// <summary>The size of every output.</summary>
    public const int OutputSize = Blake2s.HashSize;

    private static ReadOnlySpan<byte> One => [0x1];
    private static ReadOnlySpan<byte> Two => [0x2];
    private static ReadOnlySpan<byte> Three => [0x3];

    /// <summary>KDF1(key, input) = T1.</summary>
    public static void Kdf1(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> out1)
    {
        CheckOutput(out1, nameof(out1));
        Span<byte> t0 = stackalloc byte[OutputSize];
        Blake2s.Hmac(key, input, t0);
        Blake2s.Hmac(t0, One, out1);
        CryptographicOperations.ZeroMemory(t0);
    }

    /// <summary>KDF2(key, input) = (T1, T2).</summary>
    public static void Kdf2(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> out1, Span<byte> out2)
    {
        CheckOutput(out1, nameof(out1));
        CheckOutput(out2, nameof(out2));
        Span<byte> t0 = stackalloc byte[OutputSize];
        Blake2s.Hmac(key, input, t0);
        Blake2s.Hmac(t0, One, out1);
        Blake2s.Hmac(t0, out1[..OutputSize], Two, out2);
        CryptographicOperations.ZeroMemory(t0);
    }

    /// <summary>KDF3(key, input) = (T1, T2, T3).</summary>
    public static void Kdf3(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> out1, Span<byte> out2, Span<byte> out3)
    {
        CheckOutput(out1, nameof(out1));
        CheckOutput(out2, nameof(out2));
        CheckOutput(out3, nameof(out3));
        Span<byte> t0 = stackalloc byte[OutputSize];
        Blake2s.Hmac(key, input, t0);
        Blake2s.Hmac(t0, One, out1);
        Blake2s.Hmac(t0, out1[..OutputSize], Two, out2);
        Blake2s.Hmac(t0, out2[..OutputSize], Three, out3);
        CryptographicOperations.ZeroMemory(t0);
    }

    private static void CheckOutput(Span<byte> output, string name)
    {
        if (output.Length < OutputSize)
        {
            throw new ArgumentException($"KDF outputs are {OutputSize} bytes.", name);
        }
    }
}
