using OtpNet;

namespace Pangolin.Server.Auth;

/// <summary>TOTP (RFC 6238, 30 s steps, 6 digits) with Otp.NET, on the injected clock.</summary>
public sealed class TwoFactor(TimeProvider time)
{
    public const string Issuer = "Pangolin";
    public const int BackupCodeCount = 10;

    public static string NewSecret() => Base32Encoding.ToString(KeyGeneration.GenerateRandomKey(20));

    public static string Uri(string secret, string account) =>
        $"otpauth://totp/{System.Uri.EscapeDataString(Issuer)}:{System.Uri.EscapeDataString(account)}?secret={secret}&issuer={System.Uri.EscapeDataString(Issuer)}&algorithm=SHA1&digits=6&period=30";

    /// <summary>
    /// Checks a code one step either side of now (clock drift); returns the matched step, which must be
    /// newer than the last one used, so that an observed code cannot be replayed.
    /// </summary>
    public long? Verify(string secret, string code, long? lastUsedStep)
    {
        code = code.Trim().Replace(" ", "", StringComparison.Ordinal);
        if (code.Length != 6 || !code.All(char.IsAsciiDigit))
        {
            return null;
        }
        var totp = new Totp(Base32Encoding.ToBytes(secret));
        if (!totp.VerifyTotp(time.GetUtcNow().UtcDateTime, code, out var step, new VerificationWindow(previous: 1, future: 1)))
        {
            return null;
        }
        return lastUsedStep is { } last && step <= last ? null : step;
    }

    /// <summary>The code for a moment (tests and tooling).</summary>
    public static string Code(string secret, DateTime utc) => new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(utc);

    /// <summary>Backup codes: 10 characters from an unambiguous alphabet, shown once.</summary>
    public static string NewBackupCode() =>
        System.Security.Cryptography.RandomNumberGenerator.GetString("abcdefghjkmnpqrstuvwxyz23456789", 10);
}
