using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Apis;

/// <summary>The action audit log: who changed what in an org (upstream keeps it for paying customers; here it is free).</summary>
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

    public static RouteGroupBuilder MapAuditApi(this RouteGroupBuilder api)
    {
        api.MapGet("/org/{orgId}/logs/action", ListAsync).WithTags("Logs").RequireOrgAction(ActionIds.ViewLogs);
        return api;
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
