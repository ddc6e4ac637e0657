using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Auth;
using Pangolin.Server.Sites;

namespace Pangolin.Server.Apis;

/// <summary>Targets: where a resource's traffic goes, with path matching, rewriting and a health check.</summary>
public static class TargetApi
{
    /// <summary>The fields of a target and its health check; on create absent means default, on update absent means unchanged.</summary>
    public sealed record TargetRequest : IValidatableObject
    {
        [NonNull, IntRange(1, int.MaxValue)]
        public Optional<int> SiteId { get; init; }

        [NonNull, HostOrIp, TextLength(1, 253)]
        public Optional<string> Ip { get; init; }

        [NonNull, IntRange(1, 65535)]
        public Optional<int> Port { get; init; }

        [OneOf("http", "https", "h2c")]
        public Optional<string?> Method { get; init; }

        [OneOf("http", "tcp", "udp", "ssh", "rdp", "vnc")]
        public Optional<string?> Mode { get; init; }

        [NonNull]
        public Optional<bool> Enabled { get; init; }

        [TextLength(1, 2048)]
        public Optional<string?> Path { get; init; }

        [OneOf("exact", "prefix", "regex")]
        public Optional<string?> PathMatchType { get; init; }

        [TextLength(0, 2048)]
        public Optional<string?> RewritePath { get; init; }

        [OneOf("exact", "prefix", "regex", "stripPrefix")]
        public Optional<string?> RewritePathType { get; init; }

        [IntRange(1, 1000)]
        public Optional<int?> Priority { get; init; }

        [NonNull]
        public Optional<bool> HcEnabled { get; init; }

        [TextLength(1, 2048)]
        public Optional<string?> HcPath { get; init; }

        [OneOf("http", "https")]
        public Optional<string?> HcScheme { get; init; }

        [OneOf("http", "tcp")]
        public Optional<string?> HcMode { get; init; }

        [HostOrIp]
        public Optional<string?> HcHostname { get; init; }

        [IntRange(1, 65535)]
        public Optional<int?> HcPort { get; init; }

        [IntRange(1, 86400)]
        public Optional<int?> HcInterval { get; init; }

        [IntRange(1, 86400)]
        public Optional<int?> HcUnhealthyInterval { get; init; }

        [IntRange(1, 3600)]
        public Optional<int?> HcTimeout { get; init; }

        public Optional<List<ResourceApi.HeaderDto>?> HcHeaders { get; init; }

        public Optional<bool?> HcFollowRedirects { get; init; }

        [OneOf("GET", "HEAD", "POST", "PUT", "OPTIONS")]
        public Optional<string?> HcMethod { get; init; }

        [IntRange(100, 599)]
        public Optional<int?> HcStatus { get; init; }

        [DomainName]
        public Optional<string?> HcTlsServerName { get; init; }

        [IntRange(1, 100)]
        public Optional<int?> HcHealthyThreshold { get; init; }

