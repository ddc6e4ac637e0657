using System.Buffers.Binary;
using System.Net.Sockets;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// A few fields of a kernel socket's TCP_INFO (getsockopt, linux/tcp.h struct tcp_info): how much of what it sent
/// the stack has acknowledged, and how much it received — what the stack's windows let through.
/// </summary>
public readonly record struct KernelTcpInfo(int Unacknowledged, long BytesAcked, long BytesReceived, int NotSentBytes)
{
    private const int IpProtoTcp = 6;
    private const int TcpInfo = 11;

    public static KernelTcpInfo Of(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Span<byte> info = stackalloc byte[232];
        var length = socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
        if (length < 148)
        {
            throw new PlatformNotSupportedException($"TCP_INFO is {length} bytes: too old a kernel for tcpi_notsent_bytes");
        }
        // Offsets in struct tcp_info: tcpi_unacked at 24, tcpi_bytes_acked at 120 and tcpi_bytes_received at 128
        // (u64, since Linux 4.1), tcpi_notsent_bytes at 144 (Linux 4.6). Native byte order.
        return new KernelTcpInfo(
            BinaryPrimitives.ReadInt32LittleEndian(info[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(info[120..]),
            BinaryPrimitives.ReadInt64LittleEndian(info[128..]),
            BinaryPrimitives.ReadInt32LittleEndian(info[144..]));
    }
}
