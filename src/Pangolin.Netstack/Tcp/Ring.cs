namespace Pangolin.Netstack.Tcp;

/// <summary>The wrap-around copies and the doubling that the send and receive rings share.</summary>
internal static class Ring
{
    /// <summary>Copies <paramref name="destination"/>.Length bytes out of the ring from <paramref name="start"/>, wrapping.</summary>
    public static void CopyOut(byte[] ring, int start, Span<byte> destination)
    {
        var first = Math.Min(destination.Length, ring.Length - start);
        ring.AsSpan(start, first).CopyTo(destination);
        ring.AsSpan(0, destination.Length - first).CopyTo(destination[first..]);
    }

    /// <summary>Copies <paramref name="data"/> into the ring at <paramref name="start"/>, wrapping.</summary>
    public static void CopyIn(byte[] ring, int start, ReadOnlySpan<byte> data)
    {
        var first = Math.Min(data.Length, ring.Length - start);
        data[..first].CopyTo(ring.AsSpan(start));
        data[first..].CopyTo(ring);
    }

    /// <summary>
    /// A ring doubled until it holds <paramref name="needed"/> bytes (never beyond <paramref name="capacity"/>), with the
    /// <paramref name="used"/> bytes from <paramref name="start"/> moved to its beginning.
    /// </summary>
    public static byte[] Grow(byte[] ring, int start, int used, int needed, int capacity)
    {
        var size = ring.Length;
        while (size < needed)
        {
            size = (int)Math.Min((long)size * 2, capacity);
        }
        var grown = new byte[size];
        CopyOut(ring, start, grown.AsSpan(0, used));
        return grown;
    }
}
