using System.Security.Cryptography;
using NSec.Cryptography;

namespace Pangolin.WireGuard.Noise;

/// <summary>X25519 (RFC 7748) through libsodium (NSec). Used by handshakes only, never per packet.</summary>
internal static class Curve25519
{
    private static readonly KeyAgreementAlgorithm X25519 = KeyAgreementAlgorithm.X25519;

    /// <summary>A private key that stays inside libsodium's protected memory.</summary>
    public static Key ImportPrivate(ReadOnlySpan<byte> privateKey) =>
        Key.Import(X25519, privateKey, KeyBlobFormat.RawPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });

    /// <summary>A new random private key (an ephemeral key).</summary>
    public static Key Generate() => Key.Create(X25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });

    public static void PublicKeyOf(Key key, Span<byte> publicKey)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!key.PublicKey.TryExport(KeyBlobFormat.RawPublicKey, publicKey, out var written) || written != Protocol.KeySize)
        {
            throw new CryptographicException("Could not export an X25519 public key.");
        }
    }

    public static void PublicKeyOf(ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        using var key = ImportPrivate(privateKey);
        PublicKeyOf(key, publicKey);
    }

    /// <summary>
    /// DH(private, public). False when the result would be all zeros (a low-order public key), which the
    /// protocol must reject (whitepaper §5.4; wireguard-go does the same).
    /// </summary>
    public static bool TryAgree(Key privateKey, ReadOnlySpan<byte> publicKey, Span<byte> shared)
    {
        if (!PublicKey.TryImport(X25519, publicKey, KeyBlobFormat.RawPublicKey, out var peer) || peer is null)
        {
            return false;
        }
        using var secret = X25519.Agree(privateKey, peer, new SharedSecretCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        if (secret is null)
        {
            return false;
        }
        return secret.TryExport(SharedSecretBlobFormat.RawSharedSecret, shared, out var written) && written == Protocol.KeySize
            && shared[..Protocol.KeySize].ContainsAnyExcept((byte)0);
    }
}
