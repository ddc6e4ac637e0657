using System.Net;
using System.Runtime.InteropServices;

namespace Pangolin.Netstack.Ip;

/// <summary>
/// An IPv4 or IPv6 address as a value (no allocation, cheap to compare and hash): 16 bytes, IPv4 in the first four.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly struct IpAddressBytes : IEquatable<IpAddressBytes>
{
    private readonly ulong _high;
    private readonly ulong _low;

    private IpAddressBytes(ulong high, ulong low, bool isIPv4)
    {
        _high = high;
        _low = low;
        IsIPv4 = isIPv4;
    }

    public bool IsIPv4 { get; }

    public int Length => IsIPv4 ? 4 : 16;

    public static IpAddressBytes From(ReadOnlySpan<byte> address)
    {
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        address.CopyTo(bytes);
        return new IpAddressBytes(MemoryMarshal.Read<ulong>(bytes), MemoryMarshal.Read<ulong>(bytes[8..]), address.Length == 4);
    }

    public static IpAddressBytes From(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            throw new ArgumentException("Not an IPv4 or IPv6 address.", nameof(address));
        }
        return From(bytes[..written]);
    }

    /// <summary>Copies the address (4 or 16 bytes) to <paramref name="destination"/>.</summary>
    public void CopyTo(Span<byte> destination)
    {
        Span<byte> bytes = stackalloc byte[16];
        MemoryMarshal.Write(bytes, in _high);
        MemoryMarshal.Write(bytes[8..], in _low);
        bytes[..Length].CopyTo(destination);
    }

    public bool IsUnspecified => _high == 0 && _low == 0;

    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        CopyTo(bytes);
        return new IPAddress(bytes[..Length]);
    }

    public bool Equals(IpAddressBytes other) => _high == other._high && _low == other._low && IsIPv4 == other.IsIPv4;

    public override bool Equals(object? obj) => obj is IpAddressBytes other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_high, _low, IsIPv4);

    public static bool operator ==(IpAddressBytes left, IpAddressBytes right) => left.Equals(right);

    public static bool operator !=(IpAddressBytes left, IpAddressBytes right) => !left.Equals(right);

    public override string ToString() => ToIPAddress().ToString();
}
