using System.Collections.Concurrent;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Edge;
using Pangolin.Edge.Badger;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Edge;

/// <summary>
/// The edge's secrets, from the database: HTTP Basic credentials (Argon2id hashes, as what a person types), share-link
/// tokens and resource sessions (SHA-256 of random tokens), compared in constant time. Failures count against the
/// client's address in the <c>RateLimits:Secrets</c> window; a client over it is refused before any check. A success is
/// remembered briefly (Basic credentials 30 s, sessions 5 s, as upstream caches its lookups) so that Argon2id and the
/// database are not paid on every request.
/// </summary>
public sealed class ResourceAccessService(
    IServiceScopeFactory scopes,
    PasswordHasher hasher,
    IRateLimiter limiter,
    IOptionsMonitor<RateLimitOptions> limits,
    IOptionsMonitor<ServerOptions> server,
    TimeProvider time) : IResourceAccess
{
    private const string Scope = "edge-secret";
    private static readonly TimeSpan HeaderAuthMemory = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan SessionMemory = TimeSpan.FromSeconds(5);
    private const int MemoryLimit = 10_000;

    private readonly ConcurrentDictionary<(int ResourceId, string Hash), DateTimeOffset> _validCredentials = new();
    private readonly ConcurrentDictionary<(int ResourceId, string Hash), (DateTimeOffset Until, SessionCheck Check)> _validSessions = new();

    public async ValueTask<AccessResult> CheckHeaderAuthAsync(int resourceId, string credential, IPAddress client, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(credential);
        var now = time.GetUtcNow();
        var key = (resourceId, Secrets.Sha256Hex(credential));
        if (_validCredentials.TryGetValue(key, out var until) && until > now)
        {
            return AccessResult.Valid;
        }
        if (OverBudget(client))
        {
            return AccessResult.RateLimited;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var hashes = await db.ResourceHeaderAuths.AsNoTracking().Where(h => h.ResourceId == resourceId).Select(h => h.HeaderAuthHash).ToListAsync(ct);
        foreach (var hash in hashes)
        {
            if (await hasher.VerifyAsync(credential, hash, ct))
            {
                Remember(_validCredentials, key, now + HeaderAuthMemory);
                return AccessResult.Valid;
            }
        }
        if (hashes.Count == 0)
        {
            await hasher.DummyVerifyAsync(credential, ct);
        }
        Fail(client);
        return AccessResult.Invalid;
    }

    public async ValueTask<AccessGrant> RedeemAccessTokenAsync(int resourceId, string tokenId, string token, bool createSession, IPAddress client, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tokenId);
        ArgumentNullException.ThrowIfNull(token);
        if (OverBudget(client))
        {
            return AccessGrant.RateLimited;
        }
        var now = time.GetUtcNow().UtcDateTime;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var row = tokenId.Length is > 0 and <= 64
            ? await db.ResourceAccessTokens.AsNoTracking().FirstOrDefaultAsync(t => t.AccessTokenId == tokenId && t.ResourceId == resourceId, ct)
            : null;
        // Compared even when no row was found, so that timing does not tell which token ids exist.
        var matches = Secrets.MatchesSha256(token, row?.TokenHash ?? new string('0', 64));
        if (row is null || !matches || (row.ExpiresAt is { } expires && expires <= now))
        {
            Fail(client);
            return AccessGrant.Invalid;
        }
        if (!createSession)
        {
            return new AccessGrant(AccessResult.Valid);
        }
        // The session lives as long as the link says (or the default) and never past the link's own expiry.
        var length = row.SessionLength is { } ms && ms > 0
            ? TimeSpan.FromMilliseconds(ms)
            : TimeSpan.FromHours(server.CurrentValue.ResourceSessionLengthHours);
        var sessionExpires = now + length;
        if (row.ExpiresAt is { } linkExpires && linkExpires < sessionExpires)
        {
            sessionExpires = linkExpires;
        }
        var sessionToken = Secrets.Token(48);
        db.ResourceSessions.Add(new ResourceSession
        {
            SessionId = Secrets.Sha256Hex(sessionToken),
            ResourceId = resourceId,
            ExpiresAt = sessionExpires,
            SessionLength = (long)length.TotalMilliseconds,
            DoNotExtend = true,
            AccessTokenId = row.AccessTokenId,
        });
        await db.SaveChangesAsync(ct);
        return new AccessGrant(AccessResult.Valid, sessionToken,
            row.PersistSession || row.ExpiresAt is not null ? new DateTimeOffset(sessionExpires, TimeSpan.Zero) : null);
    }

    public async ValueTask<SessionCheck> CheckSessionAsync(int resourceId, string sessionToken, EdgeAccessPolicy policy, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sessionToken);
        ArgumentNullException.ThrowIfNull(policy);
        var now = time.GetUtcNow();
        var key = (resourceId, Secrets.Sha256Hex(sessionToken));
        if (_validSessions.TryGetValue(key, out var known) && known.Until > now)
        {
            return known.Check;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var utcNow = now.UtcDateTime;
        var session = await db.ResourceSessions.AsNoTracking()
            .FirstOrDefaultAsync(s => s.SessionId == key.Item2 && s.ResourceId == resourceId && s.ExpiresAt > utcNow, ct);
        if (session is null || session.IsRequestToken)
        {
            return SessionCheck.No;
        }
        // A session counts only while the way it was made still does: the method on, the share link not deleted.
        var valid = session switch
        {
            { AccessTokenId: { } tokenId } => await db.ResourceAccessTokens.AsNoTracking().AnyAsync(t => t.AccessTokenId == tokenId && t.ResourceId == resourceId, ct),
            { PasswordId: not null } => policy.HasPassword,
            { PincodeId: not null } => policy.HasPincode,
            { WhitelistId: not null } => policy.EmailWhitelist,
            // Platform (SSO) sessions need the user's grants, checked with the sign-in pages (issue 6, step E3).
            _ => false,
        };
        var check = valid ? new SessionCheck(true) : SessionCheck.No;
        if (valid)
        {
            Remember(_validSessions, key, (now + SessionMemory, check));
        }
        return check;
    }

    private bool OverBudget(IPAddress client) =>
        limits.CurrentValue.Enabled && !limiter.TryPeek(Scope, client.ToString(), limits.CurrentValue.Secrets, out _);

    private void Fail(IPAddress client)
    {
        if (limits.CurrentValue.Enabled)
        {
            limiter.TryAcquire(Scope, client.ToString(), limits.CurrentValue.Secrets, out _);
        }
    }

    private static void Remember<TValue>(ConcurrentDictionary<(int, string), TValue> memory, (int, string) key, TValue value)
    {
        if (memory.Count >= MemoryLimit)
        {
            memory.Clear(); // a bound, not an eviction policy: losing it only costs one more check each
        }
        memory[key] = value;
    }
}
