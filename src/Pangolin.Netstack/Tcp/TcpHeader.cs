using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Pangolin.Packets;

namespace Pangolin.Netstack.Tcp;

/// <summary>The control bits of the TCP header (RFC 9293 §3.1; ECE and CWR from RFC 3168 §6.1).</summary>
[Flags]
[SuppressMessage("Naming", "CA1711", Justification = "The header field is called the flags.")]
internal enum TcpFlags : byte
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
    Ece = 0x40,
    Cwr = 0x80,
}

/// <summary>One SACK block (RFC 2018 §3): the first sequence number of a received block and the one after its last.</summary>
internal readonly record struct SackBlock(SequenceNumber Left, SequenceNumber Right)
{
    public int Length => Right - Left;
}

/// <summary>Room for the four SACK blocks that fit in 40 bytes of options (RFC 2018 §3), without an array.</summary>
[InlineArray(TcpOptions.MaxSackBlocks)]
internal struct SackBlockBuffer
{
    private SackBlock _element;
}

/// <summary>
/// The TCP options this stack understands, parsed from or to be written into a header. A plain struct: reading a
/// segment's options allocates nothing.
/// </summary>
internal struct TcpOptions
{
    public const int MaxSackBlocks = 4;

    private SackBlockBuffer _sackBlocks;

    /// <summary>Maximum Segment Size option (RFC 9293 §3.7.1), only meaningful on a SYN.</summary>
    public bool HasMss { get; set; }

    public ushort Mss { get; set; }

    /// <summary>Window scale option (RFC 7323 §2), only on a SYN. Received shifts above 14 read as 14 (§2.3).</summary>
    public bool HasWindowScale { get; set; }

    public byte WindowScale { get; set; }

    /// <summary>SACK-permitted option (RFC 2018 §2), only on a SYN.</summary>
    public bool SackPermitted { get; set; }

    /// <summary>Timestamps option (RFC 7323 §3): TSval and TSecr.</summary>
    public bool HasTimestamps { get; set; }

    public uint TimestampValue { get; set; }

    public uint TimestampEcho { get; set; }

    public int SackBlockCount { get; private set; }

    /// <summary>The SACK blocks in the order they appear (RFC 2018 §4: the most recently received first).</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<SackBlock> SackBlocks => ((ReadOnlySpan<SackBlock>)_sackBlocks)[..SackBlockCount];

    /// <summary>Appends a block; false when four are already there.</summary>
    public bool AddSackBlock(SackBlock block)
    {
        if (SackBlockCount == MaxSackBlocks)
        {
            return false;
        }
        _sackBlocks[SackBlockCount++] = block;
        return true;
    }

    public void ClearSackBlocks() => SackBlockCount = 0;
}

