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

namespace Pangolin.Server.Edge;

/// <summary>
/// The edge's secrets, from the database: HTTP Basic credentials (Argon2id hashes, as what a person types), share-link
/// tokens and resource sessions (SHA-256 of random tokens), compared in constant time. Failures count against the
/// client's address in the <c>RateLimits:Secrets</c> window; a client over it is refused before any check. A success is
/// remembered briefly (Basic credentials 30 s, sessions 5 s, as upstream caches its lookups) so that Argon2id and the
/// database are not paid on every request. Platform sessions are checked against the user's grants each time they
/// are looked up, so a revoked grant or a signed-out user stops working within that memory.
/// </summary>
public sealed class ResourceAccessService(
    IServiceScopeFactory scopes,
    PasswordHasher hasher,
    SecretBudget budget,
    IOptionsMonitor<ServerOptions> server,
    TimeProvider time) : IResourceAccess
{
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
        if (budget.IsSpent(client.ToString()))
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
        budget.Fail(client.ToString());
        return AccessResult.Invalid;
    }

    public async ValueTask<AccessGrant> RedeemAccessTokenAsync(int resourceId, string tokenId, string token, bool createSession, IPAddress client, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tokenId);
        ArgumentNullException.ThrowIfNull(token);
        if (budget.IsSpent(client.ToString()))
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
            budget.Fail(client.ToString());
            return AccessGrant.Invalid;
        }
        if (!createSession)
        {
            return new AccessGrant(AccessResult.Valid);
        }
        var (sessionExpires, lengthMs, cookieExpires) = ResourceSignIn.ShareLinkSession(row, now, TimeSpan.FromHours(server.CurrentValue.ResourceSessionLengthHours));
        var sessionToken = Secrets.Token(48);
        db.ResourceSessions.Add(new ResourceSession
        {
            SessionId = Secrets.Sha256Hex(sessionToken),
            ResourceId = resourceId,
            ExpiresAt = sessionExpires,
            SessionLength = lengthMs,
            DoNotExtend = true,
            AccessTokenId = row.AccessTokenId,
        });
        await db.SaveChangesAsync(ct);
        return new AccessGrant(AccessResult.Valid, sessionToken, cookieExpires);
    }

    public async ValueTask<SessionCheck> CheckSessionAsync(EdgeHttpResource resource, string sessionToken, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(sessionToken);
        var resourceId = resource.ResourceId;
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
        // A session counts only while the way it was made still does: the method on and its secret unchanged (a new
        // password or PIN is a new row), the share link or list entry not deleted, the platform user still allowed.
        // The database decides, not the routes' snapshot, which may lag a change by a moment.
        var check = session switch
        {
            { UserSessionId: { } userSessionId } => await db.Resources.AnyAsync(r => r.ResourceId == resourceId && r.Sso, ct)
                ? await PlatformSessionAsync(scope, db, resource, userSessionId, utcNow, ct)
                : SessionCheck.No,
            { AccessTokenId: { } tokenId } => Check(await db.ResourceAccessTokens.AnyAsync(t => t.AccessTokenId == tokenId && t.ResourceId == resourceId, ct)),
            { PasswordId: { } passwordId } => Check(await db.ResourcePasswords.AnyAsync(p => p.PasswordId == passwordId && p.ResourceId == resourceId, ct)),
            { PincodeId: { } pincodeId } => Check(await db.ResourcePincodes.AnyAsync(p => p.PincodeId == pincodeId && p.ResourceId == resourceId, ct)),
            { WhitelistId: { } entryId } => Check(await db.ResourceWhitelists.AnyAsync(w => w.WhitelistId == entryId && w.ResourceId == resourceId, ct)
                && await db.Resources.AnyAsync(r => r.ResourceId == resourceId && r.EmailWhitelistEnabled, ct)),
            _ => SessionCheck.No,
        };
        if (check.Valid)
        {
            Remember(_validSessions, key, (now + SessionMemory, check));
        }
        return check;
    }

    public async ValueTask<AccessGrant> ExchangeRequestTokenAsync(int resourceId, string requestToken, IPAddress client, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(requestToken);
        if (budget.IsSpent(client.ToString()))
        {
            return AccessGrant.RateLimited;
        }
        await using var scope = scopes.CreateAsyncScope();
        var grant = requestToken.Length is > 0 and <= 256
            ? await scope.ServiceProvider.GetRequiredService<ResourceSignIn>().ExchangeAsync(resourceId, requestToken, ct)
            : AccessGrant.Invalid;
        if (grant.Result != AccessResult.Valid)
        {
            budget.Fail(client.ToString());
        }
        return grant;
    }

    public async ValueTask EndSessionAsync(int resourceId, string sessionToken, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sessionToken);
        _validSessions.TryRemove((resourceId, Secrets.Sha256Hex(sessionToken)), out _);
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<ResourceSignIn>().EndSessionAsync(resourceId, sessionToken, ct);
    }

    private static SessionCheck Check(bool valid) => valid ? new SessionCheck(true) : SessionCheck.No;

    private static async Task<SessionCheck> PlatformSessionAsync(AsyncServiceScope scope, PangolinDbContext db, EdgeHttpResource resource,
        string userSessionId, DateTime now, CancellationToken ct)
    {
        var userId = await db.Sessions.AsNoTracking().Where(s => s.SessionId == userSessionId && s.ExpiresAt > now).Select(s => s.UserId).FirstOrDefaultAsync(ct);
        if (userId is null)
        {
            return SessionCheck.No;
        }
        var identity = await scope.ServiceProvider.GetRequiredService<ResourceSignIn>().UserIdentityAsync(userId, resource.ResourceId, resource.OrgId, ct);
        return identity is null ? SessionCheck.No : new SessionCheck(true, identity);
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
