namespace Pangolin.Netstack.Tcp;

/// <summary>
/// The sender's record of what the peer has SACKed above SND.UNA (RFC 6675 §3-4): disjoint ranges kept in order,
/// IsLost, pipe and NextSeg. Memory is bounded: at most <see cref="Capacity"/> ranges; when a new range would
/// exceed it the highest one is forgotten — SACK information is advisory (RFC 2018 §8), forgetting only leads to
/// a needless retransmission, and the holes near SND.UNA matter most.
/// </summary>
internal sealed class SackScoreboard
{
    /// <summary>DupThresh (RFC 6675 §2, RFC 5681 §3.2).</summary>
    public const int DupThresh = 3;

    private readonly SackBlock[] _blocks;
    private readonly int _smss;
    private int _count;

    public SackScoreboard(int smss, int capacity = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(smss, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _smss = smss;
        _blocks = new SackBlock[capacity];
    }

    public int Capacity => _blocks.Length;

    public int Count => _count;

    /// <summary>The SACKed ranges, lowest first.</summary>
    public ReadOnlySpan<SackBlock> Blocks => _blocks.AsSpan(0, _count);

    /// <summary>Bytes SACKed above SND.UNA.</summary>
    public long SackedBytes
    {
        get
        {
            long total = 0;
            foreach (var block in Blocks)
            {
                total += block.Length;
            }
            return total;
        }
    }

    /// <summary>HighACK's counterpart for SACK: the end of the highest SACKed range (SND.UNA when none).</summary>
    public SequenceNumber HighestSacked(SequenceNumber sndUna) => _count == 0 ? sndUna : _blocks[_count - 1].Right;

    /// <summary>
    /// Records one received SACK block (RFC 6675 §5 Update()). Blocks not within (SND.UNA, SND.NXT] — D-SACKs
    /// (RFC 2883) or garbage — are ignored; the part below SND.UNA is cut off. Returns true when it added anything.
    /// </summary>
    public bool Add(SackBlock block, SequenceNumber sndUna, SequenceNumber sndNxt)
    {
        var left = SequenceNumber.Max(block.Left, sndUna);
        var right = block.Right;
        if (right <= left || right > sndNxt || block.Left > sndNxt)
        {
            return false;
        }
        if (IsSacked(left, right - left))
        {
            return false;
        }
        Insert(new SackBlock(left, right));
        return IsSacked(left, right - left);
    }

    /// <summary>SND.UNA advanced: forget what is now cumulatively acknowledged (RFC 6675 §5).</summary>
    public void OnCumulativeAck(SequenceNumber sndUna)
    {
        var drop = 0;
        while (drop < _count && _blocks[drop].Right <= sndUna)
        {
            drop++;
        }
        if (drop > 0)
        {
            Array.Copy(_blocks, drop, _blocks, 0, _count - drop);
            _count -= drop;
        }
        if (_count > 0 && _blocks[0].Left < sndUna)
        {
            _blocks[0] = _blocks[0] with { Left = sndUna };
        }
    }

    /// <summary>Forgets everything (after an RTO, RFC 6675 §5.1 allows it; or on reneging).</summary>
    public void Clear() => _count = 0;

    /// <summary>True when every byte of [start, start + length) has been SACKed.</summary>
    public bool IsSacked(SequenceNumber start, int length)
    {
        var end = start + length;
        foreach (var block in Blocks)
        {
            if (block.Left <= start && end <= block.Right)
            {
                return true;
            }
        }
        return length == 0;
    }

    /// <summary>
    /// IsLost (RFC 6675 §4): DupThresh discontiguous SACKed ranges above <paramref name="sequence"/>, or more than
    /// (DupThresh - 1) * SMSS SACKed bytes above it.
    /// </summary>
    public bool IsLost(SequenceNumber sequence)
    {
        long bytes = 0;
        var ranges = 0;
        for (var i = _count - 1; i >= 0; i--)
        {
            var block = _blocks[i];
            if (block.Right <= sequence + 1)
            {
                break;
            }
            ranges++;
            bytes += block.Left > sequence ? block.Length : block.Right - (sequence + 1);
        }
        return ranges >= DupThresh || bytes > (long)(DupThresh - 1) * _smss;
    }

    /// <summary>
    /// The pipe estimate (RFC 6675 §4 SetPipe): each byte in [SND.UNA, SND.NXT) not SACKed counts once if not lost
    /// and once more if it was retransmitted. <paramref name="highRxt"/> is one past the highest retransmitted byte
    /// (SND.UNA when nothing was).
    /// </summary>
    public long Pipe(SequenceNumber sndUna, SequenceNumber sndNxt, SequenceNumber highRxt)
    {
        long pipe = 0;
        var holeStart = sndUna;
        for (var i = 0; i <= _count; i++)
        {
            var holeEnd = i < _count ? _blocks[i].Left : sndNxt;
            if (holeEnd > holeStart)
            {
                // Every byte of one hole has the same ranges above it, so IsLost is the same for all of them.
                if (!IsLost(holeStart))
                {
                    pipe += holeEnd - holeStart;
                }
                var retransmittedEnd = SequenceNumber.Min(holeEnd, highRxt);
                if (retransmittedEnd > holeStart)
                {
                    pipe += retransmittedEnd - holeStart;
                }
            }
            if (i < _count)
            {
                holeStart = SequenceNumber.Max(holeStart, _blocks[i].Right);
            }
        }
        return pipe;
    }

    /// <summary>
    /// NextSeg (RFC 6675 §4) rules 1 and 3: the first hole byte at or above <paramref name="highRxt"/> and below the
    /// highest SACKed byte — lost, with <paramref name="lostOnly"/> (rule 1), or any (rule 3, for when there is no
    /// new data to send, rule 2). Gives at most one SMSS, not running into SACKed data.
    /// </summary>
    public bool TryNextSegment(SequenceNumber sndUna, SequenceNumber highRxt, bool lostOnly, out SequenceNumber start, out int length)
    {
        var holeStart = sndUna;
        for (var i = 0; i < _count; i++)
        {
            var holeEnd = _blocks[i].Left;
            var from = SequenceNumber.Max(holeStart, highRxt);
            if (holeEnd > from && (!lostOnly || IsLost(from)))
            {
                start = from;
                length = Math.Min(holeEnd - from, _smss);
                return true;
            }
            holeStart = SequenceNumber.Max(holeStart, _blocks[i].Right);
        }
        start = default;
        length = 0;
        return false;
    }

    private void Insert(SackBlock block)
    {
        // Find the first range that ends at or after the new one's start; merge all it touches.
        var i = 0;
        while (i < _count && _blocks[i].Right < block.Left)
        {
            i++;
        }
        var j = i;
        var left = block.Left;
        var right = block.Right;
        while (j < _count && _blocks[j].Left <= right)
        {
            left = SequenceNumber.Min(left, _blocks[j].Left);
            right = SequenceNumber.Max(right, _blocks[j].Right);
            j++;
        }
        var merged = new SackBlock(left, right);
        if (j > i)
        {
            // Replaces ranges i..j-1 with one.
            _blocks[i] = merged;
            Array.Copy(_blocks, j, _blocks, i + 1, _count - j);
            _count -= j - i - 1;
            return;
        }
        if (_count == _blocks.Length)
        {
            if (i == _count)
            {
                return; // above everything and no room: this is the one to forget
            }
            _count--; // forget the highest range
        }
        Array.Copy(_blocks, i, _blocks, i + 1, _count - i);
        _blocks[i] = merged;
        _count++;
    }
}
