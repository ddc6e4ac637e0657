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
        // Read once: no test changes it, and asking the kernel per use costs an ioctl and throws on a stack timer
        // that fires after the namespace (and with it the device) is gone.
        Mtu = _tun.Mtu;
        Name = name;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"tunlink {name}" };
    }

    public string Name { get; }

    /// <summary>
    /// Loss, duplication and reordering applied to both directions. The kernel here has no netem (sch_netem), so the
    /// test link plays that part, seeded so that a failure can be replayed.
    /// </summary>
    public Impairment? Impair { get; set; }

    public int Mtu { get; }

    /// <summary>Starts delivering what the kernel sends to <paramref name="stack"/>.</summary>
    public void Attach(NetworkStack stack)
    {
        _stack = stack;
        _reader.Start();
    }

    /// <summary>NETSTACK_TRACE=/path/file logs one line per packet each way (for debugging a hung test).</summary>
    private static readonly string? TracePath = Environment.GetEnvironmentVariable("NETSTACK_TRACE");
    private static readonly Lock TraceLock = new();

    private static void Trace(string direction, ReadOnlySpan<byte> packet)
    {
        if (TracePath is null || packet.Length < 20)
        {
            return;
        }
        var ip = (packet[0] >> 4) == 6 ? 40 : 20;
        var protocol = ip == 40 ? packet[6] : packet[9];
        var milliseconds = TimeProvider.System.GetTimestamp() * 1000 / TimeProvider.System.TimestampFrequency;
        var line = $"{milliseconds} {direction} len={packet.Length} proto={protocol}";
        if (protocol == 6 && packet.Length >= ip + 20)
        {
            var t = packet[ip..];
            line += $" {System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(t)}->{System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(t[2..])} flags={t[13]:x2} seq={System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(t[4..])} ack={System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(t[8..])} win={System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(t[14..])} data={packet.Length - ip - (t[12] >> 4) * 4}";
        }
        lock (TraceLock)
        {
            File.AppendAllText(TracePath, line + "\n");
        }
    }

    public void Send(ReadOnlySpan<byte> packet)
    {
        Trace("out", packet);
        lock (_writeLock)
        {
            if (Impair is { } impair)
            {
                impair.Apply(packet, WriteToTunLocked, outgoing: true);
                return;
            }
            WriteToTun(packet);
        }
    }

    /// <summary>For the impairment's delay line, which delivers from a timer, outside Send (Lock is reentrant).</summary>
    private void WriteToTunLocked(ReadOnlySpan<byte> packet)
    {
        lock (_writeLock)
        {
            WriteToTun(packet);
        }
    }

    /// <summary>Caller holds the write lock.</summary>
    private void WriteToTun(ReadOnlySpan<byte> packet)
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
                    if (Impair is { } impair)
                    {
                        impair.Apply(buffers[i].AsSpan(Offset, sizes[i]), p => _stack!.Receive(p), outgoing: false);
                    }
                    else
                    {
                        _stack!.Receive(buffers[i].AsSpan(Offset, sizes[i]));
                    }
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
        Impair?.Dispose();
        _tun.Dispose();
        if (_reader.IsAlive)
        {
            _reader.Join(TimeSpan.FromSeconds(5));
        }
    }
}

/// <summary>
/// Seeded packet loss, duplication and reordering (one packet held back and sent after the next), and an optional
/// delay (<see cref="DelayMilliseconds"/> ± <see cref="JitterMilliseconds"/>, drawn per packet from the same seed):
/// delayed packets wait on a timer-driven delay line per direction, and keep their order unless reordering is on.
/// </summary>
public sealed class Impairment(int seed, double loss, double duplication, double reordering) : IDisposable
{
    private readonly Random _random = new(seed);
    private readonly Lock _lock = new();
    private byte[]? _heldOut;
    private byte[]? _heldIn;
    private DelayLine? _delayOut;
    private DelayLine? _delayIn;

    public long Dropped { get; private set; }

    public long Duplicated { get; private set; }

    public long Reordered { get; private set; }

    /// <summary>Packets that went through a delay line.</summary>
    public long Delayed { get; private set; }

    /// <summary>The one-way delay each packet gets, each direction (0: none, packets go at once).</summary>
    public double DelayMilliseconds { get; init; }

    /// <summary>Uniform jitter around <see cref="DelayMilliseconds"/>: each packet waits delay ± jitter.</summary>
    public double JitterMilliseconds { get; init; }

