using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;

namespace Pangolin.Server.Auth;

/// <summary>What the integration API needs to know about a key on every request.</summary>
public sealed record ApiKeyGrant(string ApiKeyId, string Hash, bool IsRoot, IReadOnlySet<string> Actions, IReadOnlySet<string> Orgs, DateTime? LastUsedAt)
{
    public DateTime LoadedAt { get; init; }
}

/// <summary>
/// Keeps API keys, their actions and their orgs in memory, so an authenticated integration request costs no
/// database round trip for authorization. Changes made through this server take effect at once (the API
/// invalidates the entry); changes made elsewhere (another node, the admin CLI) within <see cref="Lifetime"/>.
/// </summary>
public sealed class ApiKeyCache(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, ApiKeyGrant> _keys = new(StringComparer.Ordinal);

    public async Task<ApiKeyGrant?> GetAsync(PangolinDbContext db, string apiKeyId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        var now = time.GetUtcNow().UtcDateTime;
        if (_keys.TryGetValue(apiKeyId, out var cached) && now - cached.LoadedAt < Lifetime)
        {
            return cached;
        }
        var row = await db.ApiKeys.AsNoTracking().Where(k => k.ApiKeyId == apiKeyId)
            .Select(k => new
            {
                k.ApiKeyHash,
                k.IsRoot,
                k.LastUsedAt,
                Actions = db.ApiKeyActions.Where(a => a.ApiKeyId == k.ApiKeyId).Select(a => a.ActionId).ToList(),
                Orgs = db.ApiKeyOrgs.Where(o => o.ApiKeyId == k.ApiKeyId).Select(o => o.OrgId).ToList(),
            })
            .AsSplitQuery()
            .FirstOrDefaultAsync(ct);
        if (row is null)
        {
            _keys.TryRemove(apiKeyId, out _);
            return null;
        }
        var grant = new ApiKeyGrant(apiKeyId, row.ApiKeyHash, row.IsRoot, row.Actions.ToHashSet(StringComparer.Ordinal),
            row.Orgs.ToHashSet(StringComparer.Ordinal), row.LastUsedAt) { LoadedAt = now };
        _keys[apiKeyId] = grant;
        return grant;
    }

    /// <summary>Notes a use that was written to the database, so the next write waits its turn.</summary>
    public void Touched(string apiKeyId, DateTime when)
    {
        if (_keys.TryGetValue(apiKeyId, out var cached))
        {
            _keys.TryUpdate(apiKeyId, cached with { LastUsedAt = when }, cached);
        }
    }

    public void Invalidate(string apiKeyId) => _keys.TryRemove(apiKeyId, out _);

    /// <summary>Forgets every key (an org was deleted: its keys' org links went with it).</summary>
    public void Clear() => _keys.Clear();
}
