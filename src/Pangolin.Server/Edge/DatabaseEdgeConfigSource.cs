using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Pangolin.Data;
using Pangolin.Edge;
using Pangolin.Server.Configuration;
using Pangolin.Server.Sites;

namespace Pangolin.Server.Edge;

/// <summary>
/// The edge's routes, read from the database: loaded before the server takes requests, reloaded shortly after any
/// write to the tables they come from (<see cref="EdgeChangeSignal"/>) and every half minute in case a change came
/// from elsewhere (another node, a hand edit), and published only when they really changed.
/// </summary>
public sealed partial class DatabaseEdgeConfigSource : IEdgeConfigSource, IHostedService, IDisposable
{
    private static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Periodic = TimeSpan.FromSeconds(30);

    private readonly IServiceScopeFactory _scopes;
    private readonly EmbeddedExitNode _embedded;
    private readonly IOptionsMonitor<FlagsOptions> _flags;
    private readonly ILogger<DatabaseEdgeConfigSource> _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private CancellationTokenSource _changed = new();
    private EdgeSnapshot _current = EdgeSnapshot.Empty;
    private string _fingerprint = "";
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public DatabaseEdgeConfigSource(IServiceScopeFactory scopes, EmbeddedExitNode embedded, EdgeChangeSignal signal,
        IOptionsMonitor<FlagsOptions> flags, ILogger<DatabaseEdgeConfigSource> logger)
    {
        ArgumentNullException.ThrowIfNull(signal);
        _scopes = scopes;
        _embedded = embedded;
        _flags = flags;
        _logger = logger;
        signal.Subscribe(Invalidate);
    }

    public EdgeSnapshot Current => Volatile.Read(ref _current);

    public IChangeToken GetChangeToken() => new CancellationChangeToken(Volatile.Read(ref _changed).Token);

