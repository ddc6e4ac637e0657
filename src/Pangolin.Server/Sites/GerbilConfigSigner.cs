using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using NSec.Cryptography;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Sites;

/// <summary>
/// Signs get-config answers with Gerbil:ConfigSigningKey, as newest upstream gerbil requires (fosrl/gerbil main.go):
/// <c>X-Gerbil-Config-Signature</c> is the standard base64 of the Ed25519 signature over the exact body bytes, and
/// gerbil's REMOTE_CONFIG_SIGNING_KEY is the standard base64 of the 32-byte public key.
/// </summary>
public sealed class GerbilConfigSigner : IDisposable
{
    private readonly Key? _key;

    public GerbilConfigSigner(IOptions<GerbilOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Value.ConfigSigningKey is not { } text)
        {
            return;
        }
        // GerbilValidator has checked the value at start.
        _key = Import(text) ?? throw new InvalidOperationException("Gerbil:ConfigSigningKey is not an Ed25519 private key");
        PublicKey = Convert.ToBase64String(_key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    /// <summary>What to give each gerbil as REMOTE_CONFIG_SIGNING_KEY; null when answers are not signed.</summary>
    public string? PublicKey { get; }

    /// <summary>The header value for <paramref name="body"/>; null when no key is configured.</summary>
    public string? Sign(ReadOnlySpan<byte> body) => _key is null ? null : Convert.ToBase64String(SignatureAlgorithm.Ed25519.Sign(_key, body));

    /// <summary>A new key pair in the formats the two sides take: (Gerbil:ConfigSigningKey, REMOTE_CONFIG_SIGNING_KEY).</summary>
    public static (string PrivateKey, string PublicKey) Generate()
    {
        using var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return (Convert.ToBase64String(key.Export(KeyBlobFormat.RawPrivateKey)), Convert.ToBase64String(key.PublicKey.Export(KeyBlobFormat.RawPublicKey)));
    }

    /// <summary>The key in base64 of its 32-byte seed, or in PEM; null when it is neither.</summary>
    public static Key? Import(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        if (trimmed.StartsWith("-----BEGIN", StringComparison.Ordinal))
        {
            return Key.TryImport(SignatureAlgorithm.Ed25519, Encoding.ASCII.GetBytes(trimmed), KeyBlobFormat.PkixPrivateKeyText, out var pem) ? pem : null;
        }
        Span<byte> seed = stackalloc byte[64];
        try
        {
            return Convert.TryFromBase64String(trimmed, seed, out var length) && length == 32
                && Key.TryImport(SignatureAlgorithm.Ed25519, seed[..length], KeyBlobFormat.RawPrivateKey, out var raw) ? raw : null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    public void Dispose() => _key?.Dispose();
}
