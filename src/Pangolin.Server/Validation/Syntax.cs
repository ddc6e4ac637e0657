using System.Net;
using System.Text.RegularExpressions;

namespace Pangolin.Server;

/// <summary>Syntax checks shared by configuration and API validation.</summary>
public static partial class Syntax
{
    [GeneratedRegex("^[a-z0-9_]+(-[a-z0-9_]+)*$")]
    private static partial Regex OrgIdRegex();

    [GeneratedRegex("^[a-zA-Z0-9-]+$")]
    private static partial Regex NiceIdRegex();

    [GeneratedRegex("^(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$")]
    private static partial Regex DnsLabelRegex();

    // Deliberately simple: one @, a non-empty local part without spaces, and a domain with a dot.
    [GeneratedRegex(@"^[^\s@""(),:;<>\[\]\\]+@[^\s@]+\.[^\s@]+$")]
    private static partial Regex EmailRegex();

    [GeneratedRegex(@"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$")]
    private static partial Regex IPv4Regex();

    /// <summary>Parses an IP address strictly: IPv4 only as a dotted quad (IPAddress.Parse also takes "1" or "1.2").</summary>
    public static bool TryParseIp(string s, out IPAddress address)
    {
        address = IPAddress.None;
        if (s.Contains(':', StringComparison.Ordinal))
        {
            return !s.Contains('%', StringComparison.Ordinal) && IPAddress.TryParse(s, out address!);
        }
        return IPv4Regex().IsMatch(s) && IPAddress.TryParse(s, out address!);
    }

    public static bool IsOrgId(string s) => s.Length is >= 1 and <= 32 && OrgIdRegex().IsMatch(s);

    public static bool IsNiceId(string s) => s.Length is >= 1 and <= 255 && NiceIdRegex().IsMatch(s);

    public static bool IsEmail(string s) => s.Length <= 254 && EmailRegex().IsMatch(s) && IsDomainName(s[(s.LastIndexOf('@') + 1)..]);

    public static bool IsHttpUrl(string s) =>
        Uri.TryCreate(s, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && !string.IsNullOrEmpty(uri.Host);

    public static bool IsDomainName(string s)
    {
        if (s.Length is 0 or > 253)
        {
            return false;
        }
        foreach (var label in s.Split('.'))
        {
            if (!DnsLabelRegex().IsMatch(label))
            {
                return false;
            }
        }
        return true;
    }

    public static bool IsSubdomain(string s) => s.Length <= 200 && IsDomainName(s);

    public static bool TryParseCidr(string s, out IPNetwork network)
    {
        network = default;
        if (!s.Contains('/', StringComparison.Ordinal))
        {
            return false;
        }
        // Since .NET 9 IPNetwork.TryParse masks host bits (10.0.0.1/24 reads as 10.0.0.0/24); IsNetwork is the strict form.
        var slash = s.IndexOf('/', StringComparison.Ordinal);
        return TryParseIp(s[..slash], out _) && IPNetwork.TryParse(s, out network);
    }

    /// <summary>A network in CIDR notation whose address has no host bits set: 10.0.0.0/24, not 10.0.0.1/24.</summary>
    public static bool IsNetwork(string s, out IPNetwork network) =>
        TryParseCidr(s, out network) && network.BaseAddress.Equals(IPAddress.Parse(s[..s.IndexOf('/', StringComparison.Ordinal)]));

    public static bool TryParseIpOrCidr(string s, out IPNetwork network)
    {
        if (TryParseIp(s, out var ip))
        {
            network = new IPNetwork(ip, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }
        return TryParseCidr(s, out network);
    }

    /// <summary>Parses an interface address such as 100.89.137.1/24 into its network (host bits cleared).</summary>
    public static bool TryParseInterface(string s, out IPNetwork network)
    {
        network = default;
        var slash = s.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !TryParseIp(s[..slash], out var ip)
            || !int.TryParse(s.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var prefix))
        {
            return false;
        }
        var bytes = ip.GetAddressBytes();
        if (prefix > bytes.Length * 8)
        {
            return false;
        }
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        network = new IPNetwork(new IPAddress(bytes), prefix);
        return true;
    }

    /// <summary>Whether two networks share any address.</summary>
    public static bool Overlaps(IPNetwork a, IPNetwork b) => a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress);
}
