using System.Net;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Nodes;

/// <summary>What get-config gave the node, parsed: its address, the UDP port to listen on and its peers.</summary>
internal sealed record NodeConfig(NodeAddress Address, int ListenPort, IReadOnlyList<(WgKey PublicKey, IReadOnlyList<IPNetwork> AllowedIps)> Peers);
