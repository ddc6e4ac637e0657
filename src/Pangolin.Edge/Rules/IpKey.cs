using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Pangolin.Edge.Rules;

/// <summary>
/// An address as a number, for comparisons without allocating: IPv4 in the low 32 bits, IPv6 in all 128. An
/// IPv4-mapped IPv6 address (<c>::ffff:a.b.c.d</c>, what a dual-mode socket reports for an IPv4 client) is its IPv4
/// address, so one rule covers a client whichever way the listener reports it.
/// </summary>
internal readonly record struct IpKey(bool IsV4, UInt128 Value)
{
    public int Bits => IsV4 ? 32 : 128;

    public static bool TryFrom(IPAddress address, out IpKey key)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            key = default;
            return false;
        }

        if (written == 4)
        {
            key = new IpKey(true, BinaryPrimitives.ReadUInt32BigEndian(bytes));
            return true;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            key = new IpKey(true, BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]));
            return true;
        }

        key = new IpKey(false, BinaryPrimitives.ReadUInt128BigEndian(bytes));
        return true;
    }

    /// <summary>
    /// Parses a rule's address strictly: dotted-quad IPv4 with decimal octets (as upstream's <c>parseInt</c> reads them,
    /// so <c>010.0.0.1</c> is 10.0.0.1, not octal), or an IPv6 address without a zone or brackets.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out IpKey key)
    {
        key = default;
        if (text.IsEmpty)
        {
            return false;
        }

        if (text.Contains(':'))
        {
            if (text.Contains('%') || text.Contains('[') || !IPAddress.TryParse(text, out var v6)
                || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }

            return TryFrom(v6, out key);
        }

        uint value = 0;
        var octets = 0;
        foreach (var range in text.Split('.'))
        {
            var part = text[range];
            if (part.Length is 0 or > 3 || !part.ContainsOnlyDigits()
                || !uint.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var octet) || octet > 255)
            {
                return false;
            }

            value = (value << 8) | octet;
            octets++;
        }

        if (octets != 4)
        {
            return false;
        }

        key = new IpKey(true, value);
        return true;
    }

    /// <summary>The mask with the top <paramref name="prefix"/> bits of a <paramref name="bits"/>-bit address set.</summary>
    public static UInt128 Mask(int prefix, int bits)
    {
        // A shift by the full width is a shift by 0 in C#, so /0 is written out.
        if (prefix == 0)
        {
            return UInt128.Zero;
        }

        var all = bits == 32 ? uint.MaxValue : UInt128.MaxValue;
        return (all << (bits - prefix)) & all;
    }
}

internal static class SpanDigits
{
    public static bool ContainsOnlyDigits(this ReadOnlySpan<char> text) => !text.ContainsAnyExceptInRange('0', '9');
}
