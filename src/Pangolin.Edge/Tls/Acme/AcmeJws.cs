using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Pangolin.Edge.Tls.Acme;

/// <summary>
/// The JOSE pieces ACME needs: base64url (RFC 7515 §2: no padding), the JWK of a P-256 key, its thumbprint
/// (RFC 7638) and ES256-signed flattened JWS messages (RFC 8555 §6.2).
/// </summary>
internal static class AcmeJws
{
    public const string Es256 = "ES256";

    // RFC 7518 §6.2.1.1 names the curve "P-256"; .NET reports it by OID or by one of two friendly names.
    private const string P256Oid = "1.2.840.10045.3.1.7";

    public static string Base64UrlEncode(ReadOnlySpan<byte> data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    public static string Base64UrlEncode(string text) => Base64UrlEncode(Encoding.UTF8.GetBytes(text));

    public static byte[] Base64UrlDecode(string text) => System.Buffers.Text.Base64Url.DecodeFromChars(text);

    public static bool IsP256(ECDsa key)
    {
        var curve = key.ExportParameters(includePrivateParameters: false).Curve;
        return curve.IsNamed && (curve.Oid.Value == P256Oid
            || curve.Oid.FriendlyName is "nistP256" or "ECDSA_P256" or "secp256r1");
    }

    /// <summary>The public JWK of a P-256 key (RFC 7518 §6.2.1): x and y are the full 32-byte coordinates.</summary>
    public static AcmeJwk Jwk(ECDsa key)
    {
        var p = key.ExportParameters(includePrivateParameters: false);
        return new AcmeJwk("P-256", "EC", Base64UrlEncode(p.Q.X), Base64UrlEncode(p.Q.Y));
    }

    /// <summary>The RFC 7638 thumbprint of a P-256 key: SHA-256 over its required members in canonical form.</summary>
    public static string Thumbprint(ECDsa key)
    {
        var jwk = Jwk(key);
        return Thumbprint([("crv", jwk.Crv), ("kty", jwk.Kty), ("x", jwk.X), ("y", jwk.Y)]);
    }

    /// <summary>
    /// RFC 7638 §3: the required members only, sorted by name in code-point order, written as JSON without
    /// whitespace, hashed with SHA-256 and base64url-encoded. Any key type's members can be passed.
    /// </summary>
    public static string Thumbprint(IEnumerable<(string Name, string Value)> requiredMembers)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in requiredMembers.OrderBy(m => m.Name, StringComparer.Ordinal))
            {
                writer.WriteString(name, value);
            }
            writer.WriteEndObject();
        }
        return Base64UrlEncode(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
    }

    /// <summary>The key authorization of RFC 8555 §8.1: <c>token || '.' || base64url(JWK thumbprint)</c>.</summary>
    public static string KeyAuthorization(string token, string thumbprint) => token + "." + thumbprint;

    /// <summary>The TXT record value of RFC 8555 §8.4: base64url(SHA-256(key authorization)).</summary>
    public static string Dns01TxtValue(string keyAuthorization) =>
        Base64UrlEncode(SHA256.HashData(Encoding.UTF8.GetBytes(keyAuthorization)));

    /// <summary>
    /// A flattened JWS (RFC 7515 §7.2.2) over <paramref name="payload"/>; an empty payload is the POST-as-GET of
    /// RFC 8555 §6.3. The ES256 signature is R || S, each 32 bytes (RFC 7518 §3.4), not DER.
    /// </summary>
    public static byte[] Sign(ECDsa key, AcmeProtectedHeader header, ReadOnlySpan<byte> payload)
    {
        var encodedHeader = Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(header, AcmeJsonContext.Default.AcmeProtectedHeader));
        var encodedPayload = payload.IsEmpty ? "" : Base64UrlEncode(payload);
        var signature = key.SignData(
            Encoding.ASCII.GetBytes(encodedHeader + "." + encodedPayload),
            HashAlgorithmName.SHA256,
            DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var message = new AcmeJwsMessage(encodedHeader, encodedPayload, Base64UrlEncode(signature));
        return JsonSerializer.SerializeToUtf8Bytes(message, AcmeJsonContext.Default.AcmeJwsMessage);
    }
}
