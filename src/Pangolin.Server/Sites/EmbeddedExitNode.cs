using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Tunnel;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;

namespace Pangolin.Server.Sites;

/// <summary>Opens the embedded exit node's UDP socket; tests bind inside a network namespace instead.</summary>
public delegate IUdpTransport ExitNodeBind(int port);

/// <summary>
/// The exit node inside this process (Gerbil:Enabled): a userspace WireGuard endpoint that newt sites dial, with
/// the node address on a userspace stack through which the server reaches their targets. No TUN device, no root.
/// Its row in exit_nodes is made on first start (key encrypted with the server secret, network allocated from
/// Gerbil:SubnetGroup) and its peers are loaded from the sites table at every start.
/// </summary>
public sealed partial class EmbeddedExitNode(
    IServiceScopeFactory scopes, IOptions<GerbilOptions> gerbil, IOptions<AppOptions> app, SecretProtector protector,
    GerbilConfigSigner signer, ExitNodeBind bind, TimeProvider time, ILoggerFactory loggers) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<EmbeddedExitNode>();
    private ExitNodeRuntime? _runtime;

    /// <summary>The running node; null when Gerbil:Enabled is false or before start.</summary>
    public ExitNodeRuntime? Runtime => _runtime;

    public int? ExitNodeId { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = gerbil.Value;
        // Here rather than only when enabled: standalone gerbils need the key whether this node runs or not.
        if (signer.PublicKey is { } signingKey)
        {
            LogSigningKey(_logger, signingKey);
        }
        if (!options.Enabled)
        {
            return;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var node = await EnsureRowAsync(db, options, cancellationToken);
        var privateKey = WgKey.FromBase64(protector.Unprotect(node.PrivateKeyProtected!));
        var address = IPAddress.Parse(node.Address.Split('/')[0]);
        var runtime = new ExitNodeRuntime(address, new UserspaceTunnelOptions
        {
            PrivateKey = privateKey,
            InterfaceName = "pangolin-exit",
            Mtu = options.Mtu,
            ListenPort = options.ListenPort,
            Bind = port => bind(port),
            Time = time,
            LoggerFactory = loggers,
        });
        try
        {
            runtime.Start();
        }
        catch
        {
            await runtime.DisposeAsync();
            throw;
        }
        var peers = await db.Sites.AsNoTracking()
            .Where(s => s.ExitNodeId == node.ExitNodeId && s.PubKey != null && s.Subnet != null)
            .Select(s => new { s.PubKey, s.Subnet })
            .ToListAsync(cancellationToken);
        runtime.SyncPeers([.. peers.Select(p => TryPeer(p.PubKey!, p.Subnet!)).OfType<(WgKey, IReadOnlyList<IPNetwork>)>()]);
        node.ListenPort = runtime.ListenPort;
        node.Online = true;
        node.LastPing = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(cancellationToken);
        _runtime = runtime;
        ExitNodeId = node.ExitNodeId;
        LogStarted(_logger, node.Name, node.Address, runtime.ListenPort, peers.Count);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            // Only a stop that ends a running node marks it offline: a repeated stop must not undo a newer start.
            if (ExitNodeId is { } id && _runtime is not null)
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
                await db.ExitNodes.Where(n => n.ExitNodeId == id).ExecuteUpdateAsync(u => u.SetProperty(n => n.Online, false), cancellationToken);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
        {
            // A host that gave up waiting for shutdown has torn the services down; the row is fixed at the next start.
        }
        finally
        {
            await DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _runtime, null) is { } runtime)
        {
            await runtime.DisposeAsync();
        }
    }

    /// <summary>The peer of a stored site; a row with a malformed key or subnet is skipped rather than stopping the node.</summary>
    internal static (WgKey, IReadOnlyList<IPNetwork>)? TryPeer(string publicKey, string subnet)
    {
        try
        {
            return (WgKey.FromBase64(publicKey), [IPNetwork.Parse(subnet)]);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private async Task<ExitNode> EnsureRowAsync(PangolinDbContext db, GerbilOptions options, CancellationToken ct)
    {
        var endpoint = options.BaseEndpoint is { Length: > 0 } configured ? configured : new Uri(app.Value.DashboardUrl).Host;
        var node = await db.ExitNodes.FirstOrDefaultAsync(n => n.Embedded, ct);
        if (node is null)
        {
            var used = await db.ExitNodes.AsNoTracking().Select(n => n.Address).ToListAsync(ct);
            var block = SubnetAllocator.Next(options.SubnetGroup, options.BlockSize, used)
                ?? throw new InvalidOperationException($"Gerbil:SubnetGroup {options.SubnetGroup} has no free /{options.BlockSize} for the embedded exit node");
            var network = IPNetwork.Parse(block);
            var privateKey = WgKey.GeneratePrivate();
            node = new ExitNode
            {
                Name = options.ExitNodeName,
                Address = $"{FirstHost(network)}/{network.PrefixLength}",
                Endpoint = endpoint,
                PublicKey = privateKey.PublicKey().ToBase64(),
                PrivateKeyProtected = protector.Protect(privateKey.ToBase64()),
                ListenPort = options.ListenPort,
                Embedded = true,
                Type = "gerbil",
            };
            db.ExitNodes.Add(node);
        }
        else
        {
            // Name and endpoint follow the configuration; the key and the network never change once sites use them.
            node.Name = options.ExitNodeName;
            node.Endpoint = endpoint;
        }
        await db.SaveChangesAsync(ct);
        return node;
    }

    internal static IPAddress FirstHost(IPNetwork network)
    {
        var bytes = network.BaseAddress.GetAddressBytes();
        bytes[^1] |= 1;
        return new IPAddress(bytes);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "get-config answers are signed with Gerbil:ConfigSigningKey; give each standalone gerbil REMOTE_CONFIG_SIGNING_KEY={PublicKey}")]
    private static partial void LogSigningKey(ILogger logger, string publicKey);

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node {Name} ({Address}) listening on UDP port {Port} with {Peers} sites")]
    private static partial void LogStarted(ILogger logger, string name, string address, int port, int peers);
}
