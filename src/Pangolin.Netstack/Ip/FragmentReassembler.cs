using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using Pangolin.Packets;

namespace Pangolin.Netstack.Ip;

/// <summary>Limits and timeout of a <see cref="FragmentReassembler"/>.</summary>
internal sealed class FragmentReassemblerOptions
{
    /// <summary>
    /// How long a datagram may wait for its missing fragments, counted from its first-arriving fragment: 60 s for
    /// IPv6 (RFC 8200 §4.5), and the same for IPv4 as Linux does (RFC 791 suggests a 15 s lower bound).
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Bytes held across all pending datagrams (their rented buffers and block maps); the oldest datagrams are
    /// evicted to stay under it.
    /// </summary>
    public long MemoryLimit { get; init; } = 4 * 1024 * 1024;

    /// <summary>Datagrams being reassembled at once; a new one beyond it evicts the oldest.</summary>
    public int MaxPendingDatagrams { get; init; } = 64;

    /// <summary>
    /// The largest length field of a reassembled datagram: the IPv4 Total Length (RFC 791) or the IPv6 Payload
    /// Length (RFC 8200 §4.5); a fragment that would make it larger is refused. At most 65535.
    /// </summary>
    public int MaxDatagramLength { get; init; } = 65535;

    /// <summary>
    /// Called for a datagram that timed out after its first fragment (offset 0) arrived, with that fragment's
    /// bytes as received, so the stack can send ICMP Time Exceeded, "fragment reassembly time exceeded" (RFC 792
    /// type 11 code 1; RFC 4443 §3.3 type 3 code 1). The span is only valid during the call; it runs under the
    /// reassembler's lock and must not call back into it.
    /// </summary>
    public Action<ReadOnlySpan<byte>>? OnTimeExceeded { get; init; }
}

/// <summary>
/// A datagram put back together by <see cref="FragmentReassembler"/>: a normal, unfragmented IP packet in a buffer
/// rented from <see cref="ArrayPool{T}.Shared"/>; <see cref="Dispose"/> returns it.
/// </summary>
internal sealed class ReassembledPacket : IDisposable
{
    private byte[]? _buffer;
    private readonly int _offset;
    private readonly int _length;

    internal ReassembledPacket(byte[] buffer, int offset, int length)
    {
        _buffer = buffer;
        _offset = offset;
        _length = length;
    }

