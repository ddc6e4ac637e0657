using System.Net;
using Microsoft.Extensions.Logging;
using Pangolin.Tunnel;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Nodes;

/// <summary>
/// The exit node in userspace (<c>--mode userspace</c>): the same <see cref="ExitNodeRuntime"/> as the server's
/// embedded node. No TUN and no root; the node address lives on the process's own stack, so sites can ping it and
/// the process could open connections to them, but the host's kernel does not route to them.
/// </summary>
internal sealed class UserspaceExitNode : IExitNode
{
    private UserspaceExitNode(ExitNodeRuntime runtime, NodeAddress address)
    {
        Runtime = runtime;
        Address = address;
    }

    public ExitNodeMode Mode => ExitNodeMode.Userspace;

    public WgKey PublicKey => Runtime.PublicKey;

    public NodeAddress Address { get; }

    public int ListenPort => Runtime.ListenPort;

    /// <summary>The runtime itself, for tests that talk to the node's stack.</summary>
    internal ExitNodeRuntime Runtime { get; }

    /// <summary>Makes the node and binds its UDP port (all addresses); throws when the port cannot be bound.</summary>
    public static async Task<UserspaceExitNode> StartAsync(WgKey privateKey, NodeAddress address, int listenPort, int mtu, ILoggerFactory loggerFactory)
    {
        var runtime = new ExitNodeRuntime(address.Address, new UserspaceTunnelOptions
        {
            PrivateKey = privateKey,
            ListenPort = listenPort,
            Mtu = mtu,
            InterfaceName = "gerbil",
            LoggerFactory = loggerFactory,
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
        return new UserspaceExitNode(runtime, address);
    }

    public void AddPeer(WgKey publicKey, IReadOnlyList<IPNetwork> allowedIps) => Runtime.AddPeer(publicKey, allowedIps);

    public bool RemovePeer(WgKey publicKey) => Runtime.RemovePeer(publicKey);

    public void SyncPeers(IReadOnlyCollection<(WgKey PublicKey, IReadOnlyList<IPNetwork> AllowedIps)> peers) => Runtime.SyncPeers(peers);

    public IReadOnlyList<PeerSnapshot> Peers() => Runtime.Snapshot().Peers;

    public ValueTask DisposeAsync() => Runtime.DisposeAsync();
}
