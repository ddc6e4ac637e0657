using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Apis;

/// <summary>
/// The action audit log (who changed what in an org) and the request log (the edge's access decisions); upstream keeps
/// them for paying customers, here they are free.
/// </summary>
public static class AuditApi
{
    public sealed record ActionLogEntry(long Id, DateTime Timestamp, string? OrgId, string ActorType, string ActorId, string? Actor,
        string Action, string? Metadata, string? Ip, int Status);

    public sealed record ActionLog(IReadOnlyList<ActionLogEntry> Log, Pagination Pagination);

    public sealed class ActionLogQuery
    {
        [FromQuery(Name = "timeStart")]
        public DateTime? TimeStart { get; init; }

        [FromQuery(Name = "timeEnd")]
        public DateTime? TimeEnd { get; init; }

        [FromQuery(Name = "action"), MaxLength(100)]
        public string? Action { get; init; }

        [FromQuery(Name = "actorId"), MaxLength(64)]
        public string? ActorId { get; init; }
    }

    public sealed record RequestLogEntry(long Id, DateTime Timestamp, string OrgId, int? ResourceId, bool Action, int Reason, string? ActorType,
        string? Actor, string? ActorId, string? Ip, string? Location, string? UserAgent, string? Scheme, string? Host, string? Path,
        string? Method, string? Query, bool Tls);

    public sealed record RequestLog(IReadOnlyList<RequestLogEntry> Log, Pagination Pagination);

    public sealed class RequestLogQuery
    {
        [FromQuery(Name = "timeStart")]
        public DateTime? TimeStart { get; init; }

        [FromQuery(Name = "timeEnd")]
        public DateTime? TimeEnd { get; init; }

        [FromQuery(Name = "resourceId")]
        public int? ResourceId { get; init; }

        /// <summary>true: allowed decisions only; false: denied ones only.</summary>
        [FromQuery(Name = "action")]
        public bool? Action { get; init; }

        [FromQuery(Name = "reason"), Range(100, 299)]
        public int? Reason { get; init; }

        [FromQuery(Name = "ip"), MaxLength(64)]
        public string? Ip { get; init; }

        [FromQuery(Name = "host"), MaxLength(253)]
        public string? Host { get; init; }

        [FromQuery(Name = "method"), MaxLength(16)]
        public string? Method { get; init; }

        /// <summary>Paths that start with this.</summary>
        [FromQuery(Name = "path"), MaxLength(2048)]
        public string? Path { get; init; }

        [FromQuery(Name = "location"), MaxLength(8)]
        public string? Location { get; init; }

        /// <summary>The signed-in user behind the request: their e-mail address or user id.</summary>
        [FromQuery(Name = "actor"), MaxLength(254)]
        public string? Actor { get; init; }
    }

    public static RouteGroupBuilder MapAuditApi(this RouteGroupBuilder api)
    {
        api.MapGet("/org/{orgId}/logs/action", ListAsync).WithTags("Logs").RequireOrgAction(ActionIds.ViewLogs);
        api.MapGet("/org/{orgId}/logs/request", ListRequestsAsync).WithTags("Logs").RequireOrgAction(ActionIds.ViewLogs);
        return api;
    }

    /// <summary>The edge's access decisions in an org, newest first, filtered.</summary>
    private static async Task<IResult> ListRequestsAsync(string orgId, [AsParameters] ListQuery query, [AsParameters] RequestLogQuery filter,
        PangolinDbContext db, CancellationToken ct)
    {
        var log = db.RequestAuditLogs.AsNoTracking().Where(l => l.OrgId == orgId);
        if (filter.TimeStart is { } start)
        {
            var s = start.ToUniversalTime();
            log = log.Where(l => l.Timestamp >= s);
        }
        if (filter.TimeEnd is { } end)
        {
            var e = end.ToUniversalTime();
            log = log.Where(l => l.Timestamp <= e);
        }
        if (filter.ResourceId is { } resourceId)
        {
            log = log.Where(l => l.ResourceId == resourceId);
        }
        if (filter.Action is { } allowed)
        {
            log = log.Where(l => l.Action == allowed);
        }
        if (filter.Reason is { } reason)
        {
            log = log.Where(l => l.Reason == reason);
        }
        if (filter.Ip is { } ip)
        {
            log = log.Where(l => l.Ip == ip);
        }
        if (filter.Host is { } host)
        {
            var h = host.ToLowerInvariant();
            log = log.Where(l => l.Host == h);
        }
        if (filter.Method is { } method)
        {
            var m = method.ToUpperInvariant();
            log = log.Where(l => l.Method == m);
        }
        if (filter.Path is { } path)
        {
            log = log.Where(l => l.Path != null && l.Path.StartsWith(path));
        }
        if (filter.Location is { } location)
        {
            var c = location.ToUpperInvariant();
            log = log.Where(l => l.Location == c);
        }
        if (filter.Actor is { } actor)
        {
            log = log.Where(l => l.Actor == actor || l.ActorId == actor);
        }
        var (items, pagination) = await query.ApplyAsync(log.OrderByDescending(l => l.Id)
            .Select(l => new RequestLogEntry(l.Id, l.Timestamp, l.OrgId, l.ResourceId, l.Action, l.Reason, l.ActorType, l.Actor, l.ActorId, l.Ip,
                l.Location, l.UserAgent, l.Scheme, l.Host, l.Path, l.Method, l.Query, l.Tls)), ct, 100);
        return Api.Ok(new RequestLog(items, pagination), "Request log retrieved");
    }

    private static async Task<IResult> ListAsync(string orgId, [AsParameters] ListQuery query, [AsParameters] ActionLogQuery filter,
        PangolinDbContext db, CancellationToken ct)
    {
        var log = db.ActionAuditLogs.AsNoTracking().Where(l => l.OrgId == orgId);
        if (filter.TimeStart is { } start)
        {
            var s = start.ToUniversalTime();
            log = log.Where(l => l.Timestamp >= s);
        }
        if (filter.TimeEnd is { } end)
        {
            var e = end.ToUniversalTime();
            log = log.Where(l => l.Timestamp <= e);
        }
        if (filter.Action is { } action)
        {
            log = log.Where(l => l.Action == action);
        }
        if (filter.ActorId is { } actor)
        {
            log = log.Where(l => l.ActorId == actor);
        }
        var (items, pagination) = await query.ApplyAsync(log.OrderByDescending(l => l.Id)
            .Select(l => new ActionLogEntry(l.Id, l.Timestamp, l.OrgId, l.ActorType, l.ActorId, l.Actor, l.Action, l.Metadata, l.Ip, l.Status)), ct, 100);
        return Api.Ok(new ActionLog(items, pagination), "Action log retrieved");
    }
}
