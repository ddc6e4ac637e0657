using System.Runtime.CompilerServices;

namespace Pangolin.WireGuard.Replay;

/// <summary>
/// The anti-replay window for transport-data counters (whitepaper §5.4.6), the bitmap algorithm of RFC 6479 as
/// wireguard-go's replay package does it: a ring of 64-bit blocks, 2^13 bits in all. One block is always the
/// "redundant" block RFC 6479 §2 reserves so that sliding the window is just zeroing whole blocks, hence an
/// accepted window of (128 - 1) × 64 = 8128 counters behind the highest one seen: plenty for the 2,000 packets of
/// reordering the whitepaper asks for.
/// </summary>
/// <remarks>
/// Not thread-safe by design: the receive path serialises calls per keypair, and a lock here would be wasted.
/// <see cref="ValidateCounter"/> allocates nothing.
/// </remarks>
internal sealed class ReplayFilter
{
    private const int BlockBitsLog = 6;                      // 64-bit blocks
    private const int BlockBits = 1 << BlockBitsLog;
    private const int RingBlocks = 8192 / BlockBits;         // 128 blocks = 2^13 bits, a power of two
    private const int RingMask = RingBlocks - 1;

    /// <summary>How far behind the highest accepted counter a counter may be and still be accepted.</summary>
    public const ulong WindowSize = (RingBlocks - 1) * BlockBits;   // 8128

    private Ring _ring;
    private ulong _last;

    /// <summary>
    /// True if <paramref name="counter"/> is new (first time seen and not older than the window), marking it seen;
    /// false for a replay, a counter too far behind, or a counter at or beyond <paramref name="limit"/>
    /// (REJECT-AFTER-MESSAGES). Call only after the packet authenticated, or forged counters move the window.
    /// </summary>
    public bool ValidateCounter(ulong counter, ulong limit)
    {
        if (counter >= limit)
        {
            return false;
        }

        var block = counter >> BlockBitsLog;
        if (counter > _last)
        {
            // Slide forward: every block between the current one and the new one starts empty. At most the whole
            // ring needs clearing, however far the counter jumped (RFC 6479 §2.3).
            var current = _last >> BlockBitsLog;
            var advance = Math.Min(block - current, RingBlocks);
            for (ulong i = 1; i <= advance; i++)
            {
                _ring[(int)((current + i) & RingMask)] = 0;
            }
            _last = counter;
        }
        else if (_last - counter > WindowSize)
        {
            return false;
        }

        ref var word = ref _ring[(int)(block & RingMask)];
        var bit = 1UL << (int)(counter & (BlockBits - 1));
        var seen = (word & bit) != 0;
        word |= bit;
        return !seen;
    }

    /// <summary>Forgets everything (a fresh keypair starts at counter 0).</summary>
    public void Reset()
    {
        ((Span<ulong>)_ring).Clear();
        _last = 0;
    }

    [InlineArray(RingBlocks)]
    private struct Ring
    {
        private ulong _element0;
    }
}
