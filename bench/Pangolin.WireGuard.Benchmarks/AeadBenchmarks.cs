using BenchmarkDotNet.Attributes;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Benchmarks;

/// <summary>
/// The two ChaCha20-Poly1305 back ends side by side on one packet: OpenSSL through a cipher context set up once
/// (re-armed with the nonce per call) and libsodium (key per call). Keypair picks by size from where they cross.
/// </summary>
[MemoryDiagnoser]
public class AeadBenchmarks : IDisposable
{
    private readonly byte[] _key = new byte[32];
    private readonly byte[] _nonce = new byte[12];
    private readonly byte[] _data = new byte[1420];
    private readonly byte[] _tag = new byte[16];
    private nint _context;

    [Params(64, 256, 512, 1420)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        new Random(7).NextBytes(_key);
        _context = OpenSsl.CreateContext(_key, encrypt: true);
    }

    [GlobalCleanup]
    public void Dispose()
    {
        OpenSsl.Free(_context);
        _context = 0;
        GC.SuppressFinalize(this);
    }

    [Benchmark]
    public void OpenSslEncrypt() => OpenSsl.Encrypt(_context, _nonce, _data.AsSpan(0, Size), _tag);

    [Benchmark]
    public void SodiumEncrypt() => Sodium.Encrypt(_key, _nonce, _data.AsSpan(0, Size), _tag);
}
