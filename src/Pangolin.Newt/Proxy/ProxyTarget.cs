using Pangolin.Protocol;

namespace Pangolin.Newt.Proxy;

internal enum ProxyProtocol
{
    Tcp,
    Udp,
}

/// <summary>
/// One relay: the netstack listens on the site's tunnel IP at <see cref="InternalPort"/> and relays to
/// <see cref="Host"/>:<see cref="Port"/> on the host's network (a <c>newt/tcp/add</c> or <c>newt/udp/add</c> target).
/// </summary>
internal readonly record struct ProxyTarget(ProxyProtocol Protocol, int InternalPort, string Host, int Port)
{
    /// <summary>The wire name: <c>tcp</c> or <c>udp</c> (also what the updown script is given).</summary>
    public string ProtocolName => Protocol == ProxyProtocol.Tcp ? "tcp" : "udp";

    /// <summary><c>host:port</c>, IPv6 bracketed.</summary>
    public string HostPort => TargetString.FormatHostPort(Host, Port);

    public static ProxyTarget From(ProxyProtocol protocol, TargetString target) =>
        new(protocol, target.InternalPort, target.Host, target.Port);

    /// <summary>Parses a target string from the server; on failure <paramref name="error"/> says why.</summary>
    public static bool TryParse(ProxyProtocol protocol, string? value, out ProxyTarget target, out string error)
    {
        if (TargetString.TryParse(value, out var parsed, out error))
        {
            target = From(protocol, parsed);
            return true;
        }
        target = default;
        return false;
    }

    public override string ToString() => $"{ProtocolName} {InternalPort} -> {HostPort}";
}
