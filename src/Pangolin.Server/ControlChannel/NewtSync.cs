using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Sites;

namespace Pangolin.Server.ControlChannel;

/// <summary>Sends a newt the whole state of its site (<c>newt/sync</c>), which it reconciles its listeners against.</summary>
public static class NewtSync
{
    /// <summary>Our newt names itself with this agent; it understands sync whatever its version number.</summary>
    public const string OurAgent = "pangolin-dotnet-newt";

    /// <summary>Upstream newts before 1.14.0 do not understand <c>newt/sync</c>.</summary>
    private static readonly Version FirstWithSync = new(1, 14, 0);

    /// <summary>Sends the sync when the site has a tunnel and its newt understands it; false otherwise.</summary>
    public static async Task<bool> SendAsync(PangolinDbContext db, ConnectionRegistry registry, NewtConnection connection, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(connection);
        var state = await (
            from s in db.Sites.AsNoTracking()
            join n in db.Newts.AsNoTracking() on s.SiteId equals n.SiteId
            where s.SiteId == connection.SiteId && n.NewtId == connection.NewtId
            select new { s.PubKey, s.Subnet, n.Version, n.Agent })
            .FirstOrDefaultAsync(ct);
        // Before its first registration a newt has no tunnel and no listeners: wg/connect brings the targets.
        if (state?.PubKey is null || state.Subnet is null || !UnderstandsSync(state.Version, state.Agent))
        {
            return false;
        }
        var config = await NewtConfigBuilder.BuildAsync(db, connection.SiteId, ct);
        var data = new SyncData { ProxyTargets = config.ByType, HealthCheckTargets = config.HealthChecks };
        return registry.Reply(connection, MessageTypes.NewtSync, data, ProtocolJsonContext.Default.SyncData);
    }

    internal static bool UnderstandsSync(string? version, string? agent) =>
        agent == OurAgent || version is null || !System.Version.TryParse(version.TrimStart('v').Split('-')[0], out var parsed) || parsed >= FirstWithSync;
}