        [IntRange(1, 100)]
        public Optional<int?> HcUnhealthyThreshold { get; init; }
        public bool Any() => GetType().GetProperties().Any(p => p.GetValue(this) is IOptionalValue { IsSet: true });

        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (HcHeaders is { IsSet: true, Value: { } headers })
            {
                for (var i = 0; i < headers.Count; i++)
                {
                    if (ResourceApi.HeaderCheck(headers[i]) is { } problem)
                    {
                        yield return new ValidationResult(problem, [$"{nameof(HcHeaders)}[{i}]"]);
                    }
                }
            }
        }
    }

    public sealed record TargetDto(
        int TargetId, int ResourceId, int SiteId, string Ip, string? Method, int Port, int? InternalPort, bool Enabled,
        string? Path, string? PathMatchType, string? RewritePath, string? RewritePathType, int Priority,
        bool HcEnabled, string? HcPath, string? HcScheme, string? HcMode, string? HcHostname, int? HcPort, int? HcInterval,
        int? HcUnhealthyInterval, int? HcTimeout, IReadOnlyList<ResourceApi.HeaderDto>? HcHeaders, bool? HcFollowRedirects,
        string? HcMethod, int? HcStatus, string HcHealth, string? HcTlsServerName, int? HcHealthyThreshold, int? HcUnhealthyThreshold,
        string? SiteName, string? SiteType, string? SiteNiceId);

    public sealed record TargetList(IReadOnlyList<TargetDto> Targets, Pagination Pagination);

    private static TargetDto ToDto(Target t, TargetHealthCheck h, Site? site) => new(
        t.TargetId, t.ResourceId, t.SiteId, t.Ip, t.Method, t.Port, t.InternalPort, t.Enabled, t.Path, t.PathMatchType, t.RewritePath,
        t.RewritePathType, t.Priority, h.HcEnabled, h.HcPath, h.HcScheme, h.HcMode, h.HcHostname, h.HcPort, h.HcInterval,
        h.HcUnhealthyInterval, h.HcTimeout, h.HcHeaders is null ? null : JsonSerializer.Deserialize<List<ResourceApi.HeaderDto>>(h.HcHeaders, JsonSerializerOptions.Web),
        h.HcFollowRedirects, h.HcMethod, h.HcStatus, h.HcHealth, h.HcTlsServerName, h.HcHealthyThreshold, h.HcUnhealthyThreshold,
        site?.Name, site?.Type, site?.NiceId);

    public static RouteGroupBuilder MapTargetApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("").WithTags("Targets");
        g.MapPut("/resource/{resourceId}/target", CreateAsync).RequireOrgAction(ActionIds.CreateTarget);
        g.MapGet("/resource/{resourceId}/targets", ListAsync).RequireOrgAction(ActionIds.ListTargets);
        g.MapGet("/target/{targetId}", GetAsync).RequireOrgAction(ActionIds.GetTarget);
        g.MapPost("/target/{targetId}", UpdateAsync).RequireOrgAction(ActionIds.UpdateTarget);
        g.MapDelete("/target/{targetId}", DeleteAsync).RequireOrgAction(ActionIds.DeleteTarget);
        return api;
    }

    private static async Task<IResult> CreateAsync(int resourceId, TargetRequest request, Caller caller, PangolinDbContext db, SiteNotifier notifier, CancellationToken ct)
    {
        var missing = new[] { (request.SiteId.IsSet, "siteId"), (request.Ip.IsSet, "ip"), (request.Port.IsSet, "port") }
            .Where(f => !f.IsSet).Select(f => f.Item2).ToList();
        if (missing.Count > 0)
        {
            throw ApiException.BadRequest("Validation error: " + string.Join("; ", missing.Select(m => $"{m} is required at \"{m}\"")));
        }
        var resource = await db.Resources.AsNoTracking().FirstAsync(r => r.ResourceId == resourceId, ct);
        var target = new Target { ResourceId = resourceId, Ip = "", Method = resource.Http ? "http" : null };
        var health = new TargetHealthCheck();
        Apply(request, target, health);
        var site = await CheckAsync(db, caller, resource, target, health, ct);
        await SaveWithInternalPortAsync(db, site, target, async () =>
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            db.Targets.Add(target);
            await db.SaveChangesAsync(ct);
            health.TargetId = target.TargetId;
            db.TargetHealthChecks.Add(health);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }, ct);
        if (IsLive(target, resource))
        {
            await notifier.TargetAddedAsync(site.SiteId, NewtConfigBuilder.ToNewtTarget(target, resource.Http, resource.Protocol),
                NewtConfigBuilder.ToHealthCheck(target, health), ct);
        }
        return Api.Created(ToDto(target, health, site), "Target created successfully");
    }

    /// <summary>Whether the target's newt should be listening for it.</summary>
    private static bool IsLive(Target target, Resource resource) => target.Enabled && resource.Enabled && target.InternalPort is not null;

    /// <summary>
    /// Gives a target on a newt site its port inside the tunnel, then saves; another target taking the same port at
    /// the same moment (the unique index) makes it choose again.
    /// </summary>
    private static async Task SaveWithInternalPortAsync(PangolinDbContext db, Site site, Target target, Func<Task> save, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (site.Type == "newt" && (target.InternalPort is null || attempt > 1))
            {
                var used = (await db.Targets.AsNoTracking().Where(t => t.SiteId == site.SiteId && t.InternalPort != null && t.TargetId != target.TargetId)
                    .Select(t => t.InternalPort!.Value).ToListAsync(ct)).ToHashSet();
                target.InternalPort = InternalPortAllocator.Next(used, Random.Shared)
                    ?? throw ApiException.Conflict("The site has no free internal port left (every port from 40000 to 65535 is taken)");
            }
            else if (site.Type != "newt")
            {
                target.InternalPort = null;
            }
            try
            {
                await save();
                return;
            }
            catch (DbUpdateException) when (attempt < 3 && site.Type == "newt")
            {
                foreach (var entry in db.ChangeTracker.Entries().Where(e => e.State == EntityState.Added))
                {
                    entry.State = EntityState.Detached;
                }
                target.TargetId = 0;
            }
        }
    }

    private static async Task<IResult> ListAsync(int resourceId, [AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var rows = db.Targets.AsNoTracking().Where(t => t.ResourceId == resourceId)
            .OrderBy(t => t.Priority).ThenBy(t => t.TargetId)
            .Select(t => new
            {
                Target = t,
                Health = db.TargetHealthChecks.FirstOrDefault(h => h.TargetId == t.TargetId),
                Site = db.Sites.FirstOrDefault(s => s.SiteId == t.SiteId),
            });
        var (items, pagination) = await query.ApplyAsync(rows, ct);
        return Api.Ok(new TargetList(items.Select(x => ToDto(x.Target, x.Health ?? new TargetHealthCheck(), x.Site)).ToList(), pagination), "Targets retrieved");
    }

    private static async Task<IResult> GetAsync(int targetId, PangolinDbContext db, CancellationToken ct)
    {
        var target = await db.Targets.AsNoTracking().FirstAsync(t => t.TargetId == targetId, ct);
        var health = await db.TargetHealthChecks.AsNoTracking().FirstOrDefaultAsync(h => h.TargetId == targetId, ct) ?? new TargetHealthCheck();
        var site = await db.Sites.AsNoTracking().FirstOrDefaultAsync(s => s.SiteId == target.SiteId, ct);
        return Api.Ok(ToDto(target, health, site), "Target retrieved");
    }

    private static async Task<IResult> UpdateAsync(int targetId, TargetRequest request, Caller caller, PangolinDbContext db, SiteNotifier notifier, CancellationToken ct)
    {
        if (!request.Any())
        {
            throw ApiException.BadRequest("Validation error: at least one field is required");
        }
        var target = await db.Targets.FirstAsync(t => t.TargetId == targetId, ct);
        var health = await db.TargetHealthChecks.FirstOrDefaultAsync(h => h.TargetId == targetId, ct);
        if (health is null)
        {
            health = new TargetHealthCheck { TargetId = targetId };
            db.TargetHealthChecks.Add(health);
        }
        var resource = await db.Resources.AsNoTracking().FirstAsync(r => r.ResourceId == target.ResourceId, ct);
        var (oldSite, wasLive) = (target.SiteId, IsLive(target, resource));
        var oldTarget = NewtConfigBuilder.ToNewtTarget(target, resource.Http, resource.Protocol);
        var oldCheck = NewtConfigBuilder.ToHealthCheck(target, health);
        Apply(request, target, health);
        var site = await CheckAsync(db, caller, resource, target, health, ct);
        if (target.SiteId != oldSite)
        {
            target.InternalPort = null; // a port belongs to its site's newt
        }
        await SaveWithInternalPortAsync(db, site, target, () => db.SaveChangesAsync(ct), ct);

        var newTarget = NewtConfigBuilder.ToNewtTarget(target, resource.Http, resource.Protocol);
        var newCheck = NewtConfigBuilder.ToHealthCheck(target, health);
        var isLive = IsLive(target, resource);
        if (wasLive != isLive || oldTarget != newTarget || !SameCheck(oldCheck, newCheck))
        {
            if (wasLive)
            {
                await notifier.TargetRemovedAsync(oldSite, oldTarget, oldCheck.HcEnabled ? oldCheck.Id : null, ct);
            }
            if (isLive)
            {
                await notifier.TargetAddedAsync(target.SiteId, newTarget, newCheck, ct);
            }
        }
        return Api.Ok(ToDto(target, health, site), "Target updated successfully");
    }

    private static bool SameCheck(HealthCheckConfig a, HealthCheckConfig b) =>
        JsonSerializer.Serialize(a, ProtocolJsonContext.Default.HealthCheckConfig) == JsonSerializer.Serialize(b, ProtocolJsonContext.Default.HealthCheckConfig);

    private static async Task<IResult> DeleteAsync(int targetId, PangolinDbContext db, SiteNotifier notifier, CancellationToken ct)
    {
        var target = await db.Targets.AsNoTracking().FirstAsync(t => t.TargetId == targetId, ct);
        var resource = await db.Resources.AsNoTracking().FirstAsync(r => r.ResourceId == target.ResourceId, ct);
        var health = await db.TargetHealthChecks.AsNoTracking().FirstOrDefaultAsync(h => h.TargetId == targetId, ct);
        await db.Targets.Where(t => t.TargetId == targetId).ExecuteDeleteAsync(ct);
        if (IsLive(target, resource))
        {
            await notifier.TargetRemovedAsync(target.SiteId, NewtConfigBuilder.ToNewtTarget(target, resource.Http, resource.Protocol),
                health is { HcEnabled: true } ? health.TargetHealthCheckId : null, ct);
        }
        return Api.Done("Target deleted successfully");
    }

    private static void Apply(TargetRequest r, Target t, TargetHealthCheck h)
    {
        t.SiteId = r.SiteId.Or(t.SiteId);
        t.Ip = r.Ip.Or(t.Ip);
        t.Port = r.Port.Or(t.Port);
        t.Method = r.Method.Or(t.Method);
        t.Enabled = r.Enabled.Or(t.Enabled);
        t.Path = r.Path.Or(t.Path);
        t.PathMatchType = r.PathMatchType.Or(t.PathMatchType);
        t.RewritePath = r.RewritePath.Or(t.RewritePath);
        t.RewritePathType = r.RewritePathType.Or(t.RewritePathType);
        t.Priority = r.Priority.IsSet ? r.Priority.Value ?? 100 : t.Priority;
        h.HcEnabled = r.HcEnabled.Or(h.HcEnabled);
        h.HcPath = r.HcPath.Or(h.HcPath);
        h.HcScheme = r.HcScheme.Or(h.HcScheme);
        h.HcMode = r.HcMode.Or(h.HcMode);
        h.HcHostname = r.HcHostname.Or(h.HcHostname);
        h.HcPort = r.HcPort.Or(h.HcPort);
        h.HcInterval = r.HcInterval.Or(h.HcInterval);
        h.HcUnhealthyInterval = r.HcUnhealthyInterval.Or(h.HcUnhealthyInterval);
        h.HcTimeout = r.HcTimeout.Or(h.HcTimeout);
        if (r.HcHeaders.IsSet)
        {
            h.HcHeaders = r.HcHeaders.Value is { } headers ? JsonSerializer.Serialize(headers, JsonSerializerOptions.Web) : null;
        }
        h.HcFollowRedirects = r.HcFollowRedirects.Or(h.HcFollowRedirects);
        h.HcMethod = r.HcMethod.Or(h.HcMethod);
        h.HcStatus = r.HcStatus.Or(h.HcStatus);
        h.HcTlsServerName = r.HcTlsServerName.Or(h.HcTlsServerName);
        h.HcHealthyThreshold = r.HcHealthyThreshold.Or(h.HcHealthyThreshold);
        h.HcUnhealthyThreshold = r.HcUnhealthyThreshold.Or(h.HcUnhealthyThreshold);
    }

    /// <summary>Checks the target as it will be stored, so that create and update share one set of rules.</summary>
    private static async Task<Site> CheckAsync(PangolinDbContext db, Caller caller, Resource resource, Target t, TargetHealthCheck h, CancellationToken ct)
    {
        var site = await Grants.VisibleSites(db, caller, db.Sites.AsNoTracking().Where(s => s.SiteId == t.SiteId && s.OrgId == resource.OrgId))
            .FirstOrDefaultAsync(ct) ?? throw ApiException.NotFound("Site not found");
        if (site.Type == "wireguard" && site.Subnet is not null && Syntax.TryParseCidr(site.Subnet, out var subnet)
            && (!Syntax.TryParseIp(t.Ip, out var ip) || !subnet.Contains(ip)))
        {
            throw ApiException.Invalid("ip", $"must lie inside the site's subnet {site.Subnet}");
        }
        if (resource.Http)
        {
            t.Method ??= "http";
        }
        else if (t.Method is not null)
        {
            throw ApiException.BadRequest("Validation error: method applies to HTTP resources only");
        }
        if (!resource.Http && (t.Path is not null || t.RewritePath is not null))
        {
            throw ApiException.BadRequest("Validation error: path matching applies to HTTP resources only");
        }
        if ((t.Path is null) != (t.PathMatchType is null))
        {
            throw ApiException.BadRequest("Validation error: path and pathMatchType go together; set both or neither");
        }
        if (t.PathMatchType == "regex" && !IsRegex(t.Path!))
        {
            throw ApiException.Invalid("path", "is not a valid regular expression");
        }
        if (t.PathMatchType is "exact" or "prefix" && !t.Path!.StartsWith('/'))
        {
            throw ApiException.Invalid("path", "must start with '/'");
        }
        if (t.RewritePathType is not null && t.RewritePathType != "stripPrefix" && t.RewritePath is null)
        {
            throw ApiException.Invalid("rewritePath", "is required with rewritePathType " + t.RewritePathType);
        }
        if (t.RewritePath is not null && t.RewritePathType is null)
        {
            throw ApiException.Invalid("rewritePathType", "is required with rewritePath");
        }
        if (t.RewritePathType is not null && t.PathMatchType is null)
        {
            throw ApiException.BadRequest("Validation error: a rewrite needs a path match (path and pathMatchType)");
        }
        if (t.RewritePathType == "stripPrefix" && t.PathMatchType != "prefix")
        {
            throw ApiException.BadRequest("Validation error: stripPrefix needs pathMatchType prefix");
        }
        if (t.RewritePathType == "regex" && t.PathMatchType != "regex")
        {
            throw ApiException.BadRequest("Validation error: a regex rewrite needs pathMatchType regex");
        }
        if (h.HcEnabled)
        {
            // Upstream silently drops a health check without a host name (fosrl/pangolin#3314); default to the target.
            h.HcHostname ??= t.Ip;
            h.HcMode ??= resource.Http ? "http" : "tcp";
            h.HcScheme ??= h.HcMode == "http" ? "http" : null;
            h.HcPath ??= h.HcMode == "http" ? "/" : null;
            h.HcMethod ??= h.HcMode == "http" ? "GET" : null;
            h.HcInterval ??= 30;
            h.HcUnhealthyInterval ??= h.HcInterval;
            h.HcTimeout ??= 5;
            if (h.HcTimeout > h.HcInterval)
            {
                throw ApiException.Invalid("hcTimeout", "must not exceed hcInterval");
            }
            if (h.HcPath is not null && !h.HcPath.StartsWith('/'))
            {
                throw ApiException.Invalid("hcPath", "must start with '/'");
            }
        }
        return site;
    }

    private static bool IsRegex(string pattern)
    {
        try
        {
            _ = new Regex(pattern, RegexOptions.None, TimeSpan.FromMilliseconds(100));
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
