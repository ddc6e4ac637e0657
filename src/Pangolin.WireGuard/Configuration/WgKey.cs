using System.Security.Cryptography;

namespace Pangolin.WireGuard.Configuration;

/// <summary>A 32-byte Curve25519 key or preshared key, shown as base64 (wg) or hex (UAPI).</summary>
public readonly struct WgKey : IEquatable<WgKey>
{
    public const int Size = 32;

    private readonly byte[]? _bytes;

    public WgKey(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size)
        {
            throw new ArgumentException($"A WireGuard key is {Size} bytes, not {bytes.Length}.", nameof(bytes));
        }
        _bytes = bytes.ToArray();
    }

    public ReadOnlySpan<byte> Bytes => _bytes ?? new byte[Size];

    /// <summary>All zeros: UAPI's way of saying "no key".</summary>
    public bool IsZero => _bytes is null || !_bytes.AsSpan().ContainsAnyExcept((byte)0);

    public static WgKey FromBase64(string text)
    {
        Span<byte> buffer = stackalloc byte[Size + 2];
        if (!Convert.TryFromBase64String(text.Trim(), buffer, out var written) || written != Size)
        {
            throw new FormatException("A WireGuard key is 32 bytes in base64 (44 characters).");
        }
        return new WgKey(buffer[..Size]);
    }

    public static bool TryFromHex(ReadOnlySpan<char> text, out WgKey key)
    {
        key = default;
        if (text.Length != Size * 2)
        {
            return false;
        }
        Span<byte> buffer = stackalloc byte[Size];
        if (Convert.FromHexString(text, buffer, out _, out var written) != System.Buffers.OperationStatus.Done || written != Size)
        {
            return false;
        }
        key = new WgKey(buffer);
        return true;
    }

    /// <summary>A new private key, clamped as Curve25519 requires (as `wg genkey` does).</summary>
    public static WgKey GeneratePrivate()
    {
        Span<byte> k = stackalloc byte[Size];
        RandomNumberGenerator.Fill(k);
        k[0] &= 248;
        k[31] = (byte)((k[31] & 127) | 64);
        return new WgKey(k);
    }

    /// <summary>The public key of this private key (X25519 with the base point, as `wg pubkey` prints).</summary>
    public WgKey PublicKey()
    {
        Span<byte> publicKey = stackalloc byte[Size];
        Noise.Curve25519.PublicKeyOf(Bytes, publicKey);
        return new WgKey(publicKey);
    }

    public static WgKey GeneratePreshared()
    {
        Span<byte> k = stackalloc byte[Size];
        RandomNumberGenerator.Fill(k);
        return new WgKey(k);
    }

    public string ToBase64() => Convert.ToBase64String(Bytes);

    public string ToHex() => Convert.ToHexStringLower(Bytes);

    public bool Equals(WgKey other) => CryptographicOperations.FixedTimeEquals(Bytes, other.Bytes);

    public override bool Equals(object? obj) => obj is WgKey other && Equals(other);

    public override int GetHashCode()
    {
        var b = Bytes;
        return BitConverter.ToInt32(b) ^ BitConverter.ToInt32(b[4..]);
    }

    public static bool operator ==(WgKey left, WgKey right) => left.Equals(right);

    public static bool operator !=(WgKey left, WgKey right) => !left.Equals(right);

    /// <summary>Base64 of a public key; never print a private key this way.</summary>
    public override string ToString() => ToBase64();
}
