using System.Buffers.Binary;
using System.Net;
using Pangolin.Netstack.Tcp;
using Pangolin.Packets;

namespace Pangolin.Netstack.Fuzz;

/// <summary>
/// The `tcp` target: the TCP state machine of one established connection, fed segment by segment on a manual clock.
/// Input layout:
/// <code>
///   byte 0        handshake variant: bit 0 set = no timestamps, bit 1 = no window scale, bit 2 = no SACK-permitted,
///                 bit 3 = receive coalescing: records with control 0 (no action, no time) go in one receive batch
///   then records: [control: 1][length: 2, big-endian][TCP header + payload: length bytes]
///                 control bits 0-4 pick a clock advance (see <see cref="Advances"/>), bits 5-7 an application action
/// </code>
/// Each record's segment goes to the connection's 4-tuple with its ports, checksum and payload bytes rewritten and its
/// sequence, acknowledgment and SACK edges taken as offsets from the peer's and the stack's initial sequence numbers
/// (the stack's ISS is random; offsets make every input replay the same). Payload bytes are a function of their
/// sequence offset, so whatever the application reads can be checked. Then the application acts, then time passes
/// and timers fire. Findings: any exception, and any broken invariant (<see cref="CheckingLink"/>): a segment with a
/// bad checksum or the wrong ports, data the application never wrote, an ACK of bytes the peer never sent, or bytes
/// read that the peer did not send at that offset.
/// </summary>
internal static class TcpFuzzTarget
{
    public const ushort ServerPort = 8080;
    public const ushort PeerPort = 40000;
    public const uint PeerIss = 0x7FFFFF00; // the peer's numbers cross 2^31 early

    private const int SendBufferSize = 8 * 1024; // small: the ring wraps within a few ACKs
    private const int ReceiveBufferSize = 16 * 1024;

    /// <summary>Clock advances in milliseconds, around the stack's deadlines (40 ms ACK, 200 ms-120 s RTO, 60 s TIME-WAIT).</summary>
    internal static readonly int[] Advances =
    [
        0, 1, 5, 20, 39, 40, 41, 100, 199, 200, 250, 500, 999, 1000, 1001, 1500,
        2000, 3000, 4000, 7000, 8000, 16000, 30000, 59999, 60000, 64000, 119999, 120000, 240000, 600000, 1200000, 3600000,
    ];

    public static byte Pattern(long offset) => unchecked((byte)((offset * 31) + (offset >> 8) + 7));

