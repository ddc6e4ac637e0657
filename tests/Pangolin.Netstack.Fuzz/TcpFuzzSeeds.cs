using System.Buffers.Binary;

namespace Pangolin.Netstack.Fuzz;

/// <summary>
/// Starting inputs for the `tcp` target (layout in <see cref="TcpFuzzTarget"/>): each a short conversation with the
/// established connection that reaches one part of the state machine.
/// </summary>
internal static class TcpFuzzSeeds
{
    private const byte Fin = 0x01;
    private const byte Syn = 0x02;
    private const byte Rst = 0x04;
    private const byte Psh = 0x08;
    private const byte Ack = 0x10;

    // Application actions (control bits 5-7).
    private const int Read = 1;
    private const int Write100 = 2;
    private const int Write3000 = 3;
    private const int HalfClose = 4;
    private const int Close = 5;

    public static IEnumerable<(string Name, byte[] Data)> All()
    {
        // In-order data, the delayed ACK, a read.
        yield return ("data", Input(0,
            Record(Advance(0), Segment(0, 0, Ack | Psh, payload: 100)),
            Record(Advance(40), Segment(100, 0, Ack, payload: 1000)),
            Record(Advance(0) | Action(Read), Segment(1100, 0, Ack, payload: 1000))));

        // Receive coalescing: a batch of in-order segments with the same timestamps, one out of order, a PSH, a read.
        yield return ("coalesced", Input(8,
            Record(0, Segment(0, 0, Ack, payload: 1000)),
            Record(0, Segment(1000, 0, Ack, payload: 1000)),
            Record(0, Segment(3000, 0, Ack, payload: 1000)),
            Record(0, Segment(2000, 0, Ack | Psh, payload: 1000)),
            Record(0, Segment(4000, 0, Ack, payload: 1000)),
            Record(Advance(0) | Action(Read), Segment(5000, 0, Ack | Psh, payload: 500))));

        // Out-of-order data, SACK blocks in the duplicate ACKs, the hole filled, a read.
        yield return ("out-of-order", Input(0,
            Record(Advance(0), Segment(500, 0, Ack, payload: 200)),
            Record(Advance(0), Segment(1000, 0, Ack, payload: 300)),
            Record(Advance(0), Segment(0, 0, Ack, payload: 500)),
            Record(Advance(41) | Action(Read), Segment(700, 0, Ack, payload: 300))));

        // The application writes; the peer SACKs around a loss (three duplicate ACKs), then ACKs everything.
        yield return ("sack-acks", Input(0,
            Record(Advance(0) | Action(Write3000), Segment(0, 0, Ack)),
            Record(Advance(0), Segment(0, 0, Ack, options: Sack((1000, 2000)))),
            Record(Advance(0), Segment(0, 0, Ack, options: Sack((1000, 3000)))),
            Record(Advance(0), Segment(0, 0, Ack, options: Sack((1000, 3000), (3500, 3600)))),
            Record(Advance(5), Segment(0, 3000, Ack)),
            Record(Advance(200) | Action(Write3000), Segment(0, 3000, Ack)),
            Record(Advance(1000), Segment(0, 6000, Ack))));

        // The peer's data and FIN; the application reads to the end and closes (CLOSE-WAIT, LAST-ACK).
        yield return ("fin-passive", Input(0,
            Record(Advance(0), Segment(0, 0, Ack | Psh | Fin, payload: 50)),
            Record(Advance(0) | Action(Read), Segment(51, 0, Ack)),
            Record(Advance(0) | Action(Close), Segment(51, 0, Ack)),
            Record(Advance(1000), Segment(51, 1, Ack))));

        // The application closes first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, a retransmitted FIN, CLOSED.
        yield return ("fin-active", Input(0,
            Record(Advance(0) | Action(Close), Segment(0, 0, Ack)),
            Record(Advance(0), Segment(0, 1, Ack)),
            Record(Advance(30000), Segment(0, 1, Ack | Fin)),
            Record(Advance(60000), Segment(0, 1, Ack | Fin)),
            Record(Advance(0), Segment(1, 1, Ack))));

        // Simultaneous close (CLOSING).
        yield return ("fin-simultaneous", Input(0,
            Record(Advance(0) | Action(HalfClose), Segment(0, 0, Ack | Fin)),
            Record(Advance(60000), Segment(1, 1, Ack))));

        // A reset in the window (challenge ACK), then the exact one.
        yield return ("rst", Input(0,
            Record(Advance(0), Segment(10, 0, Rst)),
            Record(Advance(0) | Action(Read), Segment(0, 0, Rst)),
            Record(Advance(0), Segment(0, 0, Ack))));

        // A SYN on the connection (challenge ACK); after a reset, a new SYN makes a new connection.
        yield return ("syn", Input(0,
            Record(Advance(0), Segment(5000, 0, Syn, options: [2, 4, 5, 0xB4])),
            Record(Advance(0), Segment(0, 0, Rst)),
            Record(Advance(0), Segment(100000, 0, Syn, options: [2, 4, 5, 0xB4, 1, 3, 3, 14])),
            Record(Advance(1000), Segment(100001, 1, Ack))));

        // A zero window: the data waits, probes go out with backoff, then the window opens.
        yield return ("zero-window", Input(0,
            Record(Advance(0), Segment(0, 0, Ack, window: 0)),
            Record(Advance(1000) | Action(Write3000), Segment(0, 0, Ack, window: 0)),
            Record(Advance(2000), Segment(0, 0, Ack, window: 0)),
            Record(Advance(4000), Segment(0, 0, Ack, window: 0)),
            Record(Advance(0), Segment(0, 0, Ack, window: 100))));

        // Retransmission timeouts until the connection gives up.
        yield return ("timeouts", Input(1,
            Record(Advance(120000) | Action(Write100), Segment(0, 0, Ack)),
            Record(Advance(120000), Segment(0, 0, Ack)),
            Record(Advance(600000), Segment(0, 0, Ack)),
            Record(Advance(1200000) | Action(Write100), Segment(0, 0, Ack))));

        // Option corner cases: unknown kinds, SYN-only options on data, four SACK blocks, an EOL before garbage.
        yield return ("options", Input(0,
            Record(Advance(0), Segment(0, 0, Ack, options: [1, 1, 1, 99, 4, 0xAA, 0xBB, 2, 4, 0x01, 0x00, 3, 3, 14, 1])),
            Record(Advance(0) | Action(Write3000), Segment(0, 0, Ack, options: Sack((0, 10), (20, 30), (40, 50), (60, 70)))),
            Record(Advance(0), Segment(0, 0, Ack, options: [0, 5, 3, 1, 1, 1, 1, 1])),
            Record(Advance(0), Segment(0, 0, Ack, options: [8, 10, 0, 0, 0, 9, 0, 0, 0, 1, 1, 1])),
            Record(Advance(0), Segment(0, 0, Ack, options: [5, 10, 0, 0, 0, 0, 0, 0, 0, 0])),
            Record(Advance(0), Segment(0, 0, Ack, options: [5, 2, 1, 1]))));

        // Old duplicates, data beyond the window, an ACK of data never sent.
        yield return ("out-of-window", Input(0,
            Record(Advance(0), Segment(0, 0, Ack, payload: 100)),
            Record(Advance(0), Segment(0, 0, Ack, payload: 100)),
            Record(Advance(0), Segment(0x10000000, 0, Ack, payload: 10)),
            Record(Advance(0), Segment(100, 50000, Ack, payload: 10)),
            Record(Advance(0), Segment(0xFFFFFFF0, 0, Ack, payload: 100))));

        // Without timestamps, window scaling or SACK.
        yield return ("bare-handshake", Input(7,
            Record(Advance(0) | Action(Write3000), Segment(0, 0, Ack, payload: 10)),
            Record(Advance(0), Segment(10, 1000, Ack, window: 500)),
            Record(Advance(1000), Segment(10, 3000, Ack))));
    }

