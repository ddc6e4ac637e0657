using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Apis;

namespace Pangolin.Server.Sites;

/// <summary>
/// What a site's newt must serve, read from the database: the target strings per protocol and the health checks.
/// One builder for <c>newt/wg/connect</c>, <c>newt/sync</c> and the deltas, so that they can never disagree.
/// </summary>
public static class NewtConfigBuilder
{
    /// <summary>A target as newt knows it: the listener's protocol and port, and where it forwards.</summary>
    public sealed record NewtTarget(int TargetId, string Protocol, int InternalPort, string Host, int Port)
    {
        public string Wire => TargetString.Format(InternalPort, Host, Port);
    }

    public sealed record SiteConfig(IReadOnlyList<NewtTarget> Targets, IReadOnlyList<HealthCheckConfig> HealthChecks)
    {
        public TargetsByType ByType => new()
        {
            Tcp = [.. Targets.Where(t => t.Protocol == "tcp").Select(t => t.Wire)],
            Udp = [.. Targets.Where(t => t.Protocol == "udp").Select(t => t.Wire)],
        };
    }

    public static async Task<SiteConfig> BuildAsync(PangolinDbContext db, int siteId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        var rows = await (
            from t in db.Targets.AsNoTracking()
            join r in db.Resources.AsNoTracking() on t.ResourceId equals r.ResourceId
            where t.SiteId == siteId && t.Enabled && r.Enabled && t.InternalPort != null
            orderby t.TargetId
            select new { Target = t, r.Http, r.Protocol, Health = db.TargetHealthChecks.FirstOrDefault(h => h.TargetId == t.TargetId) })
            .ToListAsync(ct);
        var targets = rows.Select(x => ToNewtTarget(x.Target, x.Http, x.Protocol)).ToList();
        var checks = rows.Where(x => x.Health is { HcEnabled: true }).Select(x => ToHealthCheck(x.Target, x.Health!)).ToList();
        return new SiteConfig(targets, checks);
    }

    /// <summary>HTTP resources travel over TCP; raw resources name their protocol.</summary>
    public static NewtTarget ToNewtTarget(Target target, bool http, string protocol)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new NewtTarget(target.TargetId, http ? "tcp" : protocol, target.InternalPort ?? 0, target.Ip, target.Port);
    }

    public static HealthCheckConfig ToHealthCheck(Target target, TargetHealthCheck h)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(h);
        return new HealthCheckConfig
        {
            Id = h.TargetHealthCheckId,
            HcEnabled = h.HcEnabled,
            HcPath = h.HcPath ?? "",
            HcScheme = h.HcScheme ?? "",
            HcMode = h.HcMode ?? "",
            HcHostname = h.HcHostname ?? target.Ip,
            HcPort = h.HcPort ?? target.Port,
            HcInterval = h.HcInterval ?? 30,
            HcUnhealthyInterval = h.HcUnhealthyInterval ?? h.HcInterval ?? 30,
            HcTimeout = h.HcTimeout ?? 5,
            HcHeaders = h.HcHeaders is null ? null : Headers(h.HcHeaders),
            HcFollowRedirects = h.HcFollowRedirects,
            HcMethod = h.HcMethod ?? "",
            HcStatus = h.HcStatus ?? 0,
            HcTlsServerName = h.HcTlsServerName ?? "",
            HcHealthyThreshold = h.HcHealthyThreshold ?? 1,
            HcUnhealthyThreshold = h.HcUnhealthyThreshold ?? 1,
        };
    }

    /// <summary>Stored as a list of name/value pairs (the API's shape); newt takes a map.</summary>
    private static Dictionary<string, string> Headers(string json)
    {
        var list = JsonSerializer.Deserialize<List<ResourceApi.HeaderDto>>(json, JsonSerializerOptions.Web) ?? [];
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var header in list)
        {
            map[header.Name] = header.Value;
        }
        return map;
    }
}
