using System.Security.Cryptography;
using System.Text;

namespace Pangolin.Gerbil.Api;

/// <summary>
/// CONTROL_API_TOKEN as upstream gerbil checks it (fosrl/gerbil main.go, requireControlAuth): an
/// <c>Authorization</c> header of the form <c>Bearer &lt;token&gt;</c>, the scheme in any case.
/// </summary>
internal sealed class BearerToken(string token)
{
    // Both sides are hashed first, so the constant-time comparison sees equal lengths and reveals nothing about the
    // token's length either.
    private readonly byte[] _expectedHash = SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public bool Admits(string? authorization)
    {
        if (authorization is null)
        {
            return false;
        }
        var space = authorization.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0 || !authorization.AsSpan(0, space).Equals("Bearer", StringComparison.OrdinalIgnoreCase) || space == authorization.Length - 1)
        {
            return false;
        }
        var presentedHash = SHA256.HashData(Encoding.UTF8.GetBytes(authorization[(space + 1)..]));
        return CryptographicOperations.FixedTimeEquals(presentedHash, _expectedHash);
    }
}
