using System.Globalization;

namespace Pangolin.Newt;

/// <summary><c>host:port</c> with an IPv6 host in brackets, as Go's <c>net.SplitHostPort</c> takes it.</summary>
internal static class HostPort
{
    /// <summary>Splits <c>host:port</c>; <paramref name="allowEmptyHost"/> also takes <c>:port</c> (every interface, for a listener).</summary>
    public static bool TryParse(string? text, out string host, out int port, bool allowEmptyHost = false)
    {
        host = "";
        port = 0;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            return false;
        }
        var hostPart = text[..colon];
        if (hostPart.StartsWith('['))
        {
            if (!hostPart.EndsWith(']'))
            {
                return false;
            }
            hostPart = hostPart[1..^1];
        }
        else if (hostPart.Contains(':', StringComparison.Ordinal))
        {
            return false; // an IPv6 host must be bracketed
        }
        var portPart = text.AsSpan(colon + 1);
        if ((hostPart.Length == 0 && !allowEmptyHost) || hostPart.Any(char.IsWhiteSpace) || portPart.IsEmpty || portPart.Length > 5
            || !int.TryParse(portPart, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            port = 0;
            return false;
        }
        host = hostPart;
        return true;
    }
}
