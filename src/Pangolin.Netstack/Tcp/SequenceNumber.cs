namespace Pangolin.Netstack.Tcp;

/// <summary>
/// A TCP sequence number: arithmetic modulo 2^32 (RFC 9293 §3.4). Comparisons are only meaningful between numbers
/// less than 2^31 apart, which the window sizes guarantee: a &lt; b iff the signed 32-bit difference a - b is negative.
/// </summary>
internal readonly record struct SequenceNumber(uint Value) : IComparable<SequenceNumber>
{
    public static SequenceNumber operator +(SequenceNumber sequence, int count) => new(unchecked(sequence.Value + (uint)count));

    public static SequenceNumber operator +(SequenceNumber sequence, uint count) => new(unchecked(sequence.Value + count));

    public static SequenceNumber operator -(SequenceNumber sequence, int count) => new(unchecked(sequence.Value - (uint)count));

    /// <summary>The signed distance from <paramref name="b"/> to <paramref name="a"/> (negative when a is before b).</summary>
    public static int operator -(SequenceNumber a, SequenceNumber b) => unchecked((int)(a.Value - b.Value));

    public static bool operator <(SequenceNumber a, SequenceNumber b) => a - b < 0;

    public static bool operator >(SequenceNumber a, SequenceNumber b) => a - b > 0;

    public static bool operator <=(SequenceNumber a, SequenceNumber b) => a - b <= 0;

    public static bool operator >=(SequenceNumber a, SequenceNumber b) => a - b >= 0;

    public static SequenceNumber Max(SequenceNumber a, SequenceNumber b) => a >= b ? a : b;

    public static SequenceNumber Min(SequenceNumber a, SequenceNumber b) => a <= b ? a : b;

    /// <summary>
    /// True when this number lies in [<paramref name="start"/>, start + <paramref name="size"/>), the window test of
    /// RFC 9293 §3.4 (RCV.NXT =&lt; SEG.SEQ &lt; RCV.NXT+RCV.WND). An empty window holds nothing. Done as an unsigned
    /// offset so that a window up to 2^32 - 1 bytes is handled without the signed comparison's 2^31 limit.
    /// </summary>
    public bool InWindow(SequenceNumber start, uint size) => unchecked(Value - start.Value) < size;

    /// <summary>The unsigned distance from <paramref name="start"/> forward to this number.</summary>
    public uint DistanceFrom(SequenceNumber start) => unchecked(Value - start.Value);

    public int CompareTo(SequenceNumber other) => this - other;

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
