using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.WireGuard.Uapi;

/// <summary>
/// Reads the body of a UAPI <c>set=1</c> operation one line at a time into a <see cref="DeviceUpdate"/>, with
/// wireguard-go's rules (device/uapi.go, IpcSetOperation): device keys come first, each <c>public_key</c> line
/// starts a peer and from then on only peer keys are valid, unknown keys and malformed values are EINVAL, and a
/// line without '=' is EPROTO. Nothing is applied here: the caller hands the whole update to the device only when
/// the request parsed, so a bad line never leaves a device half-configured.
/// </summary>
/// <remarks>
/// Exception messages name the key and, for values that are not secret, the value (truncated); a key's value is
/// never quoted, so they are safe to log.
/// </remarks>
internal sealed class UapiSetParser
{
    private static readonly SearchValues<char> KeyNameCharacters = SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789_");
    private static readonly SearchValues<char> IPv6Characters = SearchValues.Create("0123456789abcdefABCDEF:.");

    private readonly DeviceUpdate _update = new();
    private PeerUpdate? _peer;

    /// <summary>True once a <c>remove=true</c> line was seen for the current peer: wireguard-go then works on a
    /// placeholder, so later lines of that peer are still validated but change nothing.</summary>
    private bool _peerRemoved;

    public DeviceUpdate Update => _update;

    /// <summary>Parses one line (without its newline). Throws <see cref="ConfigurationException"/>.</summary>
    public void AddLine(ReadOnlySpan<char> line)
    {
        var equals = line.IndexOf('=');
        if (equals < 0)
        {
            throw new ConfigurationException("A UAPI line must be key=value.", UapiProtocol.ProtocolErrno);
        }
        var key = line[..equals];
        var value = line[(equals + 1)..];

        if (key.SequenceEqual("public_key"))
        {
            _peer = new PeerUpdate(ParseKey(key, value));
            _peerRemoved = false;
            _update.Peers.Add(_peer);
            return;
        }
        if (_peer is null)
        {
            AddDeviceLine(key, value);
        }
        else
        {
            AddPeerLine(_peer, key, value);
        }
    }

    private void AddDeviceLine(ReadOnlySpan<char> key, ReadOnlySpan<char> value)
    {
        switch (key)
        {
            case "private_key":
                // An all-zero key removes the private key (wg sends it for `private-key /dev/null`).
                _update.PrivateKey = ParseKey(key, value);
                break;
            case "listen_port":
                _update.ListenPort = (int)ParseUnsigned(key, value, ushort.MaxValue);
                break;
            case "fwmark":
                // A mark is a u32; DeviceUpdate holds it in an int, so marks above 2^31 wrap (read back unchanged).
                _update.FwMark = unchecked((int)(uint)ParseUnsigned(key, value, uint.MaxValue));
                break;
            case "replace_peers":
                ParseTrue(key, value);
                _update.ReplacePeers = true;
                break;
            case "update_only" or "remove" or "preshared_key" or "endpoint" or "persistent_keepalive_interval"
                or "replace_allowed_ips" or "allowed_ip" or "protocol_version":
                throw Invalid($"The peer key \"{key}\" comes before any public_key line.");
            default:
                throw Invalid($"Unknown UAPI device key {QuoteKey(key)}.");
        }
    }

