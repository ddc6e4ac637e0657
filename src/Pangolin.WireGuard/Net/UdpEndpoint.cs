using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Pangolin.WireGuard.Net;

/// <summary>
/// An IPv4 or IPv6 address and port, held in place (no <see cref="IPAddress"/> allocation) so that receiving a
/// datagram costs nothing. IPv4 addresses are stored as IPv4-mapped IPv6 (::ffff:a.b.c.d).
/// </summary>
public readonly struct UdpEndpoint : IEquatable<UdpEndpoint>
{
    private readonly ulong _high;
    private readonly ulong _low;
    private readonly ushort _port;
    private readonly bool _set;

    public UdpEndpoint(ReadOnlySpan<byte> ipv6OrMapped, ushort port)
    {
        if (ipv6OrMapped.Length != 16)
        {
            throw new ArgumentException("An endpoint address is 16 bytes (IPv6 or IPv4-mapped).", nameof(ipv6OrMapped));
        }
        _high = BinaryPrimitives.ReadUInt64BigEndian(ipv6OrMapped);
        _low = BinaryPrimitives.ReadUInt64BigEndian(ipv6OrMapped[8..]);
        _port = port;
        _set = true;
    }

    public bool IsSet => _set;

    public ushort Port => _port;

    /// <summary>True for IPv4 (held as ::ffff:a.b.c.d).</summary>
    public bool IsIPv4 => _high == 0 && (_low >> 32) == 0xFFFF;

    public void WriteAddress(Span<byte> destination16)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination16, _high);
        BinaryPrimitives.WriteUInt64BigEndian(destination16[8..], _low);
    }

    public static UdpEndpoint FromIPEndPoint(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var address = endpoint.Address.AddressFamily == AddressFamily.InterNetwork ? endpoint.Address.MapToIPv6() : endpoint.Address;
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        return new UdpEndpoint(bytes, (ushort)endpoint.Port);
    }

    public IPEndPoint ToIPEndPoint()
    {
        Span<byte> bytes = stackalloc byte[16];
        WriteAddress(bytes);
        var address = new IPAddress(bytes);
        return new IPEndPoint(IsIPv4 ? address.MapToIPv4() : address, _port);
    }

    public bool Equals(UdpEndpoint other) => _high == other._high && _low == other._low && _port == other._port && _set == other._set;

    public override bool Equals(object? obj) => obj is UdpEndpoint other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_high, _low, _port);

    public static bool operator ==(UdpEndpoint left, UdpEndpoint right) => left.Equals(right);

    public static bool operator !=(UdpEndpoint left, UdpEndpoint right) => !left.Equals(right);

    public override string ToString() => _set ? ToIPEndPoint().ToString() : "(none)";
}
