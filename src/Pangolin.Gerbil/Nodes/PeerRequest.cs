using System.Diagnostics.CodeAnalysis;
using System.Net;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Nodes;

/// <summary>A peer as the server sends it (get-config's peers, <c>POST /peer</c>), checked and parsed.</summary>
internal static class PeerRequest
{
    /// <summary>Parses <paramref name="peer"/>; false with a one-line <paramref name="problem"/> when it is unusable.</summary>
    public static bool TryParse(GerbilPeer peer, WgKey ownPublicKey, out (WgKey PublicKey, IReadOnlyList<IPNetwork> AllowedIps) parsed,
        [NotNullWhen(false)] out string? problem)
    {
        ArgumentNullException.ThrowIfNull(peer);
        parsed = default;
        if (!TryParseKey(peer.PublicKey, out var key, out problem))
        {
            return false;
        }
        if (key == ownPublicKey)
        {
            problem = "publicKey is this exit node's own key";
            return false;
        }
        var allowed = new List<IPNetwork>(peer.AllowedIps.Count);
        foreach (var cidr in peer.AllowedIps)
        {
            if (!NodeAddress.TryParseNetwork(cidr, out var network))
            {
                problem = $"allowedIps: \"{cidr}\" is not an address with a prefix length (e.g. 100.89.138.4/30)";
                return false;
            }
            allowed.Add(network.Value);
        }
        parsed = (key, allowed);
        return true;
    }

    public static bool TryParseKey(string? text, out WgKey key, [NotNullWhen(false)] out string? problem)
    {
        key = default;
        problem = null;
        try
        {
            key = WgKey.FromBase64(text ?? "");
        }
        catch (FormatException)
        {
            problem = "publicKey must be a WireGuard public key (32 bytes in base64)";
            return false;
        }
        if (key.IsZero)
        {
            problem = "publicKey must not be all zeros";
            return false;
        }
        return true;
    }
}
