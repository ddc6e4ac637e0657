using System.Net;

namespace Pangolin.Server.Sites;

/// <summary>
/// Finds the lowest free block of a given prefix length inside an IPv4 pool: org subnets, exit-node networks (a /24
/// from the exit-node group) and site blocks (a /30 inside the node's network, the node's own /30 counted as used).
/// </summary>
public static class SubnetAllocator
{
    /// <summary>
    /// The lowest free /<paramref name="prefixLength"/> at or above the pool's address as written, within as many
    /// blocks as the pool's prefix holds. Upstream's default exit-node group, 100.89.137.0/20, is not aligned to a
    /// /20; like upstream we start at 100.89.137.0 and give 100.89.137.0/24 … 100.89.152.0/24.
    /// </summary>
    public static string? Next(string pool, int prefixLength, IEnumerable<string> used)
    {
        var slash = pool.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(pool.AsSpan(0, slash), out var baseAddress) || !int.TryParse(pool.AsSpan(slash + 1), out var poolPrefix)
            || baseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || poolPrefix is < 0 or > 32
            || prefixLength < poolPrefix || prefixLength > 32)
        {
            return null;
        }
        var taken = used.Select(u => Syntax.TryParseCidr(u, out var n) ? n : (IPNetwork?)null).OfType<IPNetwork>().ToList();
        var blockSize = 1L << (32 - prefixLength);
        var start = ToUInt(baseAddress) & ~(uint)(blockSize - 1);
        var blocks = 1L << (prefixLength - poolPrefix);
        for (var i = 0L; i < blocks && start + (i * blockSize) <= uint.MaxValue; i++)
        {
            var candidate = new IPNetwork(FromUInt((uint)(start + (i * blockSize))), prefixLength);
            if (!taken.Any(t => Syntax.Overlaps(t, candidate)))
            {
                return candidate.ToString();
            }
        }
        return null;
    }

    private static uint ToUInt(IPAddress a)
    {
        var b = a.GetAddressBytes();
        return ((uint)b[0] << 24) | ((uint)b[1] << 16) | ((uint)b[2] << 8) | b[3];
    }

    private static IPAddress FromUInt(uint v) => new([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);
}
