using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;

namespace Pangolin.Server.ControlChannel.Handlers;

/// <summary>
/// <c>newt/healthcheck/status</c>: the state of every check the newt runs, sent on each change and on reconnect.
/// Only checks of targets on the sender's own site are written: a newt cannot mark another site's targets.
/// </summary>
internal sealed class HealthStatusHandler(PangolinDbContext db) : INewtMessageHandler
{
    private static readonly HashSet<string> States = [HealthStates.Healthy, HealthStates.Unhealthy, HealthStates.Unknown];

    public async Task HandleAsync(NewtConnection connection, WsMessage message, CancellationToken ct)
    {
        var data = message.GetData(ProtocolJsonContext.Default.HealthStatusData);
        if (data is null || data.Targets.Count == 0)
        {
            return;
        }
        var ids = data.Targets.Keys.ToList();
        var owned = await (
            from h in db.TargetHealthChecks
            join t in db.Targets on h.TargetId equals t.TargetId
            where ids.Contains(h.TargetHealthCheckId) && t.SiteId == connection.SiteId
            select h).ToListAsync(ct);
        foreach (var check in owned)
        {
            var status = data.Targets[check.TargetHealthCheckId].Status;
            check.HcHealth = States.Contains(status) ? status : HealthStates.Unknown;
        }
        await db.SaveChangesAsync(ct);
    }
}
