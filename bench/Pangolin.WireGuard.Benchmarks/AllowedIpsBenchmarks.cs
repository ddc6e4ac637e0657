using System.Net;
using BenchmarkDotNet.Attributes;
using Pangolin.WireGuard.AllowedIps;

namespace Pangolin.WireGuard.Benchmarks;

/// <summary>
/// Cryptokey routing lookups (per packet) in a table of 1,000 IPv4 and 1,000 IPv6 prefixes spread over 100 owners.
/// Each invocation looks up 1,024 addresses, half of them inside stored prefixes; the time shown is per lookup.
/// </summary>
[MemoryDiagnoser]
public class AllowedIpsBenchmarks
{
    private const int Probes = 1024;

    private readonly AllowedIpsTable<object> _table = new();
    private readonly byte[] _v4 = new byte[Probes * 4];
    private readonly byte[] _v6 = new byte[Probes * 16];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(2026);
        var owners = Enumerable.Range(0, 100).Select(_ => new object()).ToArray();
        var prefixes4 = new List<byte[]>();
        var prefixes6 = new List<byte[]>();
        for (var i = 0; i < 1000; i++)
        {
            var v4 = new byte[4];
            random.NextBytes(v4);
            _table.Insert(new IPNetwork(new IPAddress(v4), random.Next(8, 33)), owners[random.Next(owners.Length)]);
            prefixes4.Add(v4);

            var v6 = new byte[16];
            random.NextBytes(v6);
            _table.Insert(new IPNetwork(new IPAddress(v6), random.Next(32, 129)), owners[random.Next(owners.Length)]);
            prefixes6.Add(v6);
        }

        random.NextBytes(_v4);
        random.NextBytes(_v6);
        for (var i = 0; i < Probes; i += 2)
        {
            // Half the probes share the first bytes of a stored prefix, so lookups walk deep and usually match.
            prefixes4[random.Next(prefixes4.Count)].AsSpan(0, 3).CopyTo(_v4.AsSpan(i * 4));
            prefixes6[random.Next(prefixes6.Count)].AsSpan(0, 12).CopyTo(_v6.AsSpan(i * 16));
        }
    }

    [Benchmark(OperationsPerInvoke = Probes)]
    public int LookupIPv4()
    {
        var found = 0;
        for (var i = 0; i < Probes; i++)
        {
            if (_table.Lookup(_v4.AsSpan(i * 4, 4)) is not null)
            {
                found++;
            }
        }
        return found;
    }

    [Benchmark(OperationsPerInvoke = Probes)]
    public int LookupIPv6()
    {
        var found = 0;
        for (var i = 0; i < Probes; i++)
        {
            if (_table.Lookup(_v6.AsSpan(i * 16, 16)) is not null)
            {
                found++;
            }
        }
        return found;
    }
}
