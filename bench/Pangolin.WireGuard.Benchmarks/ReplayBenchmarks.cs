using BenchmarkDotNet.Attributes;
using Pangolin.WireGuard.Replay;

namespace Pangolin.WireGuard.Benchmarks;

/// <summary>The per-packet replay check (RFC 6479 window), for in-order traffic and for mild reordering.</summary>
[MemoryDiagnoser]
public class ReplayBenchmarks
{
    private const ulong RejectAfterMessages = ulong.MaxValue - (1UL << 13);
    private const int Batch = 1024;

    private readonly ReplayFilter _filter = new();
    private ulong _next;

    [Benchmark(OperationsPerInvoke = Batch)]
    public int ValidateCounterInOrder()
    {
        var accepted = 0;
        for (var i = 0; i < Batch; i++)
        {
            if (_filter.ValidateCounter(_next++, RejectAfterMessages))
            {
                accepted++;
            }
        }
        return accepted;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int ValidateCounterReordered()
    {
        // Pairs swapped (1, 0, 3, 2, ...) as a multi-queue sender produces.
        var accepted = 0;
        for (var i = 0; i < Batch; i += 2)
        {
            if (_filter.ValidateCounter(_next + 1, RejectAfterMessages))
            {
                accepted++;
            }
            if (_filter.ValidateCounter(_next, RejectAfterMessages))
            {
                accepted++;
            }
            _next += 2;
        }
        return accepted;
    }
}
