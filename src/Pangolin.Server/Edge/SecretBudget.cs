using Microsoft.Extensions.Options;
using Pangolin.Server.Configuration;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Edge;

/// <summary>
/// One failure budget per client address for every guessable resource secret (Basic credentials, share links,
/// passwords, PINs, e-mail codes, request tokens), shared by the edge and the sign-in pages so that guessing one
/// way does not buy fresh tries another way. Only failures count; a client over the budget is refused before any
/// check (<c>RateLimits:Secrets</c>).
/// </summary>
public sealed class SecretBudget(IRateLimiter limiter, IOptionsMonitor<RateLimitOptions> limits)
{
    private const string Scope = "edge-secret";

    /// <summary>True when the client has spent its budget; <paramref name="retryAfter"/> says for how long.</summary>
    public bool IsSpent(string client, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        return limits.CurrentValue.Enabled && !limiter.TryPeek(Scope, client, limits.CurrentValue.Secrets, out retryAfter);
    }

    public bool IsSpent(string client) => IsSpent(client, out _);

    public void Fail(string client)
    {
        if (limits.CurrentValue.Enabled)
        {
            limiter.TryAcquire(Scope, client, limits.CurrentValue.Secrets, out _);
        }
    }
}
