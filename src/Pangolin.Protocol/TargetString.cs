using System.Globalization;

namespace Pangolin.Protocol;

/// <summary>
/// A proxy target as sent in <c>newt/tcp/add</c>, <c>newt/udp/add</c>, their removes and <c>newt/sync</c>:
/// <c>"&lt;internalPort&gt;:&lt;host&gt;:&lt;port&gt;"</c>, with an IPv6 host in brackets (<c>"40001:[fd00::5]:80"</c>).
/// </summary>
/// <remarks>
/// Parsing follows upstream newt's add path (split at the first colon, then host:port with brackets), not its sync
/// path, which splits on every colon and so drops IPv6 targets. Unlike upstream we also require a numeric target
/// port in 1–65535: the server only ever sends numbers, and a typo should fail here rather than at dial time.
/// </remarks>
public readonly record struct TargetString(int InternalPort, string Host, int Port)
{
    /// <summary>The dial address: <c>host:port</c>, IPv6 bracketed.</summary>
    public string HostPort => FormatHostPort(Host, Port);

    /// <summary>Parses a target string.</summary>
    /// <exception cref="FormatException">The string is malformed; the message says what is wrong.</exception>
    public static TargetString Parse(string value)
    {
        if (!TryParse(value, out var target, out var error))
        {
            throw new FormatException(error);
        }

        return target;
    }

    /// <summary>Parses a target string; on failure <paramref name="error"/> is one sentence naming the problem.</summary>
    public static bool TryParse(string? value, out TargetString target, out string error)
    {
        target = default;
        if (string.IsNullOrEmpty(value))
        {
            error = "Target is empty; expected \"internalPort:host:port\".";
            return false;
        }

        var firstColon = value.IndexOf(':', StringComparison.Ordinal);
        if (firstColon < 0)
        {
            error = $"Target \"{value}\" has no colon; expected \"internalPort:host:port\".";
            return false;
        }

        if (!TryParsePort(value.AsSpan(0, firstColon), out var internalPort))
        {
            error = $"Target \"{value}\" has an invalid internal port \"{value[..firstColon]}\"; expected 1-65535.";
            return false;
        }

        var rest = value.AsSpan(firstColon + 1);
        ReadOnlySpan<char> host;
        ReadOnlySpan<char> portText;
        if (rest.StartsWith("["))
        {
            var close = rest.IndexOf(']');
            if (close < 0)
            {
                error = $"Target \"{value}\" has an IPv6 host without a closing bracket.";
                return false;
            }

            host = rest[1..close];
            var afterHost = rest[(close + 1)..];
            if (!afterHost.StartsWith(":"))
            {
                error = $"Target \"{value}\" has no \":port\" after the bracketed host.";
                return false;
            }

            portText = afterHost[1..];
        }
        else
        {
            var lastColon = rest.LastIndexOf(':');
            if (lastColon < 0)
            {
                error = $"Target \"{value}\" has no target port; expected \"internalPort:host:port\".";
                return false;
            }

            host = rest[..lastColon];
            portText = rest[(lastColon + 1)..];
            if (host.Contains(':'))
            {
                error = $"Target \"{value}\" has an IPv6 host without brackets; write it as \"[address]\".";
                return false;
            }
        }

        if (host.IsEmpty)
        {
            error = $"Target \"{value}\" has an empty host.";
            return false;
        }

        if (!TryParsePort(portText, out var port))
        {
            error = $"Target \"{value}\" has an invalid target port \"{portText}\"; expected 1-65535.";
            return false;
        }

        target = new TargetString(internalPort, host.ToString(), port);
        error = "";
        return true;
    }

    /// <summary>Formats <c>internalPort:host:port</c>, bracketing an IPv6 host (upstream <c>formatEndpoint</c>).</summary>
    public static string Format(int internalPort, string host, int port)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(internalPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(internalPort, 65535);
        return internalPort.ToString(CultureInfo.InvariantCulture) + ":" + FormatHostPort(host, port);
    }

    /// <summary>Formats <c>host:port</c>, bracketing an IPv6 host; also the <c>endpoint</c> of <c>newt/wg/connect</c>.</summary>
    public static string FormatHostPort(string host, int port)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        var portText = port.ToString(CultureInfo.InvariantCulture);
        return host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{portText}" : $"{host}:{portText}";
    }

    public override string ToString() => Format(InternalPort, Host, Port);

    private static bool TryParsePort(ReadOnlySpan<char> text, out int port)
    {
        // Digits only: int.Parse would also take a sign or surrounding spaces, which no sender writes.
        port = 0;
        if (text.IsEmpty || text.Length > 5)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            port = (port * 10) + (c - '0');
        }

        return port is >= 1 and <= 65535;
    }
}
