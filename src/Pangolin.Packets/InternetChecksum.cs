using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Pangolin.Packets;

/// <summary>
/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words. Summed
/// eight bytes at a time in the machine's byte order — the sum is byte-order independent (RFC 1071 §2(B)) — and
/// written back in that order, so no word is swapped on the way.
/// </summary>
public static class InternetChecksum
{
    /// <summary>Adds <paramref name="data"/> (starting on an even offset of the checksummed range) to a running sum.</summary>
    public static ulong Add(ReadOnlySpan<byte> data, ulong sum = 0)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        var length = data.Length;
        var i = 0;
        if (Vector256.IsHardwareAccelerated && length >= 64)
        {
            // 32-bit words widened into 64-bit lanes: no lane can carry out before 2^32 additions, so the loop has
            // no carry chain; the lanes are folded in with carries once at the end.
            var low = Vector256<ulong>.Zero;
            var high = Vector256<ulong>.Zero;
            for (; i + 32 <= length; i += 32)
            {
                var words = Vector256.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref start, i)));
                var (lower, upper) = Vector256.Widen(words);
                low += lower;
                high += upper;
            }
            var lanes = low + high;
            for (var lane = 0; lane < Vector256<ulong>.Count; lane++)
            {
                sum = AddCarry(sum, lanes.GetElement(lane));
            }
        }
        for (; i + 32 <= length; i += 32)
        {
            sum = AddCarry(sum, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i)));
            sum = AddCarry(sum, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 8)));
            sum = AddCarry(sum, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 16)));
            sum = AddCarry(sum, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 24)));
        }
        for (; i + 8 <= length; i += 8)
        {
            sum = AddCarry(sum, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i)));
        }
        if (i + 4 <= length)
        {
            sum = AddCarry(sum, Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, i)));
            i += 4;
        }
        if (i + 2 <= length)
        {
            sum = AddCarry(sum, Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref start, i)));
            i += 2;
        }
        if (i < length)
        {
            // An odd last byte is the high-order byte of a word padded with zero (RFC 1071 §4.1).
            var last = data[i];
            sum = AddCarry(sum, BitConverter.IsLittleEndian ? last : (ulong)last << 8);
        }
        return sum;
    }

    /// <summary>Adds a 16-bit value given in host order (a length, a protocol number).</summary>
    public static ulong AddWord(ushort value, ulong sum) =>
        AddCarry(sum, BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value);

    /// <summary>The TCP/UDP pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1): both addresses, the protocol and the length.</summary>
    public static ulong PseudoHeader(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, byte protocol, int length)
    {
        var sum = Add(source);
        sum = Add(destination, sum);
        sum = AddWord(protocol, sum);
        return AddWord((ushort)length, sum);
    }

    /// <summary>Folds a running sum to 16 bits, in the machine's byte order (not complemented).</summary>
    public static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    /// <summary>Writes the complemented checksum of <paramref name="sum"/> at <paramref name="field"/>.</summary>
    public static void Write(Span<byte> field, ulong sum) => MemoryMarshal.Write(field, (ushort)~Fold(sum));

    /// <summary>Writes the folded sum itself: what a partial (offloaded) checksum field holds for the kernel to finish.</summary>
    public static void WritePartial(Span<byte> field, ulong sum) => MemoryMarshal.Write(field, Fold(sum));

    /// <summary>True when a range that includes its checksum field sums to all ones.</summary>
    public static bool IsValid(ulong sum) => Fold(sum) == 0xFFFF;

    private static ulong AddCarry(ulong sum, ulong value)
    {
        var result = sum + value;
        return result + (result < value ? 1UL : 0UL);
    }
}
