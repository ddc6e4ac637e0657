namespace Pangolin.WireGuard.Net;

/// <summary>A system call to make while a set of managed buffers is pinned (a struct, so the call inlines).</summary>
internal interface IPinnedCall
{
    /// <summary>Makes the call; returns its result, or minus the errno on failure.</summary>
    int Invoke();
}

/// <summary>
/// Pins a run of caller-owned arrays for the length of one non-blocking system call, without GCHandles: each level
/// of the recursion holds one `fixed` pin (free: the GC reads it from the stack frame), and the innermost level makes
/// the call with every iovec pointing into a pinned array. A method with pinned locals is never turned into a tail
/// call by the JIT, so each frame (and its pin) outlives the call below it. Depth is at most one batch (64).
/// </summary>
internal static unsafe class Pinning
{
    /// <summary>
    /// Pins <c>buffers[index .. end)</c>, points <c>iov[k].Base</c> (k = 0 for <paramref name="index"/>) at each buffer
    /// plus its offset, and invokes <paramref name="call"/>. Lengths in the iovecs are the caller's to set.
    /// </summary>
    public static int Run<TCall>(byte[][] buffers, int[]? offsets, int index, int end, Native.IoVec* iov, ref TCall call)
        where TCall : struct, IPinnedCall
    {
        if (index == end)
        {
            return call.Invoke();
        }
        fixed (byte* start = buffers[index])
        {
            iov->Base = start + (offsets is null ? 0 : offsets[index]);
            return Run(buffers, offsets, index + 1, end, iov + 1, ref call);
        }
    }
}