    /// <summary>Asks for a reload soon; many calls in a burst make one reload.</summary>
    public void Invalidate()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Another call got there first: one reload is pending either way.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Reloads now and publishes the routes if they changed; what tests and the periodic check call.</summary>
    public async Task ReloadAsync(CancellationToken ct)
    {
        await _reloading.WaitAsync(ct);
        try
        {
            var snapshot = await LoadAsync(ct);
            var fingerprint = JsonSerializer.Serialize(snapshot with { Version = 0 });
            if (fingerprint == _fingerprint)
            {
                return;
            }
            _fingerprint = fingerprint;
            Volatile.Write(ref _current, snapshot with { Version = _current.Version + 1 });
            var previous = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
            previous.Cancel();
            LogPublished(_logger, snapshot.HttpResources.Count, snapshot.RawResources.Count);
        }
        finally
        {
            _reloading.Release();
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await ReloadAsync(cancellationToken);
        _loop = Task.Run(RunAsync, CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            return; // a host whose start failed disposes its services, and a later StopAsync must not throw
        }
        await _stopping.CancelAsync();
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public void Dispose()
    {
        // Registered under three service types, so disposed up to three times.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _stopping.Cancel();
        _stopping.Dispose();
        _wake.Dispose();
        _reloading.Dispose();
    }

    private async Task RunAsync()
    {
        var ct = _stopping.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(Periodic, ct);
                await Task.Delay(Coalesce, ct);
                await ReloadAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or TimeoutException)
            {
                // The last good routes keep serving; the next change or the periodic check tries again.
                LogReloadFailed(_logger, e);
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task<EdgeSnapshot> LoadAsync(CancellationToken ct)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var resources = await db.Resources.AsNoTracking().Where(r => r.Enabled).OrderBy(r => r.ResourceId).ToListAsync(ct);
        var targets = await (
            from t in db.Targets.AsNoTracking()
            join s in db.Sites.AsNoTracking() on t.SiteId equals s.SiteId
            where t.Enabled
            orderby t.TargetId
            select new { Target = t, s.Type, s.Online, s.Subnet, s.ExitNodeId }).ToListAsync(ct);
        var unhealthy = (await db.TargetHealthChecks.AsNoTracking()
            .Where(h => h.HcEnabled && h.HcHealth == "unhealthy").Select(h => h.TargetId).ToListAsync(ct)).ToHashSet();
        var rules = (await db.ResourceRules.AsNoTracking().Where(r => r.Enabled).OrderBy(r => r.Priority).ThenBy(r => r.RuleId).ToListAsync(ct))
            .ToLookup(r => r.ResourceId, r => new EdgeRule(r.RuleId, r.Priority, r.Action, r.Match, r.Value, r.Method));
        var passwords = (await db.ResourcePasswords.AsNoTracking().Select(p => p.ResourceId).ToListAsync(ct)).ToHashSet();
        var pincodes = (await db.ResourcePincodes.AsNoTracking().Select(p => p.ResourceId).ToListAsync(ct)).ToHashSet();
        var headerAuths = (await db.ResourceHeaderAuths.AsNoTracking().Select(h => new { h.ResourceId, h.ExtendedCompatibility }).ToListAsync(ct))
            .GroupBy(h => h.ResourceId).ToDictionary(g => g.Key, g => g.Any(h => h.ExtendedCompatibility));

        var byResource = targets.ToLookup(t => t.Target.ResourceId);
        var http = new List<EdgeHttpResource>();
        var raw = new List<EdgeRawResource>();
        foreach (var resource in resources)
        {
            // Targets that can take traffic: reachable from here, not unhealthy, and (upstream's rule) on an online
            // site whenever any of the resource's sites is online.
            var candidates = byResource[resource.ResourceId]
                .Where(t => !unhealthy.Contains(t.Target.TargetId) && Reachable(t.Type, t.Subnet, t.ExitNodeId, t.Target.InternalPort))
                .ToList();
            if (candidates.Any(t => t.Online || t.Type == "local"))
            {
                candidates = [.. candidates.Where(t => t.Online || t.Type == "local")];
            }
            var access = new EdgeAccessPolicy(
                resource.BlockAccess, resource.ApplyRules, [.. rules[resource.ResourceId]], resource.Sso,
                passwords.Contains(resource.ResourceId), pincodes.Contains(resource.ResourceId), resource.EmailWhitelistEnabled,
                headerAuths.ContainsKey(resource.ResourceId), headerAuths.GetValueOrDefault(resource.ResourceId));
            if (resource.Http)
            {
                if (string.IsNullOrWhiteSpace(resource.FullDomain))
                {
                    continue;
                }
                http.Add(new EdgeHttpResource(
                    resource.ResourceId, resource.ResourceGuid, resource.OrgId, resource.FullDomain.Trim().ToLowerInvariant(), resource.Ssl,
                    access, NullIfEmpty(resource.SetHostHeader), NullIfEmpty(resource.TlsServerName), resource.StickySession,
                    ParseHeaders(resource.Headers),
                    [.. candidates.Select(t => new EdgeHttpTarget(t.Target.TargetId, t.Target.Method ?? "http", t.Target.Path, t.Target.PathMatchType,
                        t.Target.RewritePath, t.Target.RewritePathType, t.Target.Priority))]));
            }
            else if (_flags.CurrentValue.AllowRawResources && resource.EnableProxy && resource.ProxyPort is { } port)
            {
                raw.Add(new EdgeRawResource(resource.ResourceId, resource.Protocol, port,
                    resource.ProxyProtocol ? resource.ProxyProtocolVersion ?? 1 : null, resource.BlockAccess, resource.ApplyRules,
                    access.Rules, [.. candidates.Select(t => t.Target.TargetId)]));
            }
        }
        return new EdgeSnapshot(0, http, raw);
    }

    private bool Reachable(string siteType, string? subnet, int? exitNodeId, int? internalPort) => siteType switch
    {
        "local" => true,
        "newt" => subnet is not null && internalPort is not null && exitNodeId == _embedded.ExitNodeId,
        _ => false,
    };

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    /// <summary>The resource's headers, stored as upstream does: a JSON array of {name, value}; anything else is none.</summary>
    internal static IReadOnlyList<KeyValuePair<string, string>> ParseHeaders(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return [];
        }
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return [];
            }
            var headers = new List<KeyValuePair<string, string>>();
            foreach (var item in document.RootElement.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.Object
                    && item.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                    && item.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String
                    && name.GetString() is { Length: > 0 } n)
                {
                    headers.Add(new(n, value.GetString()!));
                }
            }
            return headers;
        }
        catch (JsonException)
        {
            return [];
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Edge routes published: {Http} HTTP resources, {Raw} raw resources")]
    private static partial void LogPublished(ILogger logger, int http, int raw);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Edge routes could not be reloaded; the previous ones stay")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);
}
