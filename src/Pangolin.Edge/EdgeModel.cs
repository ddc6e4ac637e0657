using System.Net;
using Microsoft.Extensions.Primitives;

namespace Pangolin.Edge;

/// <summary>
/// Everything the edge serves, as one immutable snapshot: the control plane (or a remote gerbil's copy of it) builds
/// it from the database; the edge swaps it in whole, so a request sees either the old routes or the new ones.
/// </summary>
/// <param name="Version">Raised by the source with every change; equal versions mean equal contents.</param>
public sealed record EdgeSnapshot(long Version, IReadOnlyList<EdgeHttpResource> HttpResources, IReadOnlyList<EdgeRawResource> RawResources)
{
    public static EdgeSnapshot Empty { get; } = new(0, [], []);
}

/// <summary>Where the edge's routes come from, and when they change.</summary>
public interface IEdgeConfigSource
{
    EdgeSnapshot Current { get; }

    /// <summary>Fires once, after <see cref="Current"/> has changed.</summary>
    IChangeToken GetChangeToken();
}

/// <summary>A resource published over HTTP(S) by host name.</summary>
/// <param name="Host">A full domain (<c>app.example.com</c>) or a wildcard (<c>*.example.com</c>), lower case, no port.</param>
/// <param name="Ssl">Served over HTTPS (plain HTTP is redirected); the session cookie is then Secure.</param>
/// <param name="SetHostHeader">The Host header sent to the targets instead of the request's.</param>
/// <param name="TlsServerName">The SNI sent to https targets.</param>
/// <param name="RequestHeaders">Headers set on every request to the targets.</param>
public sealed record EdgeHttpResource(
    int ResourceId,
    string ResourceGuid,
    string OrgId,
    string Host,
    bool Ssl,
    EdgeAccessPolicy Access,
    string? SetHostHeader,
    string? TlsServerName,
    bool StickySession,
    IReadOnlyList<KeyValuePair<string, string>> RequestHeaders,
    IReadOnlyList<EdgeHttpTarget> Targets);

/// <summary>
/// One target of an HTTP resource that can take traffic now (enabled, not unhealthy, its site reachable).
/// Targets with the same path match and rewrite form one route; requests are balanced across them.
/// </summary>
/// <param name="Method">http, https or h2c.</param>
/// <param name="Path">The path to match, or null for every path.</param>
/// <param name="PathMatchType">exact, prefix or regex (null with a null path).</param>
/// <param name="RewritePathType">exact, prefix, regex or stripPrefix (null for no rewrite).</param>
/// <param name="Priority">Higher first, as upstream's router priority.</param>
public sealed record EdgeHttpTarget(
    int TargetId,
    string Method,
    string? Path,
    string? PathMatchType,
    string? RewritePath,
    string? RewritePathType,
    int Priority);

/// <summary>What a request must show before it is forwarded (PROTOCOL.md §4.4, in that order).</summary>
/// <param name="Blocked">Every request is refused.</param>
/// <param name="Rules">Evaluated in ascending priority when <paramref name="ApplyRules"/>; the first match decides.</param>
/// <param name="Sso">Platform users with access to the resource may sign in.</param>
/// <param name="HasPassword">A password sign-in is configured.</param>
/// <param name="HasPincode">A PIN sign-in is configured.</param>
/// <param name="EmailWhitelist">One-time codes to whitelisted e-mail addresses are enabled.</param>
/// <param name="HasHeaderAuth">HTTP Basic credentials are configured.</param>
/// <param name="HeaderAuthExtendedCompatibility">Challenge with 401 + WWW-Authenticate when nothing else worked.</param>
public sealed record EdgeAccessPolicy(
    bool Blocked,
    bool ApplyRules,
    IReadOnlyList<EdgeRule> Rules,
    bool Sso,
    bool HasPassword,
    bool HasPincode,
    bool EmailWhitelist,
    bool HasHeaderAuth,
    bool HeaderAuthExtendedCompatibility)
{
    /// <summary>No sign-in method at all: anyone the rules let through gets in.</summary>
    public bool IsOpen => !Sso && !HasPassword && !HasPincode && !EmailWhitelist && !HasHeaderAuth;

    public static EdgeAccessPolicy Open { get; } = new(false, false, [], false, false, false, false, false, false);
}

/// <summary>An allow / deny / pass rule (upstream's resource rules).</summary>
/// <param name="Action">ACCEPT, DROP or PASS.</param>
/// <param name="Match">CIDR, IP, PATH, COUNTRY or ASN.</param>
/// <param name="Method">An HTTP method the rule is limited to, or null for every method.</param>
public sealed record EdgeRule(int RuleId, int Priority, string Action, string Match, string Value, string? Method);

/// <summary>A resource published as a raw TCP or UDP port on the edge.</summary>
/// <param name="Protocol">tcp or udp.</param>
/// <param name="ProxyPort">The edge's public port for it.</param>
/// <param name="ProxyProtocolVersion">1 or 2 to send a PROXY protocol header to the target first (tcp only); null for none.</param>
/// <param name="Rules">The resource's IP, CIDR and country rules, applied when a client connects (or sends its first datagram).</param>
/// <param name="TargetIds">The targets that can take traffic now; connections are balanced across them.</param>
public sealed record EdgeRawResource(
    int ResourceId,
    string Protocol,
    int ProxyPort,
    int? ProxyProtocolVersion,
    bool Blocked,
    bool ApplyRules,
    IReadOnlyList<EdgeRule> Rules,
    IReadOnlyList<int> TargetIds);

/// <summary>How the edge reaches a target: through a site's tunnel or straight to it. Defined here, implemented by the host.</summary>
public interface ITargetDialer
{
    /// <summary>A byte stream to the target; throws <see cref="TargetUnreachableException"/> with the reason in words.</summary>
    ValueTask<Stream> ConnectTcpAsync(int targetId, CancellationToken ct);

    /// <summary>A datagram flow to the target; throws <see cref="TargetUnreachableException"/> with the reason in words.</summary>
    ValueTask<IEdgeUdpFlow> OpenUdpAsync(int targetId, CancellationToken ct);
}

/// <summary>A datagram flow to one target: what is sent goes to it, what is received came from it.</summary>
public interface IEdgeUdpFlow : IDisposable
{
    ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken ct);

    /// <summary>The next datagram from the target; its length.</summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken ct);
}

/// <summary>A target that cannot be reached now, with the reason in words.</summary>
public sealed class TargetUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Country and ASN of an address, for rules; the host provides it from MaxMind files when configured.</summary>
public interface IGeoLookup
{
    /// <summary>The ISO 3166-1 alpha-2 country code (upper case), or null if unknown.</summary>
    string? Country(IPAddress address);

    /// <summary>The autonomous system number, or null if unknown.</summary>
    long? Asn(IPAddress address);
}

/// <summary>
/// A target stream that can end its sending direction (a TCP FIN) while still reading, so a client's half-close
/// reaches the target. <see cref="System.Net.Sockets.NetworkStream"/> is handled without it; a dialer that returns
/// another kind of stream (a userspace TCP connection) implements this, or a client's half-close stays at the edge
/// until the target ends its own side or the idle timeout does.
/// </summary>
public interface IHalfClosable
{
    /// <summary>Sends a FIN after what was written; the peer's data can still be read.</summary>
    void ShutdownSend();
}