    private void AddPeerLine(PeerUpdate peer, ReadOnlySpan<char> key, ReadOnlySpan<char> value)
    {
        switch (key)
        {
            case "update_only":
                ParseTrue(key, value);
                if (!_peerRemoved)
                {
                    peer.UpdateOnly = true;
                }
                break;
            case "remove":
                ParseTrue(key, value);
                peer.Remove = true;
                _peerRemoved = true;
                break;
            case "preshared_key":
                var psk = ParseKey(key, value);
                if (!_peerRemoved)
                {
                    peer.PresharedKey = psk;
                }
                break;
            case "endpoint":
                var endpoint = ParseEndpoint(value) ?? throw Invalid($"Invalid endpoint {Quote(value)}: expected a literal a.b.c.d:port or [IPv6]:port.");
                if (!_peerRemoved)
                {
                    peer.Endpoint = endpoint;
                }
                break;
            case "persistent_keepalive_interval":
                var interval = (int)ParseUnsigned(key, value, ushort.MaxValue);
                if (!_peerRemoved)
                {
                    peer.PersistentKeepaliveInterval = interval;
                }
                break;
            case "replace_allowed_ips":
                ParseTrue(key, value);
                if (!_peerRemoved)
                {
                    // wireguard-go removes the peer's allowed IPs at this line, including any added by earlier
                    // allowed_ip lines of the same peer; a PeerUpdate replaces before it adds, so drop those.
                    peer.ReplaceAllowedIps = true;
                    peer.AllowedIps.Clear();
                }
                break;
            case "allowed_ip":
                var prefix = ParsePrefix(value) ?? throw Invalid($"Invalid allowed_ip {Quote(value)}: expected an address/prefix-length.");
                if (!_peerRemoved)
                {
                    peer.AllowedIps.Add(prefix);
                }
                break;
            case "protocol_version":
                if (!value.SequenceEqual("1"))
                {
                    throw Invalid($"Unsupported protocol_version {Quote(value)}: only 1 exists.");
                }
                break;
            case "private_key" or "listen_port" or "fwmark" or "replace_peers":
                throw Invalid($"The device key \"{key}\" comes after a public_key line; device keys go first.");
            default:
                throw Invalid($"Unknown UAPI peer key {QuoteKey(key)}.");
        }
    }

    private static ConfigurationException Invalid(string message) => new(message, ConfigurationException.InvalidArgument);

    /// <summary>64 hex digits. wireguard-go decodes with Go's hex package, which takes either case; so do we.</summary>
    private static WgKey ParseKey(ReadOnlySpan<char> key, ReadOnlySpan<char> value)
    {
        // Never quote the value: it may be a private or preshared key.
        if (!WgKey.TryFromHex(value, out var parsed))
        {
            throw Invalid($"Invalid {key}: expected {WgKey.Size * 2} hex digits, got {value.Length} characters.");
        }
        return parsed;
    }

    private static void ParseTrue(ReadOnlySpan<char> key, ReadOnlySpan<char> value)
    {
        // wireguard-go accepts only the literal "true" for these flags.
        if (!value.SequenceEqual("true"))
        {
            throw Invalid($"Invalid {key} value {Quote(value)}: only \"true\" is accepted.");
        }
    }

    /// <summary>Decimal digits only, as Go's strconv.ParseUint(value, 10, bits): no sign, no spaces, no 0x.</summary>
    private static ulong ParseUnsigned(ReadOnlySpan<char> key, ReadOnlySpan<char> value, ulong max)
    {
        if (!TryParseDecimal(value, max, out var result))
        {
            throw Invalid($"Invalid {key} value {Quote(value)}: expected a decimal number from 0 to {max}.");
        }
        return result;
    }

