using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;

namespace Pangolin.Edge.L4;

/// <summary>
/// PROXY protocol headers (haproxy's <c>proxy-protocol.txt</c>) that tell a target who the client is: version 1 (text)
/// and version 2 (binary), written into a caller's buffer without allocating.
/// </summary>
/// <remarks>
/// IPv4-mapped IPv6 addresses (what a dual-mode socket reports for an IPv4 client) are written as IPv4. When the two
/// addresses are still of different families, both are written as IPv6 with the IPv4 one mapped
/// (<c>::ffff:a.b.c.d</c>), as gerbil does for an IPv6 client and an IPv4 target (PROTOCOL.md §3.5). Gerbil's other
/// mixed case, an IPv4 client and an IPv6 target, writes TCP4 with 127.0.0.1 as the destination; here it is mapped
/// the same way instead, so the destination stays true (the client's address is then sent as <c>::ffff:a.b.c.d</c>).
/// Anything that is not an IP endpoint is <c>PROXY UNKNOWN</c> (v1), or the PROXY command with AF_UNSPEC and no
/// address block (v2).
/// </remarks>
public static class ProxyProtocol
{
    /// <summary>The longest v1 header (§2.1: 107 bytes, the receiver's buffer; this writes at most 104).</summary>
    public const int MaxV1Length = 107;

    /// <summary>The longest v2 header this writes: 16 bytes, then 36 for two IPv6 addresses and ports.</summary>
    public const int MaxV2Length = 16 + 36;

    /// <summary>§2.2: the v2 signature.</summary>
    public static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>
    /// Writes <c>PROXY TCP4|TCP6 src dst sport dport\r\n</c>, or <c>PROXY UNKNOWN\r\n</c>.
    /// </summary>
    /// <param name="destination">At least <see cref="MaxV1Length"/> bytes.</param>
    /// <param name="source">The client.</param>
    /// <param name="target">The address the client connected to (the listener's local endpoint).</param>
    /// <returns>The header's length.</returns>
    public static int WriteV1(Span<byte> destination, IPEndPoint? source, IPEndPoint? target)
    {
        if (destination.Length < MaxV1Length)
        {
            throw new ArgumentException($"A PROXY v1 header needs {MaxV1Length} bytes.", nameof(destination));
        }

        if (!TryPrepare(source, target, out var src, out var dst, out var v6))
        {
            "PROXY UNKNOWN\r\n"u8.CopyTo(destination);
            return 15;
        }

        var written = 0;
        Append(destination, ref written, v6 ? "PROXY TCP6 "u8 : "PROXY TCP4 "u8);
        AppendAddress(destination, ref written, src, v6);
        Append(destination, ref written, " "u8);
        AppendAddress(destination, ref written, dst, v6);
        Append(destination, ref written, " "u8);
        AppendPort(destination, ref written, source!.Port);
        Append(destination, ref written, " "u8);
        AppendPort(destination, ref written, target!.Port);
        Append(destination, ref written, "\r\n"u8);
        return written;
    }

    /// <summary>
    /// Writes the v2 signature, version 2 with the PROXY command (0x21), AF_INET or AF_INET6 over STREAM (0x11, 0x21),
    /// the address block's length, then source and destination addresses and ports, all in network order.
    /// </summary>
    /// <param name="destination">At least <see cref="MaxV2Length"/> bytes.</param>
    /// <returns>The header's length: 28 for IPv4, 52 for IPv6, 16 for an unknown family.</returns>
    public static int WriteV2(Span<byte> destination, IPEndPoint? source, IPEndPoint? target)
    {
        if (destination.Length < MaxV2Length)
        {
            throw new ArgumentException($"A PROXY v2 header needs {MaxV2Length} bytes.", nameof(destination));
        }

        V2Signature.CopyTo(destination);
        destination[12] = 0x21; // version 2, PROXY
        if (!TryPrepare(source, target, out var src, out var dst, out var v6))
        {
            // §2.2: AF_UNSPEC with no address block; the receiver uses the connection's own addresses.
            destination[13] = 0x00;
            BinaryPrimitives.WriteUInt16BigEndian(destination[14..], 0);
            return 16;
        }

        var addressLength = v6 ? 16 : 4;
        destination[13] = v6 ? (byte)0x21 : (byte)0x11; // AF_INET6|AF_INET << 4, STREAM
        var blockLength = (addressLength * 2) + 4;
        BinaryPrimitives.WriteUInt16BigEndian(destination[14..], (ushort)blockLength);
        var block = destination.Slice(16, blockLength);
        WriteAddressBytes(block[..addressLength], src);
        WriteAddressBytes(block.Slice(addressLength, addressLength), dst);
        BinaryPrimitives.WriteUInt16BigEndian(block[(addressLength * 2)..], (ushort)source!.Port);
        BinaryPrimitives.WriteUInt16BigEndian(block[((addressLength * 2) + 2)..], (ushort)target!.Port);
        return 16 + blockLength;
    }

