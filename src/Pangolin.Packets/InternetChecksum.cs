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
        // Native AOT (newt) compiles for the x64 baseline, where Vector256 is not accelerated but Vector128 is: without
        // the 128-bit path its checksums ran the scalar carry chain, a few percent of all CPU on a bulk transfer.
        if (Vector256.IsHardwareAccelerated && data.Length >= 64)
        {
            return AddVector256(data, sum);
        }
        return Vector128.IsHardwareAccelerated && data.Length >= 32 ? AddVector128(data, sum) : AddScalar(data, sum);
    }

    /// <summary>
    /// 32-bit words widened into 64-bit lanes: no lane can carry out before 2^32 additions, so the loop has no carry
    /// chain; the lanes are folded in with carries once at the end, and the tail goes the scalar way.
    /// </summary>
    internal static ulong AddVector256(ReadOnlySpan<byte> data, ulong sum)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        var low = Vector256<ulong>.Zero;
        var high = Vector256<ulong>.Zero;
        var i = 0;
        for (; i + 32 <= data.Length; i += 32)
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
        return AddScalar(data[i..], sum);
    }

    /// <summary>The same with 128-bit vectors, two pairs of accumulators so that the adds of one 32-byte step overlap.</summary>
    internal static ulong AddVector128(ReadOnlySpan<byte> data, ulong sum)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        var low0 = Vector128<ulong>.Zero;
        var high0 = Vector128<ulong>.Zero;
        var low1 = Vector128<ulong>.Zero;
        var high1 = Vector128<ulong>.Zero;
        var i = 0;
        for (; i + 32 <= data.Length; i += 32)
        {
            var (lower0, upper0) = Vector128.Widen(Vector128.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref start, i))));
            var (lower1, upper1) = Vector128.Widen(Vector128.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref start, i + 16))));
            low0 += lower0;
            high0 += upper0;
            low1 += lower1;
            high1 += upper1;
        }
        var lanes = (low0 + high0) + (low1 + high1);
        sum = AddCarry(sum, lanes.GetElement(0));
        sum = AddCarry(sum, lanes.GetElement(1));
        return AddScalar(data[i..], sum);
    }

    /// <summary>Eight bytes at a time with an end-around carry: the path for short ranges and tails.</summary>
    internal static ulong AddScalar(ReadOnlySpan<byte> data, ulong sum)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        var length = data.Length;
        var i = 0;
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

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/> and adds it to a running sum in the same
    /// pass (a segment's payload is read once instead of twice: once to move it, once to sum it).
    /// </summary>
    public static ulong CopyAndAdd(ReadOnlySpan<byte> source, Span<byte> destination, ulong sum = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length, nameof(destination));
        if (Vector256.IsHardwareAccelerated && source.Length >= 64)
        {
            return CopyAndAddVector256(source, destination, sum);
        }
        return Vector128.IsHardwareAccelerated && source.Length >= 32 ? CopyAndAddVector128(source, destination, sum) : CopyAndAddScalar(source, destination, sum);
    }

    /// <summary>Adds two running sums (of ranges that each start on an even offset of the checksummed range).</summary>
    public static ulong Combine(ulong sum, ulong other) => AddCarry(sum, other);

    internal static ulong CopyAndAddVector256(ReadOnlySpan<byte> source, Span<byte> destination, ulong sum)
    {
        ref var from = ref MemoryMarshal.GetReference(source);
        ref var to = ref MemoryMarshal.GetReference(destination);
        var low = Vector256<ulong>.Zero;
        var high = Vector256<ulong>.Zero;
        var i = 0;
        for (; i + 32 <= source.Length; i += 32)
        {
            var bytes = Vector256.LoadUnsafe(ref Unsafe.Add(ref from, i));
            bytes.StoreUnsafe(ref Unsafe.Add(ref to, i));
            var (lower, upper) = Vector256.Widen(bytes.AsUInt32());
            low += lower;
            high += upper;
        }
        var lanes = low + high;
        for (var lane = 0; lane < Vector256<ulong>.Count; lane++)
        {
            sum = AddCarry(sum, lanes.GetElement(lane));
        }
        return CopyAndAddScalar(source[i..], destination[i..], sum);
    }

    internal static ulong CopyAndAddVector128(ReadOnlySpan<byte> source, Span<byte> destination, ulong sum)
    {
        ref var from = ref MemoryMarshal.GetReference(source);
        ref var to = ref MemoryMarshal.GetReference(destination);
        var low0 = Vector128<ulong>.Zero;
        var high0 = Vector128<ulong>.Zero;
        var low1 = Vector128<ulong>.Zero;
        var high1 = Vector128<ulong>.Zero;
        var i = 0;
        for (; i + 32 <= source.Length; i += 32)
        {
            var first = Vector128.LoadUnsafe(ref Unsafe.Add(ref from, i));
            var second = Vector128.LoadUnsafe(ref Unsafe.Add(ref from, i + 16));
            first.StoreUnsafe(ref Unsafe.Add(ref to, i));
            second.StoreUnsafe(ref Unsafe.Add(ref to, i + 16));
            var (lower0, upper0) = Vector128.Widen(first.AsUInt32());
            var (lower1, upper1) = Vector128.Widen(second.AsUInt32());
            low0 += lower0;
            high0 += upper0;
            low1 += lower1;
            high1 += upper1;
        }
        var lanes = (low0 + high0) + (low1 + high1);
        sum = AddCarry(sum, lanes.GetElement(0));
        sum = AddCarry(sum, lanes.GetElement(1));
        return CopyAndAddScalar(source[i..], destination[i..], sum);
    }

    internal static ulong CopyAndAddScalar(ReadOnlySpan<byte> source, Span<byte> destination, ulong sum)
    {
        source.CopyTo(destination);
        return AddScalar(source, sum);
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
