using System.Security.Cryptography;
using System.Text;

namespace Pangolin.Server.Auth;

/// <summary>
/// Encrypts the few stored secrets that must be read back (TOTP seeds) with a key derived from the server secret:
/// HKDF-SHA256 → ChaCha20-Poly1305, stored as "v1:" + base64(nonce ‖ ciphertext ‖ tag).
/// </summary>
public sealed class SecretProtector
{
    private const string Prefix = "v1:";
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private readonly byte[] _key;
    private readonly byte[] _macKey;

    public SecretProtector(string serverSecret)
    {
        ArgumentException.ThrowIfNullOrEmpty(serverSecret);
        _key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(serverSecret), 32,
            salt: Encoding.UTF8.GetBytes("pangolin-dotnet"), info: Encoding.UTF8.GetBytes("stored-secrets v1"));
        _macKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(serverSecret), 32,
            salt: Encoding.UTF8.GetBytes("pangolin-dotnet"), info: Encoding.UTF8.GetBytes("mac v1"));
    }

    /// <summary>An HMAC-SHA256 of <paramref name="value"/> for one purpose (base64url): proof that this server made a value.</summary>
    public string Mac(string purpose, string value)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        ArgumentNullException.ThrowIfNull(value);
        var mac = HMACSHA256.HashData(_macKey, Encoding.UTF8.GetBytes(purpose + "\n" + value));
        return Convert.ToBase64String(mac).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    public string Protect(string plaintext)
    {
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[NonceBytes + plain.Length + TagBytes];
        var nonce = output.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aead = new ChaCha20Poly1305(_key);
        aead.Encrypt(nonce, plain, output.AsSpan(NonceBytes, plain.Length), output.AsSpan(NonceBytes + plain.Length), Encoding.ASCII.GetBytes(Prefix));
        return Prefix + Convert.ToBase64String(output);
    }

    /// <summary>Decrypts a value made by <see cref="Protect"/>; throws <see cref="CryptographicException"/> if the key is wrong.</summary>
    public string Unprotect(string protectedValue)
    {
        if (!protectedValue.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new CryptographicException("The stored secret is not in a known format.");
        }
        var input = Convert.FromBase64String(protectedValue[Prefix.Length..]);
        if (input.Length < NonceBytes + TagBytes)
        {
            throw new CryptographicException("The stored secret is truncated.");
        }
        var cipherLength = input.Length - NonceBytes - TagBytes;
        var plain = new byte[cipherLength];
        using var aead = new ChaCha20Poly1305(_key);
        aead.Decrypt(input.AsSpan(0, NonceBytes), input.AsSpan(NonceBytes, cipherLength), input.AsSpan(NonceBytes + cipherLength), plain, Encoding.ASCII.GetBytes(Prefix));
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>A value stored in the database to detect a server secret that does not match the data.</summary>
    public string CheckValue() => Protect("pangolin-server-secret-check");

    public bool Verifies(string checkValue)
    {
        try
        {
            return Unprotect(checkValue) == "pangolin-server-secret-check";
        }
        catch (CryptographicException)
        {
            return false;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
