namespace Pangolin.Netstack.Tcp;

/// <summary>
/// The receive side of one TCP connection's data (RFC 9293 §3.10.7.4 "seventh, process the segment text"): a ring
/// of up to <see cref="Capacity"/> bytes — it starts small and doubles when data needs the room, so that idle and
/// half-open connections cost little — holding the bytes received in order and not yet read, and,
/// in the free space behind them, out-of-order bytes at their place, tracked as a small sorted list of ranges.
/// </summary>
/// <remarks>
/// <para>
/// The window offered to the peer is the free space: capacity minus the in-order unread bytes. Out-of-order bytes
/// lie inside that window and do not shrink it, so RCV.NXT + RCV.WND never moves left (RFC 9293 §3.8.6.2.2: the
/// receiver should not shrink the window) — it only grows when the application reads.
/// </para>
/// <para>
/// At most <see cref="MaxOutOfOrderRanges"/> disjoint ranges are kept. Out-of-order data that would need a new range
/// when the list is full is dropped (and not SACKed). Dropping the new data rather than an old range means we
/// never renege on what we have already SACKed (RFC 2018 §8 allows reneging but the sender then has to keep data
/// it could have freed); the peer simply retransmits the dropped segment.
/// </para>
/// <para>
/// Sequence comparisons use <see cref="SequenceNumber"/> arithmetic, correct across the 2^32 wrap as long as
/// everything tracked lies within 2^31 of RCV.NXT, which the capacity limit of 2^30 bytes (the largest window
/// RFC 7323 §2.3 allows) guarantees.
/// </para>
/// <para>
/// Only data: SYN and FIN occupy sequence space but no bytes here; the connection advances past them itself
/// (see <see cref="SkipSequence"/>) once RCV.NXT reaches them.
/// </para>
/// </remarks>
internal sealed class ReceiveBuffer
{
    /// <summary>The largest capacity: a window scale of 14 gives at most 2^30 bytes (RFC 7323 §2.3).</summary>
    public const int MaxCapacity = 1 << 30;

    /// <summary>The default cap on out-of-order ranges.</summary>
    public const int DefaultMaxOutOfOrderRanges = 32;

    /// <summary>The ring's first size; it doubles as needed up to the capacity.</summary>
    public const int InitialRingSize = 16 * 1024;

    private readonly int _capacity;
    private byte[] _ring;

    // Out-of-order ranges, sorted by sequence, disjoint and not touching, all beyond RCV.NXT and within the window.
    private readonly SackBlock[] _ranges;

    // For each range, when it last received a segment (a counter, not a time): orders the SACK blocks.
    private readonly long[] _rangeArrivals;

    private int _rangeCount;
    private long _arrivalCounter;

    // Ring index of the first unread byte; the in-order unread bytes follow it, then the free space (the window).
    private int _readPosition;
    private int _readable;

