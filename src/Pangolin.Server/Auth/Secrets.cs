using System.Security.Cryptography;
using System.Text;

namespace Pangolin.Server.Auth;

/// <summary>Random ids and tokens, and the SHA-256 digests that random tokens are stored as.</summary>
public static class Secrets
{
    private const string LowerAlphanumeric = "abcdefghijklmnopqrstuvwxyz0123456789";
    private const string Alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>A random id of lowercase letters and digits (upstream's generateId alphabet).</summary>
    public static string Id(int length) => RandomNumberGenerator.GetString(LowerAlphanumeric, length);

    /// <summary>A random token of mixed-case letters and digits: about 5.95 bits per character.</summary>
    public static string Token(int length) => RandomNumberGenerator.GetString(Alphanumeric, length);

    /// <summary>A random string of decimal digits (PINs, e-mail codes).</summary>
    public static string Digits(int length) => RandomNumberGenerator.GetString("0123456789", length);

    /// <summary>hex(SHA-256(value)): how random tokens (sessions, API keys, invitations) are stored.</summary>
    public static string Sha256Hex(string value)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        var byteCount = Encoding.UTF8.GetByteCount(value);
        var buffer = byteCount <= 512 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(value, buffer);
        SHA256.HashData(buffer, digest);
        return Convert.ToHexStringLower(digest);
    }

    /// <summary>Compares two strings in time that depends only on their lengths.</summary>
    public static bool FixedTimeEquals(string? a, string? b)
    {
        if (a is null || b is null)
        {
            return false;
        }
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
    }

    /// <summary>Whether a presented token hashes to the stored digest, compared in constant time.</summary>
    public static bool MatchesSha256(string presented, string storedHex) => FixedTimeEquals(Sha256Hex(presented), storedHex);
}
