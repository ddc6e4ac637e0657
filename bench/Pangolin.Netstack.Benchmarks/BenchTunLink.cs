using System.Globalization;
using System.Runtime.InteropServices;
using Pangolin.WireGuard.Tun;

namespace Pangolin.Netstack.Benchmarks;

/// <summary>
/// Joins a <see cref="NetworkStack"/> to a TUN device, as lean as the link can be so that the figures are the
/// stack's and the TUN's: one thread reads the TUN into <see cref="NetworkStack.Receive"/>, and
/// <see cref="Send"/> writes each packet to the TUN from the caller's thread. No offload (IFF_VNET_HDR is off): one
/// read(2) or write(2) per packet, which is what the stack's plain packets need.
/// </summary>
internal sealed class BenchTunLink : INetworkLink, IDisposable
{
    private const int BufferSize = 65536;
    private const int ReadBatch = 32;

    // Send is called from several threads at once (the application's writers, timers, the reader answering with
    // ACKs): each thread copies into its own buffer, so no lock is taken on the way out. write(2) on one TUN
    // descriptor from several threads is safe.
    [ThreadStatic]
    private static byte[][]? _threadWriteBuffers;

    [ThreadStatic]
    private static int[]? _threadWriteSizes;

    private readonly LinuxTun _tun;
    private readonly Thread _reader;
    private NetworkStack? _stack;
    private long _packetsIn;
    private long _packetsOut;
    private Exception? _readerFailure;
    private int _readerThreadId;

    public BenchTunLink(string netns, string name, int mtu)
    {
        _tun = LinuxTun.CreateInNamespace(netns, name, mtu, offload: false);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"tun reader {name}" };
    }

    public int Mtu => _tun.Mtu;

    /// <summary>Packets read from the TUN and handed to the stack.</summary>
    public long PacketsIn => Interlocked.Read(ref _packetsIn);

    /// <summary>Packets the stack sent and this link wrote to the TUN.</summary>
    public long PacketsOut => Interlocked.Read(ref _packetsOut);

    /// <summary>Reads that failed (LinuxTun's count).</summary>
    public long DroppedReads => _tun.DroppedReads;

    /// <summary>Writes the kernel refused (LinuxTun's count).</summary>
    public long DroppedWrites => _tun.DroppedWrites;

    /// <summary>What ended the reader thread other than Dispose (then nothing reaches the stack any more).</summary>
    public Exception? ReaderFailure => Volatile.Read(ref _readerFailure);

    /// <summary>
    /// CPU time (user + system) the reader thread has used: it reads every packet, runs the stack's receive path
    /// for it and writes the ACKs that path sends, so near one core here means that thread is the bottleneck.
    /// </summary>
    public double ReaderCpuSeconds()
    {
        var tid = Volatile.Read(ref _readerThreadId);
        if (tid == 0)
        {
            return 0;
        }
        try
        {
            // /proc/<pid>/task/<tid>/stat: utime and stime are fields 14 and 15, counted in USER_HZ (100) ticks; the
            // fields are split after the command name's closing parenthesis, which may itself hold spaces.
            var stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Starts delivering what the kernel sends to <paramref name="stack"/>.</summary>
    public void Attach(NetworkStack stack)
    {
        _stack = stack;
        _reader.Start();
    }

    public void Send(ReadOnlySpan<byte> packet)
    {
        var buffers = _threadWriteBuffers ??= [new byte[BufferSize]];
        var sizes = _threadWriteSizes ??= new int[1];
        packet.CopyTo(buffers[0]);
        sizes[0] = packet.Length;
        try
        {
            _tun.Write(buffers, sizes, 0, 1);
            Interlocked.Increment(ref _packetsOut);
        }
        catch (ObjectDisposedException)
        {
            // the run is over: a timer's late retransmission has nowhere to go
        }
    }

    private void ReadLoop()
    {
        var buffers = new byte[ReadBatch][];
        for (var i = 0; i < buffers.Length; i++)
        {
            buffers[i] = new byte[BufferSize];
        }
        var sizes = new int[ReadBatch];
        Volatile.Write(ref _readerThreadId, GetThreadId());
        try
        {
            while (true)
            {
                var count = _tun.Read(buffers, sizes, 0);
                for (var i = 0; i < count; i++)
                {
                    _stack!.Receive(buffers[i].AsSpan(0, sizes[i]));
                }
                // Only this thread writes the count: a plain add, published for the sampler.
                Volatile.Write(ref _packetsIn, _packetsIn + count);
            }
        }
        catch (ObjectDisposedException)
        {
            // disposed: the run is over
        }
        catch (Exception exception)
        {
            // The stack threw out of Receive: a finding, reported with the scenario that was running.
            Volatile.Write(ref _readerFailure, exception);
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

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetThreadId();
}