    public ReceiveBuffer(int capacity, SequenceNumber initialReceiveNext, int maxOutOfOrderRanges = DefaultMaxOutOfOrderRanges)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, MaxCapacity);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOutOfOrderRanges, 1);
        _capacity = capacity;
        _ring = new byte[Math.Min(capacity, InitialRingSize)];
        _ranges = new SackBlock[maxOutOfOrderRanges];
        _rangeArrivals = new long[maxOutOfOrderRanges];
        ReceiveNext = initialReceiveNext;
    }

    public int Capacity => _capacity;

    /// <summary>The memory the ring holds now (at most <see cref="Capacity"/>).</summary>
    public int AllocatedSize => _ring.Length;

    /// <summary>
    /// Sets RCV.NXT on an empty buffer: an active opener learns the peer's initial sequence number only from its
    /// SYN-ACK, after the buffer was made.
    /// </summary>
    public void Reset(SequenceNumber receiveNext)
    {
        if (_readable != 0 || _rangeCount != 0)
        {
            throw new InvalidOperationException("Only an empty receive buffer can be reset.");
        }
        ReceiveNext = receiveNext;
    }

    public int MaxOutOfOrderRanges => _ranges.Length;

    /// <summary>RCV.NXT: the next sequence number expected (RFC 9293 §3.3.1).</summary>
    public SequenceNumber ReceiveNext { get; private set; }

    /// <summary>RCV.WND: the free space the peer may still fill, beginning at RCV.NXT (before any window scaling).</summary>
    public int Window => _capacity - _readable;

    /// <summary>Bytes received in order and not yet read.</summary>
    public int Readable => _readable;

    /// <summary>
    /// The number of out-of-order ranges held. Non-zero means there is a hole at RCV.NXT: RFC 5681 §4.2 wants an
    /// immediate ACK for an out-of-order segment and for one that fills (part of) a hole.
    /// </summary>
    public int OutOfOrderRangeCount => _rangeCount;

    /// <summary>The out-of-order ranges, lowest first.</summary>
    public ReadOnlySpan<SackBlock> OutOfOrderRanges => _ranges.AsSpan(0, _rangeCount);

    /// <summary>
    /// Takes in a segment's data (RFC 9293 §3.10.7.4). The part before RCV.NXT (already received) and the part at or
    /// beyond RCV.NXT + RCV.WND are trimmed off, not the whole segment dropped; the rest is stored at its place.
    /// Data at RCV.NXT advances RCV.NXT over it and over every out-of-order range it now reaches. Returns how many
    /// bytes became readable (0 for out-of-order, duplicate or out-of-window data).
    /// </summary>
    public int Accept(SequenceNumber sequence, ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            return 0;
        }
        var window = (uint)Window;
        var offset = sequence.DistanceFrom(ReceiveNext);
        if (offset >= window)
        {
            // Either beyond the window, or starting before RCV.NXT: the signed distance tells them apart (RFC 9293
            // §3.4 comparisons; everything meaningful is within 2^31).
            if (sequence > ReceiveNext)
            {
                return 0;
            }
            var alreadyReceived = ReceiveNext - sequence;
            if (alreadyReceived >= payload.Length)
            {
                return 0;
            }
            payload = payload[alreadyReceived..];
            offset = 0;
        }
        var length = (int)Math.Min((uint)payload.Length, window - offset);
        payload = payload[..length];
        var start = ReceiveNext + offset;

        _arrivalCounter++;
        if (offset == 0)
        {
            Store(0, payload);
            return AdvanceInOrder(length);
        }
        if (!AddRange(new SackBlock(start, start + length)))
        {
            return 0;
        }
        Store((int)offset, payload);
        return 0;
    }

    /// <summary>Copies readable bytes out, oldest first, and frees their space (the window grows by as much).</summary>
    public int Read(Span<byte> destination)
    {
        var count = Math.Min(destination.Length, _readable);
        if (count == 0)
        {
            return 0;
        }
        Ring.CopyOut(_ring, _readPosition, destination[..count]);
        Advance(count);
        return count;
    }

    /// <summary>
    /// The readable bytes where they lie, oldest first: two pieces when they wrap around the ring's end. They stay
    /// valid until <see cref="Skip"/> frees them: new data goes only to free space, and a growing ring moves to a new
    /// array (the old one is never reused).
    /// </summary>
    public int Peek(out ReadOnlyMemory<byte> first, out ReadOnlyMemory<byte> second)
    {
        var untilEnd = Math.Min(_readable, _ring.Length - _readPosition);
        first = _ring.AsMemory(_readPosition, untilEnd);
        second = _ring.AsMemory(0, _readable - untilEnd);
        return _readable;
    }

    /// <summary>Frees the oldest <paramref name="count"/> readable bytes without copying them.</summary>
    public void Skip(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _readable);
        Advance(count);
    }

    private void Advance(int count)
    {
        _readPosition = (_readPosition + count) % _ring.Length;
        _readable -= count;
    }

    /// <summary>
    /// Advances RCV.NXT over sequence space that holds no data — a SYN or FIN (RFC 9293 §3.10.7.4 "eighth, check
    /// the FIN bit") — once the connection has decided it is next in order. Only valid with no out-of-order data
    /// at or before the new RCV.NXT (nothing follows a FIN).
    /// </summary>
    public void SkipSequence(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (_rangeCount > 0 && _ranges[0].Left < ReceiveNext + count)
        {
            throw new InvalidOperationException("Out-of-order data lies within the skipped sequence space.");
        }
        ReceiveNext += count;
    }

    /// <summary>
    /// Writes the out-of-order ranges as SACK blocks (RFC 2018 §4): first the block containing the most recently
    /// received segment, then the others, most recently updated first; at most destination.Length of them. When the
    /// latest segment was in order, the first block is simply the range updated most recently.
    /// </summary>
    public int GetSackBlocks(Span<SackBlock> destination)
    {
        var count = Math.Min(destination.Length, _rangeCount);
        // Arrival stamps are unique (each arrival takes a fresh one and merging keeps only the newest), so picking
        // "the newest older than the last pick" k times sorts without marking; n is at most a few dozen.
        var below = long.MaxValue;
        for (var k = 0; k < count; k++)
        {
            var best = -1;
            for (var i = 0; i < _rangeCount; i++)
            {
                var stamp = _rangeArrivals[i];
                if (stamp < below && (best < 0 || stamp > _rangeArrivals[best]))
                {
                    best = i;
                }
            }
            destination[k] = _ranges[best];
            below = _rangeArrivals[best];
        }
        return count;
    }

    // Copies data into the free space, offset bytes past RCV.NXT, wrapping around the ring.
    private void Store(int offset, ReadOnlySpan<byte> data)
    {
        var extent = _readable + offset + data.Length;
        if (extent > _ring.Length)
        {
            Grow(extent);
        }
        // Each term is below 2^30, so the sum of two fits an int; reduce in between.
        var position = (_readPosition + _readable) % _ring.Length;
        position = (position + offset) % _ring.Length;
        Ring.CopyIn(_ring, position, data);
    }

    // In-order data of the given length arrived at RCV.NXT: swallow every range it reaches or touches.
    private int AdvanceInOrder(int length)
    {
        var end = ReceiveNext + length;
        var swallowed = 0;
        while (swallowed < _rangeCount && _ranges[swallowed].Left <= end)
        {
            end = SequenceNumber.Max(end, _ranges[swallowed].Right);
            swallowed++;
        }
        if (swallowed > 0)
        {
            RemoveRanges(0, swallowed);
        }
        var advanced = end - ReceiveNext;
        ReceiveNext = end;
        _readable += advanced;
        return advanced;
    }

    // Merges an out-of-order range into the list; false when it needs a new range and the list is full.
    private bool AddRange(SackBlock block)
    {
        // The first range that reaches the new one's start (touching counts: adjacent ranges merge).
        var i = 0;
        while (i < _rangeCount && _ranges[i].Right < block.Left)
        {
            i++;
        }
        var j = i;
        var left = block.Left;
        var right = block.Right;
        while (j < _rangeCount && _ranges[j].Left <= right)
        {
            left = SequenceNumber.Min(left, _ranges[j].Left);
            right = SequenceNumber.Max(right, _ranges[j].Right);
            j++;
        }
        if (j == i)
        {
            if (_rangeCount == _ranges.Length)
            {
                return false;
            }
            Array.Copy(_ranges, i, _ranges, i + 1, _rangeCount - i);
            Array.Copy(_rangeArrivals, i, _rangeArrivals, i + 1, _rangeCount - i);
            _rangeCount++;
        }
        else if (j > i + 1)
        {
            RemoveRanges(i + 1, j - i - 1);
        }
        _ranges[i] = new SackBlock(left, right);
        _rangeArrivals[i] = _arrivalCounter;
        return true;
    }

    private void RemoveRanges(int index, int count)
    {
        var tail = _rangeCount - index - count;
        Array.Copy(_ranges, index + count, _ranges, index, tail);
        Array.Copy(_rangeArrivals, index + count, _rangeArrivals, index, tail);
        _rangeCount -= count;
    }

    // Moves the unread bytes and everything out of order behind them to the start of a larger ring.
    private void Grow(int needed)
    {
        // The range being stored is already listed and may reach past the old ring; its bytes are not there yet.
        var used = Math.Min(_readable + (_rangeCount > 0 ? _ranges[_rangeCount - 1].Right - ReceiveNext : 0), _ring.Length);
        _ring = Ring.Grow(_ring, _readPosition, used, needed, _capacity);
        _readPosition = 0;
    }
}