    public static void Run(byte[] data)
    {
        if (data.Length == 0)
        {
            return;
        }
        var time = new ManualTimeProvider();
        var link = new CheckingLink();
        var variant = data[0];
        var coalescing = (variant & 8) != 0;
        using var stack = new NetworkStack(link, new NetworkStackOptions
        {
            Time = time,
            TcpSendBufferSize = SendBufferSize,
            TcpReceiveBufferSize = ReceiveBufferSize,
            LinkAuthenticatesPackets = coalescing,
            CoalesceReceivedSegments = coalescing,
        });
        stack.AddAddress(FuzzTargets.StackV4);
        using var listener = stack.ListenTcp(new IPEndPoint(FuzzTargets.StackV4, ServerPort));

        // The handshake: a SYN with the chosen options, the SYN-ACK, the ACK.
        var syn = SynOptions(variant);
        Feed(stack, PeerIss, 0, (byte)TcpFlags.Syn, 64240, syn);
        if (link.LastSynAck is not { } stackIss)
        {
            throw new InvalidOperationException("No SYN-ACK for the handshake's SYN.");
        }
        link.StackIss = stackIss;
        Feed(stack, PeerIss + 1, stackIss + 1, (byte)TcpFlags.Ack, 2000, (variant & 1) == 0 ? TimestampOption(1) : []);
        var accept = listener.AcceptAsync();
        if (!accept.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("The handshake did not complete.");
        }
        using var stream = (TcpStream)accept.Result;
        var connection = stream.Connection;
        link.Tracking = true;
        long readOffset = 0;

        var input = data.AsSpan(1);
        while (input.Length >= 3)
        {
            var control = input[0];
            var length = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(input[1..]), input.Length - 3);
            var segment = input.Slice(3, length);
            input = input[(3 + length)..];

            if (coalescing)
            {
                stack.BeginReceiveBatch(); // already in one after a control-0 record: a no-op then
            }
            FeedRecord(stack, link, segment);
            if (coalescing && control == 0 && input.Length >= 3)
            {
                continue; // the next record joins the batch
            }
            if (coalescing)
            {
                stack.EndReceiveBatch();
            }
            readOffset = Act(control >> 5, connection, stream, link, readOffset);
            time.Advance(TimeSpan.FromMilliseconds(Advances[control & 0x1F]));
        }
    }

    /// <summary>A SYN's options: MSS always, the others unless the variant's bit turns them off.</summary>
    private static byte[] SynOptions(byte variant)
    {
        var options = new List<byte> { 2, 4, 0x03, 0xE8 }; // MSS 1000: several segments fit the small buffers
        if ((variant & 4) == 0)
        {
            options.AddRange([1, 1, 4, 2]);
        }
        if ((variant & 1) == 0)
        {
            options.AddRange(TimestampOption(0));
        }
        if ((variant & 2) == 0)
        {
            options.AddRange([1, 3, 3, 7]);
        }
        return [.. options];
    }

    private static byte[] TimestampOption(uint echo)
    {
        var option = new byte[] { 1, 1, 8, 10, 0, 0, 0x10, 0, 0, 0, 0, 0 };
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(8), echo);
        return option;
    }

    /// <summary>One record: a TCP header (at least the fixed 20 bytes, zero-padded) and payload as the fuzzer wrote it.</summary>
    private static void FeedRecord(NetworkStack stack, CheckingLink link, ReadOnlySpan<byte> raw)
    {
        var segment = new byte[Math.Max(20, raw.Length)];
        raw.CopyTo(segment);
        var headerLength = Math.Clamp((segment[12] >> 4) * 4, 20, segment.Length);
        var relativeSequence = BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(4));
        var relativeAck = BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(8));
        var flags = segment[13];
        // Relative to the peer's ISS + 1 and the stack's ISS + 1, like Wireshark's relative sequence numbers.
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(4), unchecked(PeerIss + 1 + relativeSequence));
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(8), unchecked(link.StackIss + 1 + relativeAck));
        RebaseSackBlocks(segment.AsSpan(20, headerLength - 20), link.StackIss + 1);
        var payload = segment.AsSpan(headerLength);
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = Pattern((long)unchecked((int)relativeSequence) + i);
        }
        var end = (long)unchecked((int)relativeSequence) + payload.Length + ((flags & (byte)TcpFlags.Fin) != 0 ? 1 : 0);
        link.PeerHighestEnd = Math.Max(link.PeerHighestEnd, end);
        Send(stack, segment);
    }

    private static void Feed(NetworkStack stack, uint sequence, uint ack, byte flags, ushort window, byte[] options)
    {
        var segment = new byte[20 + options.Length];
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(4), sequence);
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(8), ack);
        segment[12] = (byte)((20 + options.Length) / 4 << 4);
        segment[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(14), window);
        options.CopyTo(segment, 20);
        Send(stack, segment);
    }

    /// <summary>Puts the 4-tuple's ports and a right checksum on a segment and hands it to the stack in an IPv4 packet.</summary>
    private static void Send(NetworkStack stack, byte[] segment)
    {
        BinaryPrimitives.WriteUInt16BigEndian(segment, PeerPort);
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), ServerPort);
        segment[16] = segment[17] = 0;
        var pseudo = InternetChecksum.PseudoHeader(FuzzTargets.PeerV4.GetAddressBytes(), FuzzTargets.StackV4.GetAddressBytes(), 6, segment.Length);
        InternetChecksum.Write(segment.AsSpan(16, 2), InternetChecksum.Add(segment, pseudo));
        var packet = new byte[20 + segment.Length];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = 64;
        packet[9] = 6;
        FuzzTargets.PeerV4.GetAddressBytes().CopyTo(packet, 12);
        FuzzTargets.StackV4.GetAddressBytes().CopyTo(packet, 16);
        InternetChecksum.Write(packet.AsSpan(10, 2), InternetChecksum.Add(packet.AsSpan(0, 20)));
        segment.CopyTo(packet, 20);
        stack.Receive(packet);
    }

    /// <summary>Adds <paramref name="base"/> to every SACK edge, walking the options as loosely as a parser must.</summary>
    private static void RebaseSackBlocks(Span<byte> options, uint @base)
    {
        var i = 0;
        while (i < options.Length)
        {
            var kind = options[i];
            if (kind == 0)
            {
                return;
            }
            if (kind == 1)
            {
                i++;
                continue;
            }
            if (i + 1 >= options.Length || options[i + 1] < 2)
            {
                return;
            }
            var length = options[i + 1];
            if (kind == 5)
            {
                for (var edge = i + 2; edge + 4 <= Math.Min(i + length, options.Length); edge += 4)
                {
                    var value = BinaryPrimitives.ReadUInt32BigEndian(options[edge..]);
                    BinaryPrimitives.WriteUInt32BigEndian(options[edge..], unchecked(value + @base));
                }
            }
            i += length;
        }
    }

    /// <summary>
    /// The application's move: 0 none, 1 and 7 read, 2 write 100 bytes, 3 write 3000, 4 half-close, 5 close, 6 write 1.
    /// Calls never wait: a cancelled token turns "would block" into an exception here.
    /// </summary>
    private static long Act(int action, TcpConnection connection, TcpStream stream, CheckingLink link, long readOffset)
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        try
        {
            switch (action)
            {
                case 1:
                case 7:
                    var buffer = new byte[4096];
                    var read = stream.ReadAsync(buffer, cancelled.Token);
                    if (!read.IsCompleted)
                    {
                        throw new InvalidOperationException("A read with a cancelled token did not complete at once.");
                    }
                    var count = read.Result;
                    for (var i = 0; i < count; i++)
                    {
                        if (buffer[i] != Pattern(readOffset + i))
                        {
                            throw new InvalidOperationException($"Read byte {readOffset + i} is not the byte the peer sent there.");
                        }
                    }
                    if (readOffset + count > link.PeerHighestEnd)
                    {
                        throw new InvalidOperationException("Read more bytes than the peer sent.");
                    }
                    return readOffset + count;
                case 2:
                case 3:
                case 6:
                    Write(connection, stream, link, action == 2 ? 100 : action == 3 ? 3000 : 1, cancelled.Token);
                    break;
                case 4:
                    stream.ShutdownSend();
                    break;
                case 5:
                    stream.Dispose();
                    break;
                default:
                    break;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException || e is AggregateException { InnerException: IOException or OperationCanceledException })
        {
            // The connection is closed or reset, or the call would have waited: the application's ordinary outcomes.
        }
        return readOffset;
    }

    private static void Write(TcpConnection connection, TcpStream stream, CheckingLink link, int count, CancellationToken cancelled)
    {
        var data = new byte[count];
        for (var i = 0; i < count; i++)
        {
            data[i] = Pattern(link.Written + i);
        }
        // Bytes accepted = growth of the send buffer (only ACKs, which cannot arrive during the call, shrink it).
        // During the call the stack sends what it took at once, so the link allows all of it until the count is known.
        var before = connection.SendBuffered;
        var written = link.Written;
        link.Written += count;
        try
        {
            var write = stream.WriteAsync(data, cancelled);
            if (!write.IsCompleted)
            {
                throw new InvalidOperationException("A write with a cancelled token did not complete at once.");
            }
            write.GetAwaiter().GetResult();
        }
        finally
        {
            link.Written = written + connection.SendBuffered - before;
        }
    }

    /// <summary>
    /// The link checks every packet the stack sends: IPv4 and TCP well-formed with right checksums and the 4-tuple's
    /// addresses and ports; and for the connection under test (until a new SYN-ACK starts another one), data only
    /// from what the application wrote, byte for byte, and ACKs only of what the peer sent.
    /// </summary>
    private sealed class CheckingLink : INetworkLink
    {
        public int Mtu => 1420;

        public uint? LastSynAck { get; private set; }

        public uint StackIss { get; set; }

        public bool Tracking { get; set; }

        public long Written { get; set; }

        public long PeerHighestEnd { get; set; }

        public void Send(ReadOnlySpan<byte> packet)
        {
            if (packet.Length > Mtu || packet.Length < 40 || packet[0] != 0x45 || BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) != packet.Length
                || !InternetChecksum.IsValid(InternetChecksum.Add(packet[..20])) || packet[9] != 6)
            {
                throw new InvalidOperationException("The stack sent a malformed IPv4 packet.");
            }
            if (!packet.Slice(12, 4).SequenceEqual(FuzzTargets.StackV4.GetAddressBytes()) || !packet.Slice(16, 4).SequenceEqual(FuzzTargets.PeerV4.GetAddressBytes()))
            {
                throw new InvalidOperationException("The stack sent a packet with the wrong addresses.");
            }
            var segment = packet[20..];
            var pseudo = InternetChecksum.PseudoHeader(packet.Slice(12, 4), packet.Slice(16, 4), 6, segment.Length);
            if (!InternetChecksum.IsValid(InternetChecksum.Add(segment, pseudo)))
            {
                throw new InvalidOperationException("The stack sent a segment with a bad checksum.");
            }
            if (!TcpSegmentView.TryParse(segment, out var tcp))
            {
                throw new InvalidOperationException("The stack sent a segment it cannot parse itself.");
            }
            if (tcp.SourcePort != ServerPort || tcp.DestinationPort != PeerPort)
            {
                throw new InvalidOperationException("The stack sent a segment with the wrong ports.");
            }
            var flags = tcp.Flags;
            if ((flags & TcpFlags.Syn) != 0)
            {
                if (Tracking)
                {
                    Tracking = false; // a new incarnation of the 4-tuple: its numbers are not the ones tracked
                }
                LastSynAck = tcp.Sequence.Value;
                return;
            }
            if (!Tracking || (flags & TcpFlags.Rst) != 0)
            {
                return;
            }
            var offset = (long)unchecked((int)(tcp.Sequence.Value - (StackIss + 1)));
            var payload = tcp.Payload;
            var fin = (flags & TcpFlags.Fin) != 0 ? 1 : 0;
            // Data lies within what was written; a FIN comes right after the last byte written; a bare ACK carries
            // SND.NXT, at most one past the data (the FIN's number), or SND.UNA - 1 (a window or keepalive probe).
            var bad = payload.Length > 0 && offset + payload.Length > Written
                || fin == 1 && offset + payload.Length != Written
                || offset < -1 || offset == -1 && (payload.Length > 0 || fin == 1) || offset > Written + 1;
            if (bad)
            {
                throw new InvalidOperationException($"The stack sent bytes {offset}..{offset + payload.Length} (FIN {fin}) but the application wrote {Written}.");
            }
            for (var i = 0; i < payload.Length; i++)
            {
                if (payload[i] != Pattern(offset + i))
                {
                    throw new InvalidOperationException($"The stack sent the wrong byte at offset {offset + i}.");
                }
            }
            if ((flags & TcpFlags.Ack) != 0)
            {
                var acked = (long)unchecked((int)(tcp.Acknowledgment.Value - (PeerIss + 1)));
                if (acked > PeerHighestEnd || acked < 0)
                {
                    throw new InvalidOperationException($"The stack acknowledged {acked} bytes but the peer sent at most {PeerHighestEnd}.");
                }
            }
        }
    }
}
