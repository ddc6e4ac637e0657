using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Sites;

namespace Pangolin.Server.ControlChannel.Handlers;

/// <summary>
/// <c>newt/ping/request</c>: the exit nodes a newt may choose from, with their load as a weight (upstream's
/// <c>(max − sites)/max</c>); offline and full nodes are left out.
/// </summary>
internal sealed class PingRequestHandler(PangolinDbContext db, ConnectionRegistry registry, EmbeddedExitNode embedded) : INewtMessageHandler
{
    public async Task HandleAsync(NewtConnection connection, WsMessage message, CancellationToken ct)
    {
        var request = message.GetData(ProtocolJsonContext.Default.PingRequestData) ?? new PingRequestData();
        var currentNode = await db.Sites.AsNoTracking().Where(s => s.SiteId == connection.SiteId).Select(s => s.ExitNodeId).FirstOrDefaultAsync(ct);
        var nodes = await OnlineNodesAsync(db, embedded, ct);
        var load = await db.Sites.AsNoTracking().Where(s => s.Online && s.ExitNodeId != null)
            .GroupBy(s => s.ExitNodeId!.Value).Select(g => new { Node = g.Key, Sites = g.Count() })
            .ToDictionaryAsync(x => x.Node, x => x.Sites, ct);
        var candidates = new List<ExitNodeCandidate>();
        foreach (var node in nodes)
        {
            var sites = load.GetValueOrDefault(node.ExitNodeId);
            if (node.MaxConnections is { } max && sites >= max && node.ExitNodeId != currentNode)
            {
                continue;
            }
            candidates.Add(new ExitNodeCandidate
            {
                ExitNodeId = node.ExitNodeId,
                ExitNodeName = node.Name,
                Endpoint = node.Endpoint,
                Weight = node.MaxConnections is { } m and > 0 ? Math.Max(0, (m - sites) / (double)m) : 1,
                WasPreviouslyConnected = node.ExitNodeId == currentNode,
            });
        }
        registry.Reply(connection, MessageTypes.NewtPingExitNodes, new ExitNodesData { ExitNodes = candidates, ChainId = request.ChainId },
            ProtocolJsonContext.Default.ExitNodesData);
    }

    /// <summary>
    /// Remote nodes by their row; the embedded one by whether it runs in this process, which is the truth (its row can
    /// lag, e.g. a stopping instance marking it offline after this one started).
    /// </summary>
    internal static async Task<List<Pangolin.Data.Entities.ExitNode>> OnlineNodesAsync(PangolinDbContext db, EmbeddedExitNode embedded, CancellationToken ct)
    {
        var running = embedded.Runtime is not null ? embedded.ExitNodeId : null;
        return await db.ExitNodes.AsNoTracking()
            .Where(n => n.PublicKey != null && (n.Embedded ? n.ExitNodeId == running : n.Online))
            .OrderBy(n => n.ExitNodeId).ToListAsync(ct);
    }
}