    /// <summary>
    /// The two addresses in one family. <paramref name="v6"/> is false when both are IPv4 (mapped ones included).
    /// </summary>
    private static bool TryPrepare(IPEndPoint? source, IPEndPoint? target, out IPAddress src, out IPAddress dst, out bool v6)
    {
        src = dst = IPAddress.None;
        v6 = false;
        if (source is null || target is null || !IsIp(source.Address) || !IsIp(target.Address))
        {
            return false;
        }

        src = source.Address;
        dst = target.Address;
        var srcV4 = src.AddressFamily == AddressFamily.InterNetwork || src.IsIPv4MappedToIPv6;
        var dstV4 = dst.AddressFamily == AddressFamily.InterNetwork || dst.IsIPv4MappedToIPv6;
        v6 = !(srcV4 && dstV4);
        return true;
    }

    private static bool IsIp(IPAddress address) =>
        address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;

    /// <summary>Writes the address as 4 bytes (IPv4 or mapped) or 16 (IPv6; IPv4 mapped into it).</summary>
    private static void WriteAddressBytes(Span<byte> destination, IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var length);
        if (destination.Length == 4)
        {
            // Either a 4-byte address or a mapped one, whose IPv4 part is the last 4 bytes.
            bytes.Slice(length - 4, 4).CopyTo(destination);
        }
        else if (length == 4)
        {
            destination[..10].Clear();
            destination[10] = 0xFF;
            destination[11] = 0xFF;
            bytes[..4].CopyTo(destination[12..]);
        }
        else
        {
            bytes.CopyTo(destination);
        }
    }

    private static void AppendAddress(Span<byte> destination, ref int written, IPAddress address, bool v6)
    {
        Span<byte> raw = stackalloc byte[16];
        WriteAddressBytes(v6 ? raw : raw[..4], address);
        if (!v6)
        {
            AppendDotted(destination, ref written, raw[..4]);
            return;
        }

        // IPv4 in a TCP6 line: RFC 4291 §2.5.5.2's ::ffff:a.b.c.d, in RFC 5952 §5's mixed notation.
        if (raw[..10].IndexOfAnyExcept((byte)0) < 0 && raw[10] == 0xFF && raw[11] == 0xFF)
        {
            Append(destination, ref written, "::ffff:"u8);
            AppendDotted(destination, ref written, raw[12..]);
            return;
        }

        // RFC 5952 §4: lower-case hex without leading zeros; the longest run (the first of equals) of two or more
        // zero groups becomes "::". Written here so that no zone (%eth0) and no allocation slips in.
        int bestStart = -1, bestLength = 0;
        for (var i = 0; i < 8;)
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(raw[(i * 2)..]) != 0)
            {
                i++;
                continue;
            }

            var runStart = i;
            while (i < 8 && BinaryPrimitives.ReadUInt16BigEndian(raw[(i * 2)..]) == 0)
            {
                i++;
            }

            if (i - runStart > bestLength && i - runStart >= 2)
            {
                (bestStart, bestLength) = (runStart, i - runStart);
            }
        }

        for (var i = 0; i < 8; i++)
        {
            if (i == bestStart)
            {
                Append(destination, ref written, "::"u8);
                i += bestLength - 1;
                continue;
            }

            if (i > 0 && i != bestStart + bestLength)
            {
                Append(destination, ref written, ":"u8);
            }

            Utf8Formatter.TryFormat(BinaryPrimitives.ReadUInt16BigEndian(raw[(i * 2)..]), destination[written..], out var n, new StandardFormat('x'));
            written += n;
        }
    }

    private static void AppendDotted(Span<byte> destination, ref int written, ReadOnlySpan<byte> octets)
    {
        for (var i = 0; i < 4; i++)
        {
            if (i > 0)
            {
                Append(destination, ref written, "."u8);
            }

            Utf8Formatter.TryFormat(octets[i], destination[written..], out var n);
            written += n;
        }
    }

    private static void AppendPort(Span<byte> destination, ref int written, int port)
    {
        Utf8Formatter.TryFormat(port, destination[written..], out var n);
        written += n;
    }

    private static void Append(Span<byte> destination, ref int written, ReadOnlySpan<byte> text)
    {
        text.CopyTo(destination[written..]);
        written += text.Length;
    }
}
