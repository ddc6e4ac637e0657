namespace Pangolin.WireGuard.Device;

/// <summary>
/// Where a device's plaintext IP packets come from and go to: a Linux TUN device, or an in-memory channel that a
/// userspace network stack plugs into. Modelled on wireguard-go's tun.Device: batches of packets, each written at
/// an offset inside its buffer so that the device can encrypt in place with room for its header in front.
/// Read is called from one thread and Write from one thread (they may differ); both block.
/// </summary>
public interface IPacketInterface : IDisposable
{
    string Name { get; }

    int Mtu { get; }

    /// <summary>The most packets one <see cref="Read"/> returns (and one <see cref="Write"/> takes).</summary>
    int BatchSize { get; }

    /// <summary>
    /// Blocks until at least one packet is available, then reads up to <c>buffers.Length</c> packets: packet i into
    /// <c>buffers[i]</c> starting at <paramref name="offset"/>, its length in <c>sizes[i]</c>. Returns the number read.
    /// Throws <see cref="ObjectDisposedException"/> once the interface is disposed (Dispose unblocks a pending Read).
    /// </summary>
    int Read(byte[][] buffers, int[] sizes, int offset);

    /// <summary>Writes packets i &lt; count: <c>buffers[i][offset .. offset + sizes[i]]</c>.</summary>
    void Write(byte[][] buffers, int[] sizes, int offset, int count);
}
