using System.Buffers.Binary;

namespace Pangolin.WireGuard.Crypto;

/// <summary>
/// TAI64N timestamps for the handshake initiation (whitepaper §5.4.2): 8 bytes big-endian seconds on the TAI64
/// scale, then 4 bytes big-endian nanoseconds. Byte-wise order is chronological, which is what the responder
/// uses to reject replayed initiations.
/// </summary>
public static class Tai64N
{
    /// <summary>The size of a label in bytes.</summary>
    public const int Size = 12;

    // TAI64 labels second s of TAI as 2^62 + s. Like wireguard-go (tai64n.go, base = 0x400000000000000a) we add
    // the 10 s TAI-UTC offset of 1970 and ignore later leap seconds: peers only compare our stamps with each other.
    private const ulong Base = 0x400000000000000aUL;

    // wireguard-go "whitens" the nanoseconds by clearing the low 24 bits (granularity 2^24 ns ≈ 16.8 ms) so the
    // timestamp does not leak a precise clock; a stamp still increases between handshakes, which are ≥ 5 s apart.
    private const uint WhitenerMask = (1u << 24) - 1;

    /// <summary>Writes the current time as a whitened TAI64N label into the first 12 bytes of the output.</summary>
    public static void Now(TimeProvider time, Span<byte> output12)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (output12.Length < Size)
        {
            throw new ArgumentException($"A TAI64N label is {Size} bytes.", nameof(output12));
        }

        var now = time.GetUtcNow();
        // Whole seconds since the Unix epoch (rounded down), and the rest in nanoseconds (.NET ticks are 100 ns).
        var seconds = now.ToUnixTimeSeconds();
        var nanoseconds = (uint)(now.UtcTicks % TimeSpan.TicksPerSecond * 100) & ~WhitenerMask;

        BinaryPrimitives.WriteUInt64BigEndian(output12, Base + (ulong)seconds);
        BinaryPrimitives.WriteUInt32BigEndian(output12[8..], nanoseconds);
    }

    /// <summary>Orders two labels chronologically (which is lexicographically): negative, zero or positive.</summary>
    public static int Compare(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => Math.Sign(a.SequenceCompareTo(b));
}
