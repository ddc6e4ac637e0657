using BenchmarkDotNet.Attributes;
using Pangolin.WireGuard.Crypto;

namespace Pangolin.WireGuard.Benchmarks;

/// <summary>BLAKE2s, HMAC and the KDF: the handshake's hashing (whitepaper §5.4) and the cookie MACs.</summary>
[MemoryDiagnoser]
public class CryptoBenchmarks
{
    private readonly byte[] _input64 = new byte[64];
    private readonly byte[] _input1KiB = new byte[1024];
    private readonly byte[] _message116 = new byte[116];   // an initiation up to mac1, what MAC() covers
    private readonly byte[] _key = new byte[32];
    private readonly byte[] _out1 = new byte[32];
    private readonly byte[] _out2 = new byte[32];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        random.NextBytes(_input64);
        random.NextBytes(_input1KiB);
        random.NextBytes(_message116);
        random.NextBytes(_key);
    }

    [Benchmark]
    public void Blake2sHash64B() => Blake2s.Hash(_input64, _out1);

    [Benchmark]
    public void Blake2sHash1KiB() => Blake2s.Hash(_input1KiB, _out1);

    [Benchmark]
    public void Blake2sMac116B() => Blake2s.Mac(_key, _message116, _out1.AsSpan(0, 16));

    [Benchmark]
    public void Hmac32B() => Blake2s.Hmac(_key, _input64.AsSpan(0, 32), _out1);

    [Benchmark]
    public void Kdf2() => Kdf.Kdf2(_key, _input64.AsSpan(0, 32), _out1, _out2);
}