/// <summary>
/// A received TCP segment, its header checked (RFC 9293 §3.1) and its options parsed. A view over the caller's
/// bytes: nothing is copied.
/// </summary>
internal readonly ref struct TcpSegmentView
{
    private readonly ReadOnlySpan<byte> _segment;
    private readonly TcpOptions _options;

    private TcpSegmentView(ReadOnlySpan<byte> segment, scoped in TcpOptions options)
    {
        _segment = segment;
        _options = options;
    }

    public ReadOnlySpan<byte> Segment => _segment;

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_segment);

    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_segment[2..]);

    public SequenceNumber Sequence => new(BinaryPrimitives.ReadUInt32BigEndian(_segment[4..]));

    public SequenceNumber Acknowledgment => new(BinaryPrimitives.ReadUInt32BigEndian(_segment[8..]));

    /// <summary>The header length in 32-bit words (5 to 15).</summary>
    public int DataOffset => _segment[12] >> 4;

    public int HeaderLength => DataOffset * 4;

    public TcpFlags Flags => (TcpFlags)_segment[13];

    /// <summary>The window field as sent, not yet shifted by the peer's window scale (RFC 7323 §2.3).</summary>
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_segment[14..]);

    /// <summary>The checksum field in network order, as a number (for logs and tests).</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_segment[16..]);

    public ushort Urgent => BinaryPrimitives.ReadUInt16BigEndian(_segment[18..]);

    public ReadOnlySpan<byte> OptionBytes => _segment[TcpHeader.MinLength..HeaderLength];

    public ReadOnlySpan<byte> Payload => _segment[HeaderLength..];

    /// <summary>SEG.LEN (RFC 9293 §3.4): the payload plus one for SYN and one for FIN.</summary>
    public int SegmentLength =>
        Payload.Length + ((Flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((Flags & TcpFlags.Fin) != 0 ? 1 : 0);

    [UnscopedRef]
    public ref readonly TcpOptions Options => ref _options;

    /// <summary>
    /// Checks the header and parses its options. False when the segment is shorter than its header, the data offset
    /// is below 5, or an option is malformed (RFC 9293 §3.1, MUST-7: an illegal option length must not crash us; we
    /// drop the segment). The checksum is not checked here: see <see cref="TcpHeader.IsChecksumValid"/>.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> segment, out TcpSegmentView view)
    {
        view = default;
        if (segment.Length < TcpHeader.MinLength)
        {
            return false;
        }
        var headerLength = (segment[12] >> 4) * 4;
        if (headerLength < TcpHeader.MinLength || headerLength > segment.Length)
        {
            return false;
        }
        if (!TcpHeader.TryParseOptions(segment[TcpHeader.MinLength..headerLength], out var options))
        {
            return false;
        }
        view = new TcpSegmentView(segment, options);
        return true;
    }
}

/// <summary>Parsing and writing of the TCP header (RFC 9293 §3.1) and its options, and its checksum.</summary>
internal static class TcpHeader
{
    public const int MinLength = 20;
    public const int MaxLength = 60;
    public const int MaxOptionsLength = MaxLength - MinLength;

    /// <summary>RFC 7323 §2.3: a shift above 14 is treated as 14.</summary>
    public const int MaxWindowScale = 14;

    private const byte KindEnd = 0;
    private const byte KindNop = 1;
    private const byte KindMss = 2;
    private const byte KindWindowScale = 3;
    private const byte KindSackPermitted = 4;
    private const byte KindSack = 5;
    private const byte KindTimestamps = 8;

    private const int LengthMss = 4;
    private const int LengthWindowScale = 3;
    private const int LengthSackPermitted = 2;
    private const int LengthTimestamps = 10;
    private const int SackBlockSize = 8;

    /// <summary>
    /// Parses the options area. EOL ends it, NOP is skipped, unknown kinds are skipped by their length (RFC 9293
    /// §3.2, MUST-6). A length that is below 2, runs past the area, or does not fit the known kind's layout makes
    /// the whole segment malformed.
    /// </summary>
    public static bool TryParseOptions(ReadOnlySpan<byte> area, out TcpOptions options)
    {
        options = default;
        var i = 0;
        while (i < area.Length)
        {
            var kind = area[i];
            if (kind == KindEnd)
            {
                break;
            }
            if (kind == KindNop)
            {
                i++;
                continue;
            }
            if (i + 1 >= area.Length)
            {
                return false;
            }
            int length = area[i + 1];
            if (length < 2 || i + length > area.Length)
            {
                return false;
            }
            var body = area.Slice(i + 2, length - 2);
            switch (kind)
            {
                case KindMss:
                    if (length != LengthMss)
                    {
                        return false;
                    }
                    options.HasMss = true;
                    options.Mss = BinaryPrimitives.ReadUInt16BigEndian(body);
                    break;
                case KindWindowScale:
                    if (length != LengthWindowScale)
                    {
                        return false;
                    }
                    options.HasWindowScale = true;
                    options.WindowScale = Math.Min(body[0], (byte)MaxWindowScale);
                    break;
                case KindSackPermitted:
                    if (length != LengthSackPermitted)
                    {
                        return false;
                    }
                    options.SackPermitted = true;
                    break;
                case KindSack:
                    // RFC 2018 §3: length 2 + 8n with n blocks, at least one.
                    if (body.Length == 0 || body.Length % SackBlockSize != 0 || body.Length / SackBlockSize > TcpOptions.MaxSackBlocks)
                    {
                        return false;
                    }
                    options.ClearSackBlocks();
                    for (var b = 0; b < body.Length; b += SackBlockSize)
                    {
                        options.AddSackBlock(new SackBlock(
                            new SequenceNumber(BinaryPrimitives.ReadUInt32BigEndian(body[b..])),
                            new SequenceNumber(BinaryPrimitives.ReadUInt32BigEndian(body[(b + 4)..]))));
                    }
                    break;
                case KindTimestamps:
                    if (length != LengthTimestamps)
                    {
                        return false;
                    }
                    options.HasTimestamps = true;
                    options.TimestampValue = BinaryPrimitives.ReadUInt32BigEndian(body);
                    options.TimestampEcho = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    break;
                default:
                    break;
            }
            i += length;
        }
        return true;
    }

    /// <summary>
    /// The bytes <see cref="Write"/> gives the options, padded to 4. SACK blocks beyond what fits in 40 bytes are
    /// left out (3 with timestamps, 4 without), as Linux does.
    /// </summary>
    public static int OptionsLength(in TcpOptions options)
    {
        var length = FixedOptionsLength(options);
        var blocks = SackBlocksThatFit(options, length);
        if (blocks > 0)
        {
            length += 4 + (blocks * SackBlockSize);
        }
        return length;
    }

    public static int HeaderLength(in TcpOptions options) => MinLength + OptionsLength(options);

    /// <summary>
    /// Writes a header with the checksum field zero; returns its length. Options are laid out as Linux does
    /// (tcp_options_write): MSS; SACK-permitted and timestamps together (or each behind two NOPs); NOP and window
    /// scale; two NOPs and the SACK blocks. Every option thus lands 4-byte aligned where it benefits (RFC 7323
    /// Appendix A's layout for timestamps).
    /// </summary>
    public static int Write(
        Span<byte> destination,
        ushort sourcePort,
        ushort destinationPort,
        SequenceNumber sequence,
        SequenceNumber acknowledgment,
        TcpFlags flags,
        ushort window,
        in TcpOptions options,
        ushort urgent = 0)
    {
        var headerLength = HeaderLength(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, headerLength);
        BinaryPrimitives.WriteUInt16BigEndian(destination, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], sequence.Value);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], acknowledgment.Value);
        destination[12] = (byte)(headerLength / 4 << 4);
        destination[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(destination[14..], window);
        BinaryPrimitives.WriteUInt16BigEndian(destination[16..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(destination[18..], urgent);

        var o = destination[MinLength..headerLength];
        var i = 0;
        if (options.HasMss)
        {
            o[i++] = KindMss;
            o[i++] = LengthMss;
            BinaryPrimitives.WriteUInt16BigEndian(o[i..], options.Mss);
            i += 2;
        }
        if (options.HasTimestamps)
        {
            if (options.SackPermitted)
            {
                o[i++] = KindSackPermitted;
                o[i++] = LengthSackPermitted;
            }
            else
            {
                o[i++] = KindNop;
                o[i++] = KindNop;
            }
            o[i++] = KindTimestamps;
            o[i++] = LengthTimestamps;
            BinaryPrimitives.WriteUInt32BigEndian(o[i..], options.TimestampValue);
            BinaryPrimitives.WriteUInt32BigEndian(o[(i + 4)..], options.TimestampEcho);
            i += 8;
        }
        else if (options.SackPermitted)
        {
            o[i++] = KindNop;
            o[i++] = KindNop;
            o[i++] = KindSackPermitted;
            o[i++] = LengthSackPermitted;
        }
        if (options.HasWindowScale)
        {
            o[i++] = KindNop;
            o[i++] = KindWindowScale;
            o[i++] = LengthWindowScale;
            o[i++] = Math.Min(options.WindowScale, (byte)MaxWindowScale);
        }
        var blocks = SackBlocksThatFit(options, i);
        if (blocks > 0)
        {
            o[i++] = KindNop;
            o[i++] = KindNop;
            o[i++] = KindSack;
            o[i++] = (byte)(2 + (blocks * SackBlockSize));
            foreach (var block in options.SackBlocks[..blocks])
            {
                BinaryPrimitives.WriteUInt32BigEndian(o[i..], block.Left.Value);
                BinaryPrimitives.WriteUInt32BigEndian(o[(i + 4)..], block.Right.Value);
                i += SackBlockSize;
            }
        }
        return headerLength;
    }

    /// <summary>
    /// True when the segment's checksum is right. <paramref name="pseudoHeaderSum"/> is
    /// <see cref="InternetChecksum.PseudoHeader"/> with protocol 6 and the segment's length (RFC 9293 §3.1).
    /// </summary>
    public static bool IsChecksumValid(ReadOnlySpan<byte> segment, ulong pseudoHeaderSum) =>
        InternetChecksum.IsValid(InternetChecksum.Add(segment, pseudoHeaderSum));

    /// <summary>Computes and writes the checksum of a whole segment (header and payload) in place.</summary>
    public static void WriteChecksum(Span<byte> segment, ulong pseudoHeaderSum)
    {
        var field = segment.Slice(16, 2);
        field.Clear();
        InternetChecksum.Write(field, InternetChecksum.Add(segment, pseudoHeaderSum));
    }

    private static int FixedOptionsLength(in TcpOptions options)
    {
        var length = 0;
        if (options.HasMss)
        {
            length += LengthMss;
        }
        if (options.HasTimestamps)
        {
            length += 12;
        }
        else if (options.SackPermitted)
        {
            length += 4;
        }
        if (options.HasWindowScale)
        {
            length += 4;
        }
        return length;
    }

    private static int SackBlocksThatFit(in TcpOptions options, int used)
    {
        if (options.SackBlockCount == 0)
        {
            return 0;
        }
        var room = (MaxOptionsLength - used - 4) / SackBlockSize;
        return Math.Clamp(room, 0, options.SackBlockCount);
    }
}
