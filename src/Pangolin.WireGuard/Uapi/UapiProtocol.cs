using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.WireGuard.Uapi;

/// <summary>
/// The text of WireGuard's cross-platform configuration protocol (https://www.wireguard.com/xplatform/), as
/// wireguard-go speaks it on its Unix socket and as `wg` (wireguard-tools, ipc-uapi.h) expects it.
/// </summary>
/// <remarks>
/// <para>A <c>set=1</c> body is key=value lines ending with an empty line; <see cref="ParseSetRequest"/> reads it
/// into a <see cref="DeviceUpdate"/>. Where wireguard-go applies each line as it reads it, we parse the whole
/// request first, so a malformed line changes nothing.</para>
/// <para>Differences from wireguard-go, all deliberate: an endpoint must be a literal address (wg resolves names
/// before writing the line, so it never sends one); a peer's lines after <c>remove=true</c> are checked but ignored
/// as a whole (wireguard-go would already have moved any allowed IPs listed before the remove); a link-local
/// endpoint keeps its scope in the get answer ([fe80::1%2]:51820), which wireguard-go 0.0.20220316 drops. Peers are
/// listed in the snapshot's order, where wireguard-go's order is Go's (random) map order.</para>
/// <para>Errors are answered as wireguard-go does: <c>errno=-N</c> with N a positive errno (EINVAL 22, EPROTO 71,
/// EADDRINUSE 98...). The minus sign matters: `wg set` negates what it reads and reports "Unknown error -22" for a
/// positive value.</para>
/// </remarks>
public static class UapiProtocol
{
    /// <summary>EPROTO: wireguard-go's answer to a line that is not key=value.</summary>
    public const int ProtocolErrno = 71;

    /// <summary>ENOANO: wireguard-go's answer when the failure is not a configuration error (a device bug).</summary>
    public const int UnknownErrno = 55;

    /// <summary>
    /// Parses the body of a <c>set=1</c> operation (the lines after <c>set=1</c>), up to an empty line or the end of
    /// <paramref name="body"/>. A trailing '\r' on a line is ignored, as Go's line scanner does.
    /// </summary>
    /// <exception cref="ConfigurationException">Malformed: <see cref="ConfigurationException.Errno"/> is EINVAL, or
    /// EPROTO for a line without '='.</exception>
    public static DeviceUpdate ParseSetRequest(string body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var parser = new UapiSetParser();
        var rest = body.AsSpan();
        while (!rest.IsEmpty)
        {
            var newline = rest.IndexOf('\n');
            var line = newline < 0 ? rest : rest[..newline];
            rest = newline < 0 ? [] : rest[(newline + 1)..];
            if (line.EndsWith('\r'))
            {
                line = line[..^1];
            }
            if (line.IsEmpty)
            {
                if (!rest.IsEmpty)
                {
                    throw new ConfigurationException("Text after the empty line that ends a set request.", ConfigurationException.InvalidArgument);
                }
                break;
            }
            parser.AddLine(line);
        }
        return parser.Update;
    }

    /// <summary>
    /// The whole answer to <c>get=1</c>, as wireguard-go writes it (device/uapi.go, IpcGetOperation): private_key
    /// when set, listen_port and fwmark when non-zero, then each peer's public_key, preshared_key (all zeros when
    /// none: wg reads zeros as none), protocol_version=1, endpoint when known, last_handshake_time_sec/_nsec (0 and
    /// 0 when never), tx_bytes, rx_bytes, persistent_keepalive_interval and its allowed_ip lines; then
    /// <c>errno=0</c> and the empty line that ends the answer.
    /// </summary>
    public static string FormatGetResponse(DeviceSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var text = new StringBuilder(256 + (snapshot.Peers.Count * 400));
        if (snapshot.PrivateKey is { IsZero: false } privateKey)
        {
            AppendKey(text, "private_key", privateKey);
        }
        if (snapshot.ListenPort != 0)
        {
            AppendNumber(text, "listen_port", (ulong)snapshot.ListenPort);
        }
        if (snapshot.FwMark != 0)
        {
            // A u32 held in an int (see DeviceUpdate.FwMark): print it unsigned.
            AppendNumber(text, "fwmark", unchecked((uint)snapshot.FwMark));
        }
        foreach (var peer in snapshot.Peers)
        {
            AppendPeer(text, peer);
        }
        text.Append("errno=0\n\n");
        return text.ToString();
    }

    /// <summary>The answer to an operation: <c>errno=0</c> on success, <c>errno=-N</c> for errno N (either sign
    /// accepted), then the empty line.</summary>
    public static string FormatErrno(int errno) =>
        errno == 0 ? "errno=0\n\n" : string.Create(CultureInfo.InvariantCulture, $"errno=-{Math.Abs((long)errno)}\n\n");

    /// <summary>An endpoint as wireguard-go prints it: a.b.c.d:port, or [IPv6]:port (Go's netip.AddrPort).</summary>
    public static string FormatEndpoint(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var address = endpoint.Address.ToString();
        return endpoint.AddressFamily == AddressFamily.InterNetworkV6
            ? string.Create(CultureInfo.InvariantCulture, $"[{address}]:{endpoint.Port}")
            : string.Create(CultureInfo.InvariantCulture, $"{address}:{endpoint.Port}");
    }

    private static void AppendPeer(StringBuilder text, PeerSnapshot peer)
    {
        AppendKey(text, "public_key", peer.PublicKey);
        AppendKey(text, "preshared_key", peer.PresharedKey ?? default);
        text.Append("protocol_version=1\n");
        if (peer.Endpoint is { } endpoint)
        {
            text.Append("endpoint=").Append(FormatEndpoint(endpoint)).Append('\n');
        }

        // Seconds and nanoseconds since the Unix epoch; wireguard-go stores 0 until the first handshake. wg
        // rejects a negative number, so a time before 1970 (never legitimately) also reads as never.
        var ticks = peer.LastHandshake is { } handshake ? handshake.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks : 0;
        ticks = Math.Max(ticks, 0);
        AppendNumber(text, "last_handshake_time_sec", (ulong)(ticks / TimeSpan.TicksPerSecond));
        AppendNumber(text, "last_handshake_time_nsec", (ulong)(ticks % TimeSpan.TicksPerSecond * TimeSpan.NanosecondsPerTick));
        AppendNumber(text, "tx_bytes", (ulong)Math.Max(peer.TxBytes, 0));
        AppendNumber(text, "rx_bytes", (ulong)Math.Max(peer.RxBytes, 0));
        AppendNumber(text, "persistent_keepalive_interval", (ulong)Math.Max(peer.PersistentKeepaliveInterval, 0));
        foreach (var prefix in peer.AllowedIps)
        {
            text.Append("allowed_ip=").Append(prefix.BaseAddress.ToString()).Append('/')
                .Append(prefix.PrefixLength.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private static void AppendKey(StringBuilder text, string name, WgKey key)
    {
        Span<char> hex = stackalloc char[WgKey.Size * 2];
        Convert.TryToHexStringLower(key.Bytes, hex, out _);
        text.Append(name).Append('=').Append(hex).Append('\n');
    }

    private static void AppendNumber(StringBuilder text, string name, ulong value) =>
        text.Append(name).Append('=').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
