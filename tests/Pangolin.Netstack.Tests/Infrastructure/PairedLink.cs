namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// One direction of a wire between two stacks in the same process: Send copies the packet into a preallocated slot
/// and a thread hands it to the far stack's Receive (so the sender never re-enters a stack). Full slots drop the
/// packet, like a full queue on a real link. Allocates nothing per packet, so allocation tests measure the stack.
/// </summary>
public sealed class PairedLink : INetworkLink, IDisposable
{
    private const int Slots = 4096;
    private readonly byte[][] _slots = new byte[Slots][];
    private readonly int[] _lengths = new int[Slots];
    private readonly object _lock = new(); // Monitor.Wait/Pulse need a monitor, not a System.Threading.Lock
    private readonly Thread _thread;
    private NetworkStack? _receiver;
    private long _head;
    private long _tail;
    private bool _stopped;

    public PairedLink(int mtu = 1420)
    {
        Mtu = mtu;
        for (var i = 0; i < Slots; i++)
        {
            _slots[i] = new byte[mtu];
        }
        _thread = new Thread(Deliver) { IsBackground = true, Name = "paired link" };
    }

    public int Mtu { get; }

    public long Dropped { get; private set; }

    /// <summary>Joins two stacks with a link each way.</summary>
    public static (PairedLink AToB, PairedLink BToA) Create(out NetworkStack a, out NetworkStack b, NetworkStackOptions? options = null)
    {
        var aToB = new PairedLink();
        var bToA = new PairedLink();
        a = new NetworkStack(aToB, options);
        b = new NetworkStack(bToA, options);
        aToB.Start(b);
        bToA.Start(a);
        return (aToB, bToA);
    }

    public void Start(NetworkStack receiver)
    {
        _receiver = receiver;
        _thread.Start();
    }

    public void Send(ReadOnlySpan<byte> packet)
    {
        lock (_lock)
        {
            if (_tail - _head == Slots || packet.Length > Mtu)
            {
                Dropped++;
                return;
            }
            var slot = (int)(_tail % Slots);
            packet.CopyTo(_slots[slot]);
            _lengths[slot] = packet.Length;
            _tail++;
            Monitor.Pulse(_lock);
        }
    }

    private void Deliver()
    {
        while (true)
        {
            int slot;
            lock (_lock)
            {
                while (_head == _tail && !_stopped)
                {
                    Monitor.Wait(_lock);
                }
                if (_stopped)
                {
                    return;
                }
                slot = (int)(_head % Slots);
            }
            // The slot is not reused until _head moves past it, so it is read outside the lock.
            _receiver!.Receive(_slots[slot].AsSpan(0, _lengths[slot]));
            lock (_lock)
            {
                _head++;
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _stopped = true;
            Monitor.PulseAll(_lock);
        }
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
