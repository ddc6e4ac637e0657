using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.ControlChannel;

namespace Pangolin.Server.Sites;

/// <summary>
/// Tells connected newts about changes to their targets, after the change is committed: a target as
/// <c>newt/tcp|udp/add|remove</c> with its health check, a change to a whole resource as <c>newt/sync</c>. Every
/// message raises the newt's configuration version, so one that misses a message (reconnecting) catches up with a
/// sync on its next ping. A newt that is not connected gets the whole state when it comes back.
/// </summary>
public sealed class SiteNotifier(PangolinDbContext db, ConnectionRegistry registry)
{
    public async Task TargetAddedAsync(int siteId, NewtConfigBuilder.NewtTarget target, HealthCheckConfig? check, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (await NewtIdAsync(siteId, ct) is not { } newtId)
        {
            return;
        }
        registry.Send(newtId, target.Protocol == "udp" ? MessageTypes.NewtUdpAdd : MessageTypes.NewtTcpAdd,
            new TargetData { Targets = [target.Wire] }, ProtocolJsonContext.Default.TargetData, incrementVersion: true);
        if (check is { HcEnabled: true })
        {
            registry.Send(newtId, MessageTypes.NewtHealthCheckAdd, new HealthCheckAddData { Targets = [check] },
                ProtocolJsonContext.Default.HealthCheckAddData, incrementVersion: true);
        }
    }

    public async Task TargetRemovedAsync(int siteId, NewtConfigBuilder.NewtTarget target, int? healthCheckId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (await NewtIdAsync(siteId, ct) is not { } newtId)
        {
            return;
        }
        registry.Send(newtId, target.Protocol == "udp" ? MessageTypes.NewtUdpRemove : MessageTypes.NewtTcpRemove,
            new TargetData { Targets = [target.Wire] }, ProtocolJsonContext.Default.TargetData, incrementVersion: true);
        if (healthCheckId is { } id)
        {
            registry.Send(newtId, MessageTypes.NewtHealthCheckRemove, new HealthCheckRemoveData { Ids = [id] },
                ProtocolJsonContext.Default.HealthCheckRemoveData, incrementVersion: true);
        }
    }

    /// <summary>The sites a resource's targets live on (read before the resource changes or goes).</summary>
    public Task<List<int>> SitesOfResourceAsync(int resourceId, CancellationToken ct) =>
        db.Targets.AsNoTracking().Where(t => t.ResourceId == resourceId).Select(t => t.SiteId).Distinct().ToListAsync(ct);

    /// <summary>Sends each connected newt of these sites its whole state, as it now is in the database.</summary>
    public async Task SyncAsync(IEnumerable<int> siteIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(siteIds);
        foreach (var siteId in siteIds.Distinct())
        {
            if (await NewtIdAsync(siteId, ct) is not { } newtId)
            {
                continue;
            }
            var config = await NewtConfigBuilder.BuildAsync(db, siteId, ct);
            registry.Send(newtId, MessageTypes.NewtSync, new SyncData { ProxyTargets = config.ByType, HealthCheckTargets = config.HealthChecks },
                ProtocolJsonContext.Default.SyncData, incrementVersion: true);
        }
    }

    private async Task<string?> NewtIdAsync(int siteId, CancellationToken ct)
    {
        var newtId = await db.Newts.AsNoTracking().Where(n => n.SiteId == siteId).Select(n => n.NewtId).FirstOrDefaultAsync(ct);
        return newtId is not null && registry.IsConnected(newtId) ? newtId : null;
    }
}
