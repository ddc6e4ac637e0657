using System.Buffers;
using System.Buffers.Binary;
using Pangolin.Packets;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// A link that keeps every packet the stack sends, for tests that look at the bytes. With
/// a segmentation size above zero it also offers segmentation offload, and cuts the super-packets it is
/// given into the segments a NIC would put on the wire — by its own reading of TSO, independent of the device's — so
/// that tests see (and check) ordinary segments either way; <see cref="SuperPackets"/> counts what came whole.
/// </summary>
public sealed class CapturingLink(int mtu = 1420, int segmentationSize = 0) : ISegmentationOffloadLink
{
    private readonly List<byte[]> _sent = [];
    private int _superPackets;

    public int Mtu { get; } = mtu;

    public int MaxSegmentationSize { get; } = segmentationSize;

    /// <summary>Super-packets the stack handed over (each already cut into <see cref="Sent"/>).</summary>
    public int SuperPackets => Volatile.Read(ref _superPackets);

    /// <summary>The segment size of each super-packet, in order.</summary>
    public List<int> SegmentSizes { get; } = [];

    public IReadOnlyList<byte[]> Sent
    {
        get
        {
            lock (_sent)
            {
                return [.. _sent];
            }
        }
    }

    public void Send(ReadOnlySpan<byte> packet)
    {
        Assert.True(packet.Length <= Mtu, $"a {packet.Length}-byte packet on a link of MTU {Mtu}");
        lock (_sent)
        {
            _sent.Add(packet.ToArray());
        }
    }

    public void SendSegmented(byte[] buffer, int length, int segmentSize)
    {
        Assert.True(MaxSegmentationSize > 0, "a super-packet on a link that offers no segmentation");
        Assert.True(length <= MaxSegmentationSize, $"a {length}-byte super-packet, over the {MaxSegmentationSize} offered");
        try
        {
            var packet = buffer.AsSpan(0, length);
            Assert.Equal(0x45, packet[0]);
            Assert.Equal(length, BinaryPrimitives.ReadUInt16BigEndian(packet[2..]));
            var headers = 20 + ((packet[32] >> 4) * 4);
            var payload = length - headers;
            Assert.True(payload > segmentSize, $"a super-packet of {payload} payload bytes, not more than one {segmentSize}-byte segment");
            lock (_sent)
            {
                _superPackets++;
                SegmentSizes.Add(segmentSize);
                var identification = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
                var sequence = BinaryPrimitives.ReadUInt32BigEndian(packet[24..]);
                var flags = packet[33];
                for (var at = 0; at < payload; at += segmentSize)
                {
                    var size = Math.Min(segmentSize, payload - at);
                    var segment = new byte[headers + size];
                    packet[..headers].CopyTo(segment);
                    packet.Slice(headers + at, size).CopyTo(segment.AsSpan(headers));
                    BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), (ushort)segment.Length);
                    BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(4), (ushort)(identification + (at / segmentSize)));
                    segment[10] = segment[11] = 0;
                    InternetChecksum.Write(segment.AsSpan(10, 2), InternetChecksum.Add(segment.AsSpan(0, 20)));
                    BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(24), sequence + (uint)at);
                    var last = at + size >= payload;
                    segment[33] = last ? flags : (byte)(flags & ~0x09); // FIN and PSH on the last segment only
                    segment[36] = segment[37] = 0;
                    var tcp = segment.AsSpan(20);
                    var pseudo = InternetChecksum.PseudoHeader(segment.AsSpan(12, 4), segment.AsSpan(16, 4), 6, tcp.Length);
                    InternetChecksum.Write(tcp.Slice(16, 2), InternetChecksum.Add(tcp, pseudo));
                    Assert.True(segment.Length <= Mtu, $"a {segment.Length}-byte segment cut for a link of MTU {Mtu}");
                    _sent.Add(segment);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
