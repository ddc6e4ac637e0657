using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pangolin.WireGuard.Net;

namespace Pangolin.WireGuard.Tests.Net;

/// <summary>
/// The transport hands the kernel raw pointers into the caller's arrays; if one moved during the system call, the
/// kernel would read stale memory or write over another object. Here the "system call" itself forces a compacting
/// collection, over arrays that would slide down over freed neighbours, and checks every pointer still matches.
/// </summary>
public sealed unsafe class PinningTests
{
    private const int Count = 64;

    [Fact]
    public void Buffers_stay_put_through_a_compacting_collection_during_the_call()
    {
        var buffers = BuffersAmongGarbage();
        var iov = stackalloc Native.IoVec[Count];
        var offsets = Enumerable.Range(0, Count).Select(i => i % 7).ToArray();
        var call = new CompactingCall(buffers, offsets, iov);

        var result = Pinning.Run(buffers, offsets, 0, Count, iov, ref call);

        Assert.Equal(Count, result);
    }

    [Fact]
    public void Without_pins_the_same_buffers_do_move_so_the_other_test_can_fail()
    {
        var buffers = BuffersAmongGarbage();
        var before = buffers.Select(Address).ToArray();

        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);

        Assert.NotEqual(before, buffers.Select(Address).ToArray());
    }

    /// <summary>Arrays allocated between garbage, in a frame of their own, so that nothing else keeps the garbage alive.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte[][] BuffersAmongGarbage()
    {
        var garbage = new List<byte[]>();
        var buffers = new byte[Count][];
        for (var i = 0; i < Count; i++)
        {
            garbage.Add(new byte[4096]);
            buffers[i] = new byte[100 + i];
        }
        GC.KeepAlive(garbage);
        return buffers;
    }

    private static nint Address(byte[] array) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));

    private readonly struct CompactingCall(byte[][] buffers, int[] offsets, Native.IoVec* iov) : IPinnedCall
    {
        public int Invoke()
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            var unmoved = 0;
            for (var i = 0; i < buffers.Length; i++)
            {
                if ((nint)iov[i].Base == Address(buffers[i]) + offsets[i])
                {
                    unmoved++;
                }
            }
            return unmoved;
        }
    }
}