    internal static bool TryParseDecimal(ReadOnlySpan<char> value, ulong max, out ulong result)
    {
        result = 0;
        if (value.IsEmpty)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
            var digit = (ulong)(c - '0');
            if (result > (max - digit) / 10)
            {
                return false;
            }
            result = (result * 10) + digit;
        }
        return true;
    }

    /// <summary>
    /// "a.b.c.d:port" or "[IPv6]:port" (an IPv6 address only in brackets, as Go's netip.ParseAddrPort wants).
    /// Only literal addresses: wg resolves host names itself before it writes the endpoint line.
    /// </summary>
    internal static IPEndPoint? ParseEndpoint(ReadOnlySpan<char> value)
    {
        IPAddress? address;
        ReadOnlySpan<char> port;
        if (value.StartsWith('['))
        {
            var close = value.IndexOf(']');
            if (close < 0 || close + 1 >= value.Length || value[close + 1] != ':')
            {
                return null;
            }
            address = ParseIPv6(value[1..close], allowZone: true);
            port = value[(close + 2)..];
        }
        else
        {
            var colon = value.LastIndexOf(':');
            if (colon < 0)
            {
                return null;
            }
            address = ParseIPv4(value[..colon]);
            port = value[(colon + 1)..];
        }
        if (address is null || !TryParseDecimal(port, ushort.MaxValue, out var portNumber))
        {
            return null;
        }
        return new IPEndPoint(address, (int)portNumber);
    }

    /// <summary>
    /// "address/bits" as Go's netip.ParsePrefix reads it (no zone, bits without sign or leading zeros), then
    /// masked: wireguard-go's allowed-IPs trie keeps only the network bits, so 10.0.0.1/24 reads back as 10.0.0.0/24.
    /// </summary>
    internal static IPNetwork? ParsePrefix(ReadOnlySpan<char> value)
    {
        var slash = value.IndexOf('/');
        if (slash < 0)
        {
            return null;
        }
        var text = value[..slash];
        var bitsText = value[(slash + 1)..];
        var address = text.Contains(':') ? ParseIPv6(text, allowZone: false) : ParseIPv4(text);
        if (address is null)
        {
            return null;
        }
        var maxBits = address.AddressFamily == AddressFamily.InterNetwork ? 32UL : 128UL;
        if ((bitsText.Length > 1 && bitsText[0] == '0') || !TryParseDecimal(bitsText, maxBits, out var bits))
        {
            return null;
        }
        return new IPNetwork(Mask(address, (int)bits), (int)bits);
    }

    private static IPAddress Mask(IPAddress address, int bits)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var length);
        bytes = bytes[..length];
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(bits - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF00 >> keep);
        }
        return new IPAddress(bytes);
    }

    /// <summary>Four decimal octets without leading zeros, as Go's netip.ParseAddr (unlike
    /// <see cref="IPAddress.TryParse(string, out IPAddress)"/>, which also takes "10.1", octal and hex forms).</summary>
    internal static IPAddress? ParseIPv4(ReadOnlySpan<char> text)
    {
        Span<byte> octets = stackalloc byte[4];
        var index = 0;
        foreach (var range in text.Split('.'))
        {
            var part = text[range];
            if (index == 4 || part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0')
                || !TryParseDecimal(part, 255, out var octet))
            {
                return null;
            }
            octets[index++] = (byte)octet;
        }
        return index == 4 ? new IPAddress(octets) : null;
    }

    private static IPAddress? ParseIPv6(ReadOnlySpan<char> text, bool allowZone)
    {
        var percent = text.IndexOf('%');
        var addressPart = percent < 0 ? text : text[..percent];
        if (percent >= 0 && (!allowZone || percent == text.Length - 1))
        {
            return null;
        }
        // Only the characters an IPv6 literal uses: IPAddress.TryParse is more liberal (brackets, ports).
        if (!addressPart.Contains(':') || addressPart.ContainsAnyExcept(IPv6Characters))
        {
            return null;
        }
        if (!IPAddress.TryParse(text, out var address) || address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return null;
        }
        return address;
    }

    /// <summary>A key name as it may appear in a message: names are short lowercase words; anything else is
    /// only described, since it could be a mistyped key (a base64 key before its '=' padding, say).</summary>
    internal static string QuoteKey(ReadOnlySpan<char> key) =>
        key.Length is > 0 and <= 32 && !key.ContainsAnyExcept(KeyNameCharacters)
            ? $"\"{key}\""
            : $"({key.Length} characters)";

    /// <summary>A value as it may appear in a message: only when shorter than any key encoding (44 characters of
    /// base64, 64 of hex) and printable ASCII, so that a key pasted into the wrong field is never logged.</summary>
    internal static string Quote(ReadOnlySpan<char> value) =>
        value.Length < 40 && !value.ContainsAnyExceptInRange(' ', '~')
            ? $"\"{value}\""
            : $"({value.Length} characters)";
}
