namespace Pangolin.Netstack.Tcp;

/// <summary>
/// What the application wrote and the peer has not acknowledged yet, from SND.UNA on: a ring of up to
/// <see cref="Capacity"/> bytes that starts small and doubles as the writer needs room (an idle or half-open
/// connection costs little). Segments are read out of it by offset, in at most two pieces where the ring wraps.
/// </summary>
internal sealed class SendBuffer
{
    private readonly int _capacity;
    private byte[] _ring;
    private int _head;
    private int _count;

    public SendBuffer(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
        _ring = new byte[Math.Min(capacity, ReceiveBuffer.InitialRingSize)];
    }

    public int Capacity => _capacity;

    /// <summary>Bytes held: written and not yet acknowledged.</summary>
    public int Count => _count;

    /// <summary>How much more the writer may append (back-pressure beyond that).</summary>
    public int Room => _capacity - _count;

    /// <summary>The memory the ring holds now.</summary>
    public int AllocatedSize => _ring.Length;

    public void Append(ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(data.Length, Room);
        if (_count + data.Length > _ring.Length)
        {
            Grow(_count + data.Length);
        }
        var tail = (int)(((long)_head + _count) % _ring.Length);
        Ring.CopyIn(_ring, tail, data);
        _count += data.Length;
    }

    /// <summary>The peer acknowledged the first <paramref name="count"/> bytes: their room is free again.</summary>
    public void Consume(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _count);
        _head = (int)(((long)_head + count) % _ring.Length);
        _count -= count;
    }

    /// <summary>The <paramref name="length"/> bytes starting <paramref name="offset"/> bytes after SND.UNA.</summary>
    public void Get(long offset, int length, out ReadOnlySpan<byte> first, out ReadOnlySpan<byte> second)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + length, _count);
        var start = (int)((_head + offset) % _ring.Length);
        var firstLength = Math.Min(length, _ring.Length - start);
        first = _ring.AsSpan(start, firstLength);
        second = _ring.AsSpan(0, length - firstLength);
    }

    // Doubles the ring (up to the capacity), moving the held bytes to its start.
    private void Grow(int needed)
    {
        _ring = Ring.Grow(_ring, _head, _count, needed, _capacity);
        _head = 0;
    }
}
