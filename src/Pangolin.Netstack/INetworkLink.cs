namespace Pangolin.Netstack;

/// <summary>
/// Where the stack's outgoing IP packets go: the WireGuard device's in-memory channel, or a TUN device in tests. The
/// host hands received packets to <c>NetworkStack.Receive</c>; the two sides meet only here, so the stack
/// knows neither WireGuard nor the host.
/// </summary>
public interface INetworkLink
{
    /// <summary>The largest IP packet the link carries (1280 on tunnels is typical, 1420 on WireGuard's default).</summary>
    int Mtu { get; }

    /// <summary>
    /// Sends one IP packet. The span is only valid during the call: copy it if it must outlive it. Called from several
    /// threads, sometimes with a connection's lock held: it must not call back into the stack on the same thread.
    /// </summary>
    void Send(ReadOnlySpan<byte> packet);
}
