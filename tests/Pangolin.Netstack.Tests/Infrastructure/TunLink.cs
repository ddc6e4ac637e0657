using Pangolin.WireGuard.Tun;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// Joins a <see cref="NetworkStack"/> to a TUN device in a namespace, so that the Linux kernel is the stack's peer:
/// a thread reads the TUN into <see cref="NetworkStack.Receive"/>, and the stack's packets are written to the TUN.
/// </summary>
public sealed class TunLink : INetworkLink, IDisposable
{
    private const int Offset = 16;
    private readonly LinuxTun _tun;
    private readonly Lock _writeLock = new();
    private readonly byte[][] _writeBuffers = [new byte[Offset + 65536]];
    private readonly int[] _writeSizes = new int[1];
    private readonly Thread _reader;
    private NetworkStack? _stack;

    public TunLink(string netns, string name, int mtu)
    {
        // No offload: the stack sends and takes plain packets, one per write and read.
        _tun = LinuxTun.CreateInNamespace(netns, name, mtu, offload: false);
        Name = name;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"tunlink {name}" };
    }

    public string Name { get; }

    public int Mtu => _tun.Mtu;

    /// <summary>Starts delivering what the kernel sends to <paramref name="stack"/>.</summary>
    public void Attach(NetworkStack stack)
    {
        _stack = stack;
        _reader.Start();
    }

    private static readonly string? TracePath = Environment.GetEnvironmentVariable("NETSTACK_TRACE");

    private static void Trace(string direction, ReadOnlySpan<byte> packet)
    {
        if (TracePath is null || packet.Length < 20)
        {
            return;
        }
        var ip = (packet[0] >> 4) == 6 ? 40 : 20;
        var protocol = ip == 40 ? packet[6] : packet[9];
        var line = $"{direction} len={packet.Length} proto={protocol}";
        if (protocol == 6 && packet.Length >= ip + 20)
        {
            var t = packet[ip..];
            line += $" {System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(t)}->{System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(t[2..])} flags={t[13]:x2} seq={System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(t[4..])} ack={System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(t[8..])} win={System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(t[14..])} data={packet.Length - ip - (t[12] >> 4) * 4}";
        }
        lock (TracePath)
        {
            File.AppendAllText(TracePath, line + "\n");
        }
    }

    public void Send(ReadOnlySpan<byte> packet)
    {
        Trace("out", packet);
        lock (_writeLock)
        {
            packet.CopyTo(_writeBuffers[0].AsSpan(Offset));
            _writeSizes[0] = packet.Length;
            try
            {
                _tun.Write(_writeBuffers, _writeSizes, Offset, 1);
            }
            catch (ObjectDisposedException)
            {
                // the test is over
            }
        }
    }

    private void ReadLoop()
    {
        var buffers = Enumerable.Range(0, 32).Select(_ => new byte[Offset + 65536]).ToArray();
        var sizes = new int[buffers.Length];
        try
        {
            while (true)
            {
                var count = _tun.Read(buffers, sizes, Offset);
                for (var i = 0; i < count; i++)
                {
                    Trace("in ", buffers[i].AsSpan(Offset, sizes[i]));
                    _stack!.Receive(buffers[i].AsSpan(Offset, sizes[i]));
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // disposed: the test is over
        }
    }

    public void Dispose()
    {
        _tun.Dispose();
        if (_reader.IsAlive)
        {
            _reader.Join(TimeSpan.FromSeconds(5));
        }
    }
}