    /// <summary>The whole IP packet; valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> Packet
    {
        get
        {
            ObjectDisposedException.ThrowIf(_buffer is null, this);
            return _buffer.AsSpan(_offset, _length);
        }
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = null;
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>
/// Reassembles IPv4 (RFC 791, RFC 815) and IPv6 (RFC 8200 §4.5) fragments on the receive path.
/// </summary>
/// <remarks>
/// <para>
/// Each pending datagram keeps its fragment data at its offset in one buffer rented from the pool, after a headroom
/// holding the first fragment's header, so the finished packet is written in place; and a map of the 8-byte blocks
/// received (fragment offsets are in 8-byte units and every fragment but the last is a multiple of 8 long, so a
/// block belongs to exactly one fragment).
/// </para>
/// <para>
/// Overlaps, both versions alike: a fragment that falls wholly on data already received and carries the same
/// bytes is a duplicate and ignored (RFC 8200 §4.5 allows dropping exact duplicates; a network may duplicate
/// packets). Any other overlap, partial or with different bytes, discards the whole datagram: RFC 5722 §4 for
/// IPv6, and for IPv4 the same rule, as Linux applies to both since the FragmentSmack fixes — RFC 791 would let a
/// later fragment overwrite, which is how overlapping-fragment attacks slip past filters.
/// </para>
/// <para>Not thread-safe by itself: a lock guards the state, so the receive path and a timer may call in.</para>
/// </remarks>
internal sealed class FragmentReassembler
{
    // Room before the data for any IPv4 header (IHL at most 15 words).
    private const int Ipv4Headroom = 60;
    // 8-byte blocks covering offsets 0..65535 (the 13-bit offset field plus a fragment reaches past 65535, but
    // such fragments are refused by the length check first).
    private const int BlockMapWords = 65536 / 8 / 64;
    private const int BlockMapBytes = BlockMapWords * sizeof(ulong);

    private readonly TimeProvider _time;
    private readonly TimeSpan _timeout;
    private readonly long _memoryLimit;
    private readonly int _maxPending;
    private readonly int _maxDatagramLength;
    private readonly Action<ReadOnlySpan<byte>>? _onTimeExceeded;
    private readonly Lock _lock = new();
    private readonly Dictionary<FragmentKey, Datagram> _pending;
    // Pending datagrams from the oldest: creation order is expiry order, since they share one timeout.
    private Datagram? _oldest;
    private Datagram? _newest;
    // Datagram records kept for reuse, so steady-state reassembly allocates nothing but the finished packet.
    private Datagram? _free;
    private long _memory;
    private long _reassembled;
    private long _dropped;
    private long _timedOut;

    public FragmentReassembler(TimeProvider time, FragmentReassemblerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        options ??= new FragmentReassemblerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Timeout, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MemoryLimit, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxPendingDatagrams, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxDatagramLength, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.MaxDatagramLength, 65535, nameof(options));
        _time = time;
        _timeout = options.Timeout;
        _memoryLimit = options.MemoryLimit;
        _maxPending = options.MaxPendingDatagrams;
        _maxDatagramLength = options.MaxDatagramLength;
        _onTimeExceeded = options.OnTimeExceeded;
        _pending = new Dictionary<FragmentKey, Datagram>(_maxPending + 1);
    }

    /// <summary>Datagrams completed (including IPv6 atomic fragments).</summary>
    public long Reassembled => Interlocked.Read(ref _reassembled);

    /// <summary>
    /// Fragments refused on their own (empty, misaligned, past the maximum length) plus pending datagrams discarded
    /// (overlap, conflicting lengths, eviction for the limits). Ignored duplicates are not counted.
    /// </summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Pending datagrams abandoned after the timeout.</summary>
    public long TimedOut => Interlocked.Read(ref _timedOut);

    /// <summary>Datagrams waiting for fragments.</summary>
    public int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Bytes held by pending datagrams, as counted against <see cref="FragmentReassemblerOptions.MemoryLimit"/>.</summary>
    public long MemoryInUse
    {
        get
        {
            lock (_lock)
            {
                return _memory;
            }
        }
    }

    /// <summary>
    /// Adds one fragment: a whole IP packet that <see cref="IpPacket.TryParse"/> accepts and reports as a fragment.
    /// True, with <paramref name="complete"/> set, when it completed its datagram; the caller disposes that.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> packet, out ReassembledPacket? complete)
    {
        complete = null;
        return IpPacket.TryParse(packet, out var parsed) && TryAdd(parsed, out complete);
    }

    /// <summary>As <see cref="TryAdd(ReadOnlySpan{byte}, out ReassembledPacket?)"/>, for a packet already parsed.</summary>
    public bool TryAdd(IpPacket packet, out ReassembledPacket? complete)
    {
        complete = null;
        if (!packet.IsFragment)
        {
            return false;
        }
        var raw = packet.Packet;
        FragmentKey key;
        int offset;
        bool more;
        ReadOnlySpan<byte> data;
        int prefixLength;
        int overhead; // what the reassembled length field counts besides the fragmentable data
        if (packet.IsIPv6)
        {
            // RFC 8200 §4.5: Next Header, Reserved, Fragment Offset (13 bits, 8-byte units) | Res | M, Identification.
            var fragmentHeader = packet.Payload;
            var offsetAndFlags = BinaryPrimitives.ReadUInt16BigEndian(fragmentHeader[2..]);
            offset = offsetAndFlags & 0xFFF8;
            more = (offsetAndFlags & 1) != 0;
            data = fragmentHeader[8..];
            prefixLength = packet.HeaderLength + 8;
            overhead = packet.HeaderLength - IpPacket.Ipv6HeaderSize;
            key = new FragmentKey(
                BinaryPrimitives.ReadUInt128BigEndian(packet.Source),
                BinaryPrimitives.ReadUInt128BigEndian(packet.Destination),
                BinaryPrimitives.ReadUInt32BigEndian(fragmentHeader[4..]),
                0,
                IsIPv6: true);
            if (offset == 0 && !more)
            {
                // An atomic fragment stands alone (RFC 8200 §4.5, RFC 6946 §4): it must not touch any pending
                // datagram with the same identification.
                complete = BuildAtomic(raw, packet.HeaderLength);
                Interlocked.Increment(ref _reassembled);
                return true;
            }
        }
        else
        {
            // RFC 791: Flags (reserved, DF, MF) and a 13-bit Fragment Offset in 8-byte units.
            var flagsAndOffset = BinaryPrimitives.ReadUInt16BigEndian(raw[6..]);
            offset = (flagsAndOffset & 0x1FFF) * 8;
            more = (flagsAndOffset & 0x2000) != 0;
            data = packet.Payload;
            prefixLength = packet.HeaderLength;
            overhead = packet.HeaderLength;
            key = new FragmentKey(
                BinaryPrimitives.ReadUInt32BigEndian(packet.Source),
                BinaryPrimitives.ReadUInt32BigEndian(packet.Destination),
                BinaryPrimitives.ReadUInt16BigEndian(raw[4..]),
                packet.Protocol,
                IsIPv6: false);
        }

        var end = offset + data.Length;
        // An empty fragment carries nothing and only costs state (Linux drops them too); every fragment but the
        // last must be a multiple of 8 long (RFC 8200 §4.5; RFC 791's fragmenting rule); and none may make the
        // reassembled length field overflow (RFC 8200 §4.5; RFC 791's 16-bit Total Length).
        if (data.IsEmpty || (more && (data.Length & 7) != 0) || overhead + end > _maxDatagramLength)
        {
            Interlocked.Increment(ref _dropped);
            return false;
        }

        lock (_lock)
        {
            var now = _time.GetTimestamp();
            ExpireLocked(now);
            if (!_pending.TryGetValue(key, out var datagram))
            {
                if (_pending.Count >= _maxPending)
                {
                    Discard(_oldest!);
                    Interlocked.Increment(ref _dropped);
                }
                datagram = Create(key, now, packet.IsIPv6 ? prefixLength : Ipv4Headroom);
                if (!FitMemory(datagram))
                {
                    return false;
                }
            }
            return Add(datagram, raw, offset, end, more, data, prefixLength, overhead, out complete);
        }
    }

    /// <summary>Discards datagrams older than the timeout (RFC 8200 §4.5, RFC 791); the stack calls it from a timer.</summary>
    public void Expire()
    {
        lock (_lock)
        {
            ExpireLocked(_time.GetTimestamp());
        }
    }

    private bool Add(
        Datagram datagram, ReadOnlySpan<byte> raw, int offset, int end, bool more, ReadOnlySpan<byte> data,
        int prefixLength, int overhead, out ReassembledPacket? complete)
    {
        complete = null;
        // The last fragment fixes the length: a second, different one, or data past it, means the fragments do
        // not belong together (RFC 8200 §4.5 and RFC 791 define one total; Linux discards the queue).
        if (!more)
        {
            if ((datagram.Total >= 0 && datagram.Total != end) || datagram.MaxEnd > end)
            {
                Drop(datagram);
                return false;
            }
            datagram.Total = end;
        }
        else if (datagram.Total >= 0 && end > datagram.Total)
        {
            Drop(datagram);
            return false;
        }

        var firstBlock = offset >> 3;
        var endBlock = (end + 7) >> 3;
        var covered = CountBlocks(datagram.Blocks, firstBlock, endBlock);
        if (covered != 0)
        {
            var buffer = datagram.Buffer!;
            if (covered != endBlock - firstBlock || !data.SequenceEqual(buffer.AsSpan(datagram.Headroom + offset, data.Length)))
            {
                // RFC 5722 §4 (and our IPv4 rule): an overlap that is not a duplicate discards the datagram.
                Drop(datagram);
                return false;
            }
            // A duplicate adds nothing, though as the last fragment it may have just fixed the total.
            return TryComplete(datagram, out complete);
        }

        var headroom = datagram.Headroom;
        if (offset == 0 && prefixLength > headroom)
        {
            // An IPv6 first fragment with more extension headers than the fragment that opened the datagram.
            headroom = prefixLength;
        }
        var dataEnd = datagram.Total >= 0 ? datagram.Total : Math.Max(datagram.MaxEnd, end);
        if (datagram.Buffer is null || headroom + dataEnd > datagram.Buffer.Length || headroom != datagram.Headroom)
        {
            Grow(datagram, headroom, dataEnd);
            if (!FitMemory(datagram))
            {
                return false;
            }
        }

        var target = datagram.Buffer!.AsSpan();
        data.CopyTo(target[(datagram.Headroom + offset)..]);
        SetBlocks(datagram.Blocks, firstBlock, endBlock);
        datagram.Received += data.Length;
        datagram.MaxEnd = Math.Max(datagram.MaxEnd, end);
        if (offset == 0)
        {
            // Keep the first fragment's header as received: it heads the reassembled packet (RFC 791; RFC 8200
            // §4.5's Unfragmentable Part comes from the offset-0 fragment) and, with the data after it, is the
            // original first fragment an ICMP Time Exceeded quotes.
            raw[..prefixLength].CopyTo(target[(datagram.Headroom - prefixLength)..]);
            datagram.PrefixLength = prefixLength;
            datagram.Overhead = overhead;
            datagram.FirstLength = data.Length;
        }
        return TryComplete(datagram, out complete);
    }

    private bool TryComplete(Datagram datagram, out ReassembledPacket? complete)
    {
        complete = null;
        if (datagram.Total < 0 || datagram.Received != datagram.Total || datagram.PrefixLength == 0)
        {
            return false;
        }
        if (datagram.Overhead + datagram.Total > _maxDatagramLength)
        {
            // Each fragment was checked against its own header; the first fragment's may be longer.
            Drop(datagram);
            return false;
        }

        var buffer = datagram.Buffer!;
        var span = buffer.AsSpan();
        var dataStart = datagram.Headroom;
        int start;
        if (datagram.Key.IsIPv6)
        {
            // RFC 8200 §4.5: the Unfragmentable Part of the first fragment, its last Next Header taken from the
            // Fragment header, without the Fragment header, and the Payload Length recomputed.
            var unfragmentable = datagram.PrefixLength - 8;
            var nextHeader = span[dataStart - 8];
            start = dataStart - unfragmentable;
            span.Slice(dataStart - datagram.PrefixLength, unfragmentable).CopyTo(span[start..]);
            var header = span.Slice(start, unfragmentable);
            SetLastNextHeader(header, nextHeader);
            BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)(unfragmentable - IpPacket.Ipv6HeaderSize + datagram.Total));
        }
        else
        {
            // RFC 791: the first fragment's header, MF and offset cleared (DF kept), the total length of the
            // whole datagram and a new header checksum.
            start = dataStart - datagram.PrefixLength;
            var header = span.Slice(start, datagram.PrefixLength);
            BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)(datagram.PrefixLength + datagram.Total));
            BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(header[6..]) & 0x4000));
            header[10] = 0;
            header[11] = 0;
            InternetChecksum.Write(header[10..], InternetChecksum.Add(header));
        }
        complete = new ReassembledPacket(buffer, start, dataStart + datagram.Total - start);
        datagram.Buffer = null; // now the caller's
        Release(datagram);
        Interlocked.Increment(ref _reassembled);
        return true;
    }

    private static ReassembledPacket BuildAtomic(ReadOnlySpan<byte> raw, int unfragmentable)
    {
        var length = raw.Length - 8;
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var span = buffer.AsSpan(0, length);
        raw[..unfragmentable].CopyTo(span);
        raw[(unfragmentable + 8)..].CopyTo(span[unfragmentable..]);
        SetLastNextHeader(span[..unfragmentable], raw[unfragmentable]);
        BinaryPrimitives.WriteUInt16BigEndian(span[4..], (ushort)(length - IpPacket.Ipv6HeaderSize));
        return new ReassembledPacket(buffer, 0, length);
    }

    /// <summary>Sets the Next Header of the last header in an IPv6 Unfragmentable Part (walked as IpPacket did).</summary>
    private static void SetLastNextHeader(Span<byte> unfragmentable, byte value)
    {
        if (unfragmentable.Length == IpPacket.Ipv6HeaderSize)
        {
            unfragmentable[6] = value;
            return;
        }
        var position = IpPacket.Ipv6HeaderSize;
        while (true)
        {
            var length = (unfragmentable[position + 1] + 1) * 8;
            if (position + length >= unfragmentable.Length)
            {
                unfragmentable[position] = value;
                return;
            }
            position += length;
        }
    }

    private void ExpireLocked(long now)
    {
        while (_oldest is { } datagram && _time.GetElapsedTime(datagram.Created, now) >= _timeout)
        {
            if (datagram.PrefixLength != 0 && _onTimeExceeded is not null)
            {
                // RFC 792 / RFC 4443 §3.3: only when the first fragment arrived, quoting it.
                var start = datagram.Headroom - datagram.PrefixLength;
                _onTimeExceeded(datagram.Buffer.AsSpan(start, datagram.PrefixLength + datagram.FirstLength));
            }
            Discard(datagram);
            Interlocked.Increment(ref _timedOut);
        }
    }

    private Datagram Create(FragmentKey key, long now, int headroom)
    {
        var datagram = _free ?? new Datagram();
        _free = datagram.Newer;
        datagram.Key = key;
        datagram.Created = now;
        datagram.Headroom = headroom;
        datagram.Buffer = null;
        datagram.PrefixLength = 0;
        datagram.Overhead = 0;
        datagram.FirstLength = 0;
        datagram.Total = -1;
        datagram.MaxEnd = 0;
        datagram.Received = 0;
        datagram.Charged = BlockMapBytes;
        Array.Clear(datagram.Blocks);
        datagram.Older = _newest;
        datagram.Newer = null;
        if (_newest is null)
        {
            _oldest = datagram;
        }
        else
        {
            _newest.Newer = datagram;
        }
        _newest = datagram;
        _pending.Add(key, datagram);
        _memory += datagram.Charged;
        return datagram;
    }

    private void Grow(Datagram datagram, int headroom, int dataEnd)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(headroom + dataEnd);
        if (datagram.Buffer is { } old)
        {
            // Move what arrived so far, first header included, to the new layout.
            var keep = datagram.Headroom - datagram.PrefixLength;
            old.AsSpan(keep, datagram.PrefixLength + datagram.MaxEnd)
                .CopyTo(buffer.AsSpan(headroom - datagram.PrefixLength));
            ArrayPool<byte>.Shared.Return(old);
        }
        datagram.Buffer = buffer;
        datagram.Headroom = headroom;
        var charge = BlockMapBytes + buffer.Length;
        _memory += charge - datagram.Charged;
        datagram.Charged = charge;
    }

    /// <summary>Evicts the oldest other datagrams until the memory limit holds; false (datagram dropped) if it cannot.</summary>
    private bool FitMemory(Datagram datagram)
    {
        while (_memory > _memoryLimit)
        {
            var victim = _oldest == datagram ? datagram.Newer : _oldest;
            if (victim is null)
            {
                Drop(datagram);
                return false;
            }
            Discard(victim);
            Interlocked.Increment(ref _dropped);
        }
        return true;
    }

    private void Drop(Datagram datagram)
    {
        Discard(datagram);
        Interlocked.Increment(ref _dropped);
    }

    private void Discard(Datagram datagram)
    {
        if (datagram.Buffer is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            datagram.Buffer = null;
        }
        Release(datagram);
    }

    private void Release(Datagram datagram)
    {
        _pending.Remove(datagram.Key);
        _memory -= datagram.Charged;
        if (datagram.Older is null)
        {
            _oldest = datagram.Newer;
        }
        else
        {
            datagram.Older.Newer = datagram.Newer;
        }
        if (datagram.Newer is null)
        {
            _newest = datagram.Older;
        }
        else
        {
            datagram.Newer.Older = datagram.Older;
        }
        datagram.Older = null;
        datagram.Newer = _free;
        _free = datagram;
    }

    private static int CountBlocks(ulong[] map, int first, int end)
    {
        var count = 0;
        for (var block = first; block < end;)
        {
            var word = block >> 6;
            var bit = block & 63;
            var bits = Math.Min(64 - bit, end - block);
            var mask = (bits == 64 ? ulong.MaxValue : ((1UL << bits) - 1)) << bit;
            count += BitOperations.PopCount(map[word] & mask);
            block += bits;
        }
        return count;
    }

    private static void SetBlocks(ulong[] map, int first, int end)
    {
        for (var block = first; block < end;)
        {
            var word = block >> 6;
            var bit = block & 63;
            var bits = Math.Min(64 - bit, end - block);
            map[word] |= (bits == 64 ? ulong.MaxValue : ((1UL << bits) - 1)) << bit;
            block += bits;
        }
    }

    /// <summary>RFC 791 §3.2: source, destination, protocol and identification; RFC 8200 §4.5: source, destination and identification.</summary>
    private readonly record struct FragmentKey(UInt128 Source, UInt128 Destination, uint Identification, byte Protocol, bool IsIPv6);

    private sealed class Datagram
    {
        public FragmentKey Key;
        public long Created;
        public byte[]? Buffer;
        // Data starts here in Buffer; the first fragment's header (PrefixLength bytes, 0 until it arrives) just before.
        public int Headroom;
        public int PrefixLength;
        public int Overhead;
        public int FirstLength;
        public int Total;
        public int MaxEnd;
        public int Received;
        public long Charged;
        public readonly ulong[] Blocks = new ulong[BlockMapWords];
        public Datagram? Older;
        public Datagram? Newer;
    }
}