    private static int Advance(int milliseconds)
    {
        var index = Array.IndexOf(TcpFuzzTarget.Advances, milliseconds);
        return index >= 0 ? index : throw new ArgumentOutOfRangeException(nameof(milliseconds), milliseconds, "Not one of the target's advances.");
    }

    private static int Action(int action) => action << 5;

    private static byte[] Input(byte variant, params byte[][] records) => [variant, .. records.SelectMany(r => r)];

    private static byte[] Record(int control, byte[] segment)
    {
        var record = new byte[3 + segment.Length];
        record[0] = (byte)control;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(1), (ushort)segment.Length);
        segment.CopyTo(record, 3);
        return record;
    }

    /// <summary>A segment with relative numbers; ports, checksum and payload bytes are the target's to fill in.</summary>
    private static byte[] Segment(uint sequence, uint ack, int flags, ushort window = 1000, byte[]? options = null, int payload = 0)
    {
        options ??= [];
        var padded = (options.Length + 3) & ~3;
        var segment = new byte[20 + padded + payload];
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(4), sequence);
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(8), ack);
        segment[12] = (byte)((20 + padded) / 4 << 4);
        segment[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(14), window);
        options.CopyTo(segment, 20);
        return segment;
    }

    private static byte[] Sack(params (uint Left, uint Right)[] blocks)
    {
        var option = new byte[2 + (2 + (8 * blocks.Length))];
        option[0] = option[1] = 1;
        option[2] = 5;
        option[3] = (byte)(2 + (8 * blocks.Length));
        for (var i = 0; i < blocks.Length; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(4 + (8 * i)), blocks[i].Left);
            BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(8 + (8 * i)), blocks[i].Right);
        }
        return option;
    }
}
