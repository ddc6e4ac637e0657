using System.Net;
using System.Net.Sockets;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Configuration;
using Pangolin.Server.Sites;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Server.ControlChannel.Handlers;

/// <summary>
/// <c>newt/wg/register</c>: the newt's key and its exit-node ping results. The server picks the node, gives the
/// site a block on it (kept across reconnects to the same node), puts the site's key on the node — before the
/// answer, so that the newt's first handshake finds it — and answers <c>newt/wg/connect</c> with everything the
/// newt needs to bring its tunnel and listeners up.
/// </summary>
internal sealed partial class RegisterHandler(
    PangolinDbContext db, ConnectionRegistry registry, ExitNodePeers peers, EmbeddedExitNode embedded, IOptions<GerbilOptions> gerbil,
    RegistrationLock registrations, ILogger<RegisterHandler> logger)
    : INewtMessageHandler
{
    private const int Attempts = 5;

    public async Task HandleAsync(NewtConnection connection, WsMessage message, CancellationToken ct)
    {
        var data = message.GetData(ProtocolJsonContext.Default.RegisterData);
        // Every newt sends a key-only register on connect for older servers; it must not start a registration.
        if (data is null || data.BackwardsCompatible == true || data.PublicKey.Length == 0)
        {
            return;
        }
        try
        {
            var key = WgKey.FromBase64(data.PublicKey);
            if (key.IsZero)
            {
                throw new FormatException();
            }
        }
        catch (FormatException)
        {
            throw new ProtocolException("publicKey is not a WireGuard public key (32 bytes in base64)");
        }

        // One registration of a site at a time, so that its key changes reach the node in the order they were made;
        // other sites go on meanwhile, even while a remote node is slow to answer.
        var siteGate = registrations.ForSite(connection.SiteId);
        await siteGate.WaitAsync(ct);
        try
        {
            Allocation? allocation = null;
            for (var attempt = 1; ; attempt++)
            {
                // One allocation at a time in this process: blocks are chosen by reading what is taken, and racing
                // readers would all pick the same one. The unique index still guards against other processes.
                await registrations.Gate.WaitAsync(ct);
                try
                {
                    allocation = await AllocateAsync(connection, data, ct);
                    break;
                }
                catch (DbUpdateException) when (attempt < Attempts)
                {
                    // Another site took the same block at the same moment (unique index): choose again.
                    db.ChangeTracker.Clear();
                }
                finally
                {
                    registrations.Gate.Release();
                }
            }
            if (allocation is not null)
            {
                await PublishAsync(connection, data, allocation, ct);
            }
        }
        finally
        {
            siteGate.Release();
        }
    }

    /// <summary>What a registration decided: the site (with its block and new key saved), its node, and its old key and node.</summary>
    private sealed record Allocation(Site Site, ExitNode Node, string? OldKey, int? OldNode);

    /// <summary>Chooses the node and the block and saves them with the key; null when the newt was told why not.</summary>
    private async Task<Allocation?> AllocateAsync(NewtConnection connection, RegisterData data, CancellationToken ct)
    {
        var site = await db.Sites.FirstAsync(s => s.SiteId == connection.SiteId, ct);
        var node = await ChooseNodeAsync(data.PingResults ?? [], site.ExitNodeId, ct);
        if (node is null)
        {
            registry.Reply(connection, MessageTypes.NewtError,
                new NewtErrorData { Code = "NO_EXIT_NODE", Message = "No exit node is online; try again later" }, ProtocolJsonContext.Default.NewtErrorData);
            return null;
        }
        var (oldKey, oldNode) = (site.PubKey, site.ExitNodeId);
        if (site.ExitNodeId != node.ExitNodeId || site.Subnet is null)
        {
            var subnet = await NextSubnetAsync(node, ct);
            if (subnet is null)
            {
                LogNoSubnet(logger, node.Name, connection.NewtId);
                registry.Reply(connection, MessageTypes.NewtError,
                    new NewtErrorData { Code = MessageTypes.ErrorCodeNoAvailableSubnet, Message = $"Exit node {node.Name} has no free subnet for this site" },
                    ProtocolJsonContext.Default.NewtErrorData);
                return null;
            }
            site.ExitNodeId = node.ExitNodeId;
            site.Subnet = subnet;
        }
        site.PubKey = data.PublicKey;
        var newt = await db.Newts.FirstAsync(n => n.NewtId == connection.NewtId, ct);
        newt.Version = data.NewtVersion ?? newt.Version;
        newt.Agent = data.Agent ?? newt.Agent;
        await db.SaveChangesAsync(ct);
        return new Allocation(site, node, oldKey, oldNode);
    }

    /// <summary>Moves the site's key on the nodes (the old one off), then answers <c>newt/wg/connect</c>.</summary>
    private async Task PublishAsync(NewtConnection connection, RegisterData data, Allocation allocation, CancellationToken ct)
    {
        var (site, node, oldKey, oldNode) = allocation;
        if (oldKey is not null && oldNode is not null && (oldKey != site.PubKey || oldNode != site.ExitNodeId))
        {
            await peers.RemoveAsync(oldNode.Value, oldKey, ct);
        }
        await peers.AddAsync(node.ExitNodeId, site.PubKey!, site.Subnet!, ct);

        var config = await NewtConfigBuilder.BuildAsync(db, site.SiteId, ct);
        registry.Reply(connection, MessageTypes.NewtWgConnect, new WgConnectData
        {
            Endpoint = FormatEndpoint(node.Endpoint, node.ListenPort),
            RelayPort = (ushort)gerbil.Value.ClientsStartPort,
            PublicKey = node.PublicKey ?? "",
            ServerIp = node.Address.Split('/')[0],
            TunnelIp = site.Subnet!.Split('/')[0],
            Targets = config.ByType,
            HealthCheckTargets = config.HealthChecks,
            ChainId = data.ChainId ?? "",
        }, ProtocolJsonContext.Default.WgConnectData);
        LogRegistered(logger, connection.NewtId, node.Name, site.Subnet, config.Targets.Count);
    }

    /// <summary>The reachable node with the lowest latency, then the highest weight; with no usable result, the site's node or any online one.</summary>
    private async Task<ExitNode?> ChooseNodeAsync(IReadOnlyList<ExitNodePingResult> results, int? current, CancellationToken ct)
    {
        var online = await PingRequestHandler.OnlineNodesAsync(db, embedded, ct);
        var byId = online.ToDictionary(n => n.ExitNodeId);
        var best = results.Where(r => string.IsNullOrEmpty(r.Error) && byId.ContainsKey(r.ExitNodeId))
            .OrderBy(r => r.LatencyMs).ThenByDescending(r => r.Weight).FirstOrDefault();
        if (best is not null)
        {
            return byId[best.ExitNodeId];
        }
        return (current is { } id && byId.TryGetValue(id, out var node) ? node : null)
            ?? online.OrderByDescending(n => n.Embedded).ThenBy(n => n.ExitNodeId).FirstOrDefault();
    }

    private async Task<string?> NextSubnetAsync(ExitNode node, CancellationToken ct)
    {
        var used = await db.Sites.AsNoTracking().Where(s => s.ExitNodeId == node.ExitNodeId && s.Subnet != null)
            .Select(s => s.Subnet!).ToListAsync(ct);
        // The node's own address takes the first block.
        used.Add(node.Address.Split('/')[0] + "/32");
        return SubnetAllocator.Next(node.Address, gerbil.Value.SiteBlockSize, used);
    }

    internal static string FormatEndpoint(string host, int port) =>
        IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{host}]:{port}" : $"{host}:{port}";

    [LoggerMessage(Level = LogLevel.Information, Message = "Newt {NewtId} registered on exit node {Node} with {Subnet} ({Targets} targets)")]
    private static partial void LogRegistered(ILogger logger, string newtId, string node, string subnet, int targets);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Exit node {Node} has no free subnet for newt {NewtId}")]
    private static partial void LogNoSubnet(ILogger logger, string node, string newtId);
}

/// <summary>
/// Serializes registrations in this process (see <see cref="RegisterHandler"/>): block allocation across all sites
/// (<see cref="Gate"/>), and each site's whole registration — including the calls to its exit node — on its own.
/// </summary>
internal sealed class RegistrationLock : IDisposable
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, SemaphoreSlim> _sites = new();

    public SemaphoreSlim Gate { get; } = new(1, 1);

    public SemaphoreSlim ForSite(int siteId) => _sites.GetOrAdd(siteId, static _ => new SemaphoreSlim(1, 1));

    public void Dispose()
    {
        Gate.Dispose();
        foreach (var gate in _sites.Values)
        {
            gate.Dispose();
        }
    }
}
