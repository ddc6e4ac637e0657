using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Pangolin.Server.Auth;

/// <summary>
/// Argon2id (libsodium through NSec) for secrets a person types: passwords, PINs, backup and e-mail codes.
/// Hashes are PHC strings — <c>$argon2id$v=19$m=19456,t=2,p=1$salt$hash</c> — the format and cost parameters
/// recommended by OWASP (m=19 MiB, t=2, p=1).
/// </summary>
public sealed class PasswordHasher : IDisposable
{
    /// <summary>OWASP's first Argon2id configuration: 19 MiB, 2 passes, 1 lane.</summary>
    public static readonly Argon2Cost DefaultCost = new(MemoryKib: 19456, Passes: 2, Lanes: 1);

    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    // Each hash holds 19 MiB for its duration; bounding concurrency bounds memory under a login flood.
    private readonly SemaphoreSlim _gate = new(Math.Max(2, Environment.ProcessorCount * 2));

    public PasswordHasher() : this(DefaultCost) { }

    public PasswordHasher(Argon2Cost cost) => Cost = cost;

    public Argon2Cost Cost { get; }

    public void Dispose() => _gate.Dispose();

    public async Task<string> HashAsync(string secret, CancellationToken cancellationToken = default)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = await DeriveAsync(secret, salt, Cost, HashBytes, cancellationToken);
        return string.Create(CultureInfo.InvariantCulture,
            $"$argon2id$v=19$m={Cost.MemoryKib},t={Cost.Passes},p={Cost.Lanes}${B64(salt)}${B64(hash)}");
    }

    /// <summary>Checks a secret against a PHC string in constant time; a malformed stored hash never matches.</summary>
    public async Task<bool> VerifyAsync(string secret, string? phc, CancellationToken cancellationToken = default)
    {
        if (phc is null || !TryParse(phc, out var cost, out var salt, out var expected))
        {
            return false;
        }
        var actual = await DeriveAsync(secret, salt, cost, expected.Length, cancellationToken);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>Spends the same time as a real verification, so that an unknown account cannot be told from a wrong password.</summary>
    public Task DummyVerifyAsync(string secret, CancellationToken cancellationToken = default) =>
        DeriveAsync(secret, new byte[SaltBytes], Cost, HashBytes, cancellationToken);

    public static bool NeedsRehash(string phc, Argon2Cost current) =>
        !TryParse(phc, out var cost, out _, out _) || cost != current;

    private async Task<byte[]> DeriveAsync(string secret, byte[] salt, Argon2Cost cost, int length, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var algorithm = PasswordBasedKeyDerivationAlgorithm.Argon2id(new Argon2Parameters
            {
                DegreeOfParallelism = cost.Lanes,
                MemorySize = cost.MemoryKib,
                NumberOfPasses = cost.Passes,
            });
            return algorithm.DeriveBytes(Encoding.UTF8.GetBytes(secret), salt, length);
        }
        finally
        {
            _gate.Release();
        }
    }

    internal static bool TryParse(string phc, out Argon2Cost cost, out byte[] salt, out byte[] hash)
    {
        cost = default;
        salt = [];
        hash = [];
        // "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
        var parts = phc.Split('$');
        if (parts.Length != 6 || parts[0].Length != 0 || parts[1] != "argon2id" || parts[2] != "v=19")
        {
            return false;
        }
        int m = 0, t = 0, p = 0;
        foreach (var kv in parts[3].Split(','))
        {
            var eq = kv.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0 || !int.TryParse(kv.AsSpan(eq + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                return false;
            }
            switch (kv[..eq])
            {
                case "m": m = v; break;
                case "t": t = v; break;
                case "p": p = v; break;
                default: return false;
            }
        }
        // libsodium computes a single lane; bound memory and passes so a tampered row cannot exhaust the host.
        if (m is < 8 or > 1 << 21 || t is < 1 or > 16 || p != 1)
        {
            return false;
        }
        if (!TryB64(parts[4], out salt) || !TryB64(parts[5], out hash) || salt.Length != SaltBytes || hash.Length is < 16 or > 64)
        {
            return false;
        }
        cost = new Argon2Cost(m, t, p);
        return true;
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=');

    private static bool TryB64(string s, out byte[] bytes)
    {
        bytes = [];
        var padded = s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');
        var buffer = new byte[padded.Length];
        if (!Convert.TryFromBase64String(padded, buffer, out var written))
        {
            return false;
        }
        bytes = buffer[..written];
        return true;
    }
}

/// <summary>Argon2id cost: memory in KiB, passes (t) and lanes (p).</summary>
public readonly record struct Argon2Cost(int MemoryKib, int Passes, int Lanes);
