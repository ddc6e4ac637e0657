using System.Text.Json;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Operations;

/// <summary>
/// Records every successful state change made through the API (who, which action, on which ids) in the action
/// audit log. Route values only: bodies may carry secrets and are never stored.
/// </summary>
internal sealed class AuditMiddleware(RequestDelegate next, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext context, PangolinDbContext db)
    {
        await next(context);
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
            || context.Response.StatusCode >= 400
            || context.GetEndpoint()?.Metadata.GetMetadata<AccessRule>() is not { } rule
            || context.Features.Get<Caller>() is not { } caller)
        {
            return;
        }
        var ids = context.Request.RouteValues
            .Where(kv => kv.Value is string)
            .ToDictionary(kv => kv.Key, kv => (string)kv.Value!);
        db.ChangeTracker.Clear();
        db.ActionAuditLogs.Add(new ActionAuditLog
        {
            Timestamp = time.GetUtcNow().UtcDateTime,
            OrgId = caller.OrgId ?? (ids.TryGetValue("orgId", out var orgId) ? orgId : null),
            ActorType = caller.Kind == CallerKind.User ? "user" : "apiKey",
            ActorId = caller.ActorId,
            Actor = caller.Email,
            Action = rule.Action ?? $"{method} {context.GetEndpoint()?.DisplayName}",
            Metadata = ids.Count == 0 ? null : JsonSerializer.Serialize(ids),
            Ip = context.Connection.RemoteIpAddress?.ToString(),
            Status = context.Response.StatusCode,
        });
        await db.SaveChangesAsync(CancellationToken.None);
    }
}
