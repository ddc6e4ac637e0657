using BenchmarkDotNet.Attributes;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Benchmarks;

/// <summary>
/// The device's per-packet work on the data path (§5.4.6): transport header, padding and ChaCha20-Poly1305 in place
/// on encryption; authentication and decryption in place on receipt — the same methods the readers call.
/// Decrypt first copies the saved ciphertext back (a memcpy of the packet), because decryption is in place.
/// </summary>
[MemoryDiagnoser]
public class TransportBenchmarks : IDisposable
{
    private WireGuardDevice _device = null!;
    private Keypair _sender = null!;
    private Keypair _receiver = null!;
    private PacketElement _element = null!;
    private byte[] _ciphertext = [];
    private int _wireLength;
    private ulong _counter;

    [Params(64, 512, 1420)]
    public int PacketSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _device = new WireGuardDevice(new MemoryPacketInterface(), _ => throw new IOException("no socket in a benchmark"), new DeviceOptions { Workers = 0 });
        var keyA = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var keyB = Enumerable.Range(101, 32).Select(i => (byte)i).ToArray();
        _sender = new Keypair(this, keyA, keyB, isInitiator: true, 1, 2, 0);
        _receiver = new Keypair(this, keyB, keyA, isInitiator: false, 2, 1, 0);
        _element = new PacketElement(2048);
        // One encryption, saved for the decryption benchmark.
        PrepareOutbound();
        _device.Encrypt(_element);
        _wireLength = _element.WireLength;
        _ciphertext = _element.Buffer.AsSpan(0, _wireLength).ToArray();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _sender.Dispose();
        _receiver.Dispose();
        _device.DisposeAsync().AsTask().GetAwaiter().GetResult();
        GC.SuppressFinalize(this);
    }

    [Benchmark]
    public void Encrypt()
    {
        PrepareOutbound();
        _device.Encrypt(_element);
    }

    [Benchmark]
    public bool Decrypt()
    {
        _ciphertext.CopyTo(_element.Buffer, 0);
        _element.Keypair = _receiver;
        _element.Length = _wireLength;
        _element.Counter = 0;
        _device.Decrypt(_element);
        return _element.Failed;
    }

    private void PrepareOutbound()
    {
        _element.Keypair = _sender;
        _element.Counter = _counter++;
        _element.Length = PacketSize;
        _element.Failed = false;
    }
}