    /// <summary>The clock of the delay lines.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public void Apply(ReadOnlySpan<byte> packet, ImpairedDelivery deliver, bool outgoing)
    {
        ArgumentNullException.ThrowIfNull(deliver);
        byte[]? release;
        bool duplicate;
        double delay = 0;
        DelayLine? line = null;
        // Decide under the lock, deliver outside it: delivery re-enters the stack, which takes its own locks.
        lock (_lock)
        {
            var roll = _random.NextDouble();
            if (roll < loss)
            {
                Dropped++;
                return;
            }
            ref var held = ref outgoing ? ref _heldOut : ref _heldIn;
            if (roll < loss + reordering && held is null)
            {
                held = packet.ToArray();
                Reordered++;
                return;
            }
            release = held;
            held = null;
            duplicate = roll > 1 - duplication;
            if (duplicate)
            {
                Duplicated++;
            }
            if (DelayMilliseconds > 0)
            {
                delay = Math.Max(0, DelayMilliseconds + (_random.NextDouble() * 2 - 1) * JitterMilliseconds);
                ref var slot = ref outgoing ? ref _delayOut : ref _delayIn;
                line = slot ??= new DelayLine(Time, keepOrder: reordering == 0);
                Delayed++;
            }
        }
        if (line is not null)
        {
            // Everything this call would deliver goes down the line together, in the same order as undelayed.
            line.Add(packet, deliver, delay);
            if (duplicate)
            {
                line.Add(packet, deliver, delay);
            }
            if (release is not null)
            {
                line.Add(release, deliver, delay);
            }
            return;
        }
        deliver(packet);
        if (duplicate)
        {
            deliver(packet);
        }
        if (release is not null)
        {
            deliver(release);
        }
    }

    public void Dispose()
    {
        DelayLine? outgoing;
        DelayLine? incoming;
        lock (_lock)
        {
            outgoing = _delayOut;
            incoming = _delayIn;
        }
        outgoing?.Dispose();
        incoming?.Dispose();
    }

    /// <summary>
    /// Packets of one direction waiting for their time: a queue ordered by due time (then arrival) and one timer set
    /// for the earliest. Deliveries are serialized, so the stack still sees one receiving thread at a time.
    /// </summary>
    private sealed class DelayLine : IDisposable
    {
        private readonly TimeProvider _time;
        private readonly bool _keepOrder;
        private readonly Lock _queueLock = new();
        private readonly Lock _deliveryLock = new();
        private readonly PriorityQueue<(byte[] Packet, ImpairedDelivery Deliver), (long Due, long Order)> _queue = new();
        private readonly ITimer _timer;
        private long _order;
        private long _lastDue;
        private long _armedFor = long.MaxValue;
        private bool _disposed;

        public DelayLine(TimeProvider time, bool keepOrder)
        {
            _time = time;
            _keepOrder = keepOrder;
            _timer = time.CreateTimer(static state => ((DelayLine)state!).Deliver(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        public void Add(ReadOnlySpan<byte> packet, ImpairedDelivery deliver, double delayMilliseconds)
        {
            var due = _time.GetTimestamp() + (long)(delayMilliseconds / 1000 * _time.TimestampFrequency);
            lock (_queueLock)
            {
                if (_disposed)
                {
                    return;
                }
                if (_keepOrder)
                {
                    // Without reordering, jitter must not let a packet overtake the one before it.
                    due = Math.Max(due, _lastDue);
                    _lastDue = due;
                }
                _queue.Enqueue((packet.ToArray(), deliver), (due, _order++));
                if (due < _armedFor)
                {
                    Arm(due);
                }
            }
        }

        /// <summary>Caller holds the queue lock.</summary>
        private void Arm(long due)
        {
            _armedFor = due;
            var wait = _time.GetElapsedTime(_time.GetTimestamp(), due);
            _timer.Change(wait < TimeSpan.Zero ? TimeSpan.Zero : wait, Timeout.InfiniteTimeSpan);
        }

        private void Deliver()
        {
            lock (_deliveryLock)
            {
                while (true)
                {
                    (byte[] Packet, ImpairedDelivery Deliver) next;
                    lock (_queueLock)
                    {
                        _armedFor = long.MaxValue;
                        if (_disposed || !_queue.TryPeek(out next, out var key))
                        {
                            return;
                        }
                        if (key.Due > _time.GetTimestamp())
                        {
                            Arm(key.Due);
                            return;
                        }
                        _queue.Dequeue();
                    }
                    try
                    {
                        next.Deliver(next.Packet);
                    }
                    catch (ObjectDisposedException)
                    {
                        // the test is over
                    }
                }
            }
        }

        public void Dispose()
        {
            lock (_queueLock)
            {
                _disposed = true;
                _queue.Clear();
            }
            _timer.Dispose();
        }
    }
}

public delegate void ImpairedDelivery(ReadOnlySpan<byte> packet);
