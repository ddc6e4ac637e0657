using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Pangolin.Gerbil.Nodes;

/// <summary>An interface address with its prefix, <c>100.89.138.1/24</c>: the form get-config's ipAddress takes.</summary>
internal readonly record struct NodeAddress(IPAddress Address, int PrefixLength)
{
    public override string ToString() => $"{Address}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";

    public static bool TryParse(string? text, out NodeAddress address)
    {
        address = default;
        var slash = text?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (text is null || slash <= 0 || !IPAddress.TryParse(text.AsSpan(0, slash), out var ip)
            || !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var prefix)
            || prefix > MaxPrefix(ip))
        {
            return false;
        }
        address = new NodeAddress(ip, prefix);
        return true;
    }

    /// <summary>
    /// A CIDR as Go's net.ParseCIDR reads it (what upstream gerbil uses for allowed IPs): host bits are allowed and
    /// masked off, so <c>100.89.138.5/30</c> is 100.89.138.4/30. <see cref="IPNetwork.Parse(string)"/> refuses them.
    /// </summary>
    public static bool TryParseNetwork(string? text, [NotNullWhen(true)] out IPNetwork? network)
    {
        network = null;
        if (!TryParse(text, out var address))
        {
            return false;
        }
        var bytes = address.Address.GetAddressBytes();
        for (var bit = address.PrefixLength; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }
        network = new IPNetwork(new IPAddress(bytes), address.PrefixLength);
        return true;
    }

    private static int MaxPrefix(IPAddress ip) => ip.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
}
