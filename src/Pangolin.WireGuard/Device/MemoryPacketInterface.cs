using System.Buffers;
using System.Threading.Tasks.Sources;
using Pangolin.WireGuard.Tun;

namespace Pangolin.WireGuard.Device;

/// <summary>Receives a packet the device wrote; the span is valid only for the call.</summary>
public delegate void PacketHandler(ReadOnlySpan<byte> packet);

/// <summary>What <see cref="MemoryPacketInterface.Write"/> does when the queue towards the stack is full.</summary>
public enum FullQueueBehavior
{
    /// <summary>Drop the packet and count it, as a NIC drops what its ring cannot hold; the device never stalls.</summary>
    Drop,

    /// <summary>Block the device's writing thread until the stack makes room (or the interface is disposed).</summary>
    Block,
}

/// <summary>
/// A packet interface in memory, for a userspace network stack instead of a kernel TUN. Two bounded queues of
/// reusable packet slots: the stack <see cref="Enqueue"/>s packets that the device's <see cref="Read"/> takes, and
/// the device's <see cref="Write"/> queues packets that the stack takes with <see cref="TryDequeue"/> or
/// <see cref="DequeueAsync"/> (or, with a <see cref="PacketHandler"/>, hands them straight to the stack without
/// queueing). Packets are copied into and out of the slots, which are allocated once and reused, so neither
/// direction allocates per packet; a full queue pushes back (Enqueue blocks, TryEnqueue returns false) rather
/// than grows.
/// </summary>
/// <remarks>
/// Dispose discards queued packets; every waiting call then throws <see cref="ObjectDisposedException"/>, as does
/// every later call.
/// </remarks>
public sealed class MemoryPacketInterface : IPacketInterface
{
    /// <summary>The largest IP packet (the IPv4 total length and the IPv6 payload length are 16 bits).</summary>
    public const int MaxPacketSize = 65535;

    private readonly PacketQueue _toDevice;
    private readonly PacketQueue? _toStack;
    private readonly PacketHandler? _handler;
    private readonly Action<bool>? _batchHandler;
    private readonly FullQueueBehavior _whenFull;
    private int _disposed;
    private long _droppedWrites;
    private long _droppedReads;

    /// <param name="name">What <see cref="Name"/> reports.</param>
    /// <param name="mtu">What <see cref="Mtu"/> reports, and the size slots start at (longer packets still fit).</param>
    /// <param name="capacity">Packets each queue holds before pushing back.</param>
    /// <param name="batchSize">What <see cref="BatchSize"/> advertises.</param>
    /// <param name="onWrite">If set, the device's writes go straight to it on the writing thread, and the queue
    /// towards the stack (TryDequeue, DequeueAsync) is not used.</param>
    /// <param name="whenFull">What Write does when the queue towards the stack is full.</param>
    /// <param name="onWriteBatch">With <paramref name="onWrite"/>: told true before and false after each batch of
    /// packets the device writes (what one read of the network decrypted), so the stack can answer a batch at once.</param>
    public MemoryPacketInterface(
        string name = "mem0",
        int mtu = 1420,
        int capacity = 1024,
        int batchSize = 64,
        PacketHandler? onWrite = null,
        FullQueueBehavior whenFull = FullQueueBehavior.Drop,
        Action<bool>? onWriteBatch = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 68);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(mtu, MaxPacketSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        Name = name;
        Mtu = mtu;
        BatchSize = batchSize;
        _handler = onWrite;
        _batchHandler = onWrite is null ? null : onWriteBatch;
        _whenFull = whenFull;
        _toDevice = new PacketQueue(capacity, mtu);
        _toStack = onWrite is null ? new PacketQueue(capacity, mtu) : null;
    }

    public string Name { get; }

    public int Mtu { get; }

    public int BatchSize { get; }

    /// <summary>Packets the stack has enqueued that the device has not read yet.</summary>
    public int PendingForDevice => _toDevice.Count;

    /// <summary>Packets the device has written that the stack has not dequeued yet.</summary>
    public int PendingForStack => _toStack?.Count ?? 0;

    /// <summary>Packets the device wrote that were dropped: the queue towards the stack was full (Drop behaviour).</summary>
    public long DroppedWrites => Interlocked.Read(ref _droppedWrites);

    /// <summary>Packets dropped on Read because they did not fit the device's buffer.</summary>
    public long DroppedReads => Interlocked.Read(ref _droppedReads);

    // ----- The stack's side -----

    /// <summary>Queues a packet for the device; false if the queue is full (the caller keeps the packet).</summary>
    public bool TryEnqueue(ReadOnlySpan<byte> packet)
    {
        CheckPacket(packet);
        return _toDevice.TryAdd(packet, this);
    }

    /// <summary>
    /// Queues a TCP super-packet for the device to cut into segments of <paramref name="segmentSize"/> payload bytes as it
    /// reads them (see Netstack's ISegmentationOffloadLink): no copy, the buffer itself is queued. It comes from
    /// <see cref="ArrayPool{T}.Shared"/> and belongs to the interface from this call on — returned there once read,
    /// or at once when the queue is full (false) or closed (which throws). It counts as its segments against the
    /// capacity, and is taken while there is room for at least one.
    /// </summary>
    public bool TryEnqueueSegmented(byte[] buffer, int length, int segmentSize)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(segmentSize);
        if ((uint)length > (uint)buffer.Length || length > MaxPacketSize)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw new ArgumentOutOfRangeException(nameof(length), $"A packet is at most {MaxPacketSize} bytes and within its buffer; this one is {length}.");
        }
        return _toDevice.TryAddSegmented(buffer, length, segmentSize, this);
    }

    /// <summary>Queues a packet for the device, waiting while the queue is full.</summary>
    public void Enqueue(ReadOnlySpan<byte> packet, CancellationToken cancellationToken = default)
    {
        CheckPacket(packet);
        _toDevice.Add(packet, this, cancellationToken);
    }

    /// <summary>Takes the oldest packet the device wrote into <paramref name="destination"/>; false if there is none.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the packet (which stays queued).</exception>
    public bool TryDequeue(Span<byte> destination, out int length) => StackQueue().TryTake(destination, out length, this);

    /// <summary>
    /// Waits for a packet from the device and copies it into <paramref name="destination"/>; returns its length.
    /// One call at a time. Completes synchronously, without allocating, when a packet is already queued.
    /// </summary>
    public ValueTask<int> DequeueAsync(Memory<byte> destination, CancellationToken cancellationToken = default) =>
        StackQueue().TakeAsync(destination, this, cancellationToken);

    // ----- The device's side -----

    public int Read(byte[][] buffers, int[] sizes, int offset)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var capacity = Math.Min(buffers.Length, sizes.Length);
        ArgumentOutOfRangeException.ThrowIfZero(capacity, nameof(buffers));
        return _toDevice.TakeBatch(buffers, sizes, offset, capacity, this, ref _droppedReads);
    }

    public void Write(byte[][] buffers, int[] sizes, int offset, int count)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Math.Min(buffers.Length, sizes.Length));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _batchHandler?.Invoke(true);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var packet = buffers[i].AsSpan(offset, sizes[i]);
                if (_handler is not null)
                {
                    _handler(packet);
                }
                else if (_whenFull == FullQueueBehavior.Block)
                {
                    _toStack!.Add(packet, this, CancellationToken.None);
                }
                else if (!_toStack!.TryAdd(packet, this))
                {
                    Interlocked.Increment(ref _droppedWrites);
                }
            }
        }
        finally
        {
            _batchHandler?.Invoke(false);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _toDevice.Close(this);
        _toStack?.Close(this);
    }

    public override string ToString() => $"memory {Name}";

    private PacketQueue StackQueue() =>
        _toStack ?? throw new InvalidOperationException("This interface hands the device's packets to its PacketHandler; there is no queue to dequeue from.");

    private static void CheckPacket(ReadOnlySpan<byte> packet)
    {
        if (packet.Length > MaxPacketSize)
        {
            throw new ArgumentException($"A packet is at most {MaxPacketSize} bytes; this one is {packet.Length}.", nameof(packet));
        }
    }

    /// <summary>
    /// A bounded FIFO of packets copied into reusable slots. Any number of threads may add and take synchronously
    /// (Monitor waits). One taker at a time may wait asynchronously: it parks its destination here, the next adder
    /// copies the packet straight into it, and the completion goes through a reusable value-task source — so a
    /// waiting <see cref="TakeAsync"/> allocates nothing either.
    /// </summary>
    private sealed class PacketQueue : IValueTaskSource<int>
    {
        private readonly object _gate = new();
        private readonly byte[]?[] _slots;
        private readonly int[] _lengths;
        private readonly int _slotSize;
        private readonly int _capacity;

        // Super-packets queued by reference (TryAddSegmented): the pooled buffer, its segment size, and the packets it
        // counts as; copied packets count as one and keep _owned null. _segmenter cuts the head one across reads.
        private readonly byte[]?[] _owned;
        private readonly int[] _segmentSizes;
        private readonly int[] _units;
        private readonly TunOffload.Segmenter _segmenter = new();
        private bool _segmentingHead;
        private int _head;
        private int _count;
        private int _queuedUnits;
        private bool _closed;
        private int _waitingTakers;
        private int _waitingAdders;

        // The asynchronous taker. Armed (under the lock) only while the queue is empty; whoever disarms it — an
        // adder with a packet, a cancellation, Close — completes it, outside the lock. In progress from arming until
        // the awaiter has taken the result, so that the source is not reset under it.
        private ManualResetValueTaskSourceCore<int> _asyncTaker = new() { RunContinuationsAsynchronously = true };
        private bool _asyncArmed;
        private bool _asyncInProgress;
        private Memory<byte> _asyncDestination;
        private CancellationToken _asyncToken;
        private CancellationTokenRegistration _asyncRegistration;

        public PacketQueue(int capacity, int slotSize)
        {
            _slots = new byte[]?[capacity];
            _lengths = new int[capacity];
            _owned = new byte[]?[capacity];
            _segmentSizes = new int[capacity];
            _units = new int[capacity];
            _slotSize = slotSize;
            _capacity = capacity;
        }

        /// <summary>Packets queued, a super-packet counting as its segments.</summary>
        public int Count
        {
            get
            {
                lock (_gate)
                {
                    return _queuedUnits;
                }
            }
        }

        private bool IsFull => _queuedUnits >= _capacity;

        public bool TryAddSegmented(byte[] buffer, int length, int segmentSize, object owner)
        {
            lock (_gate)
            {
                if (!_closed && !IsFull)
                {
                    var tail = (_head + _count) % _slots.Length;
                    _owned[tail] = buffer;
                    _lengths[tail] = length;
                    _segmentSizes[tail] = segmentSize;
                    _units[tail] = Math.Max(1, length / segmentSize);
                    _queuedUnits += _units[tail];
                    _count++;
                    if (_waitingTakers > 0)
                    {
                        Monitor.PulseAll(_gate);
                    }
                    return true;
                }
            }
            ArrayPool<byte>.Shared.Return(buffer);
            ObjectDisposedException.ThrowIf(_closed, owner);
            return false;
        }

        public bool TryAdd(ReadOnlySpan<byte> packet, object owner)
        {
            Handover handover;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_closed, owner);
                if (IsFull)
                {
                    return false;
                }
                handover = Put(packet);
            }
            CompleteAsyncTaker(handover);
            return true;
        }

        public void Add(ReadOnlySpan<byte> packet, object owner, CancellationToken cancellationToken)
        {
            Handover handover;
            using (cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(static gate => WakeAll(gate!), _gate) : default)
            {
                lock (_gate)
                {
                    while (!_closed && IsFull)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        _waitingAdders++;
                        try
                        {
                            Monitor.Wait(_gate);
                        }
                        finally
                        {
                            _waitingAdders--;
                        }
                    }
                    ObjectDisposedException.ThrowIf(_closed, owner);
                    handover = Put(packet);
                }
            }
            CompleteAsyncTaker(handover);
        }

        /// <summary>Blocks until at least one packet fits the caller's buffers, then takes as many as are queued.</summary>
        public int TakeBatch(byte[][] buffers, int[] sizes, int offset, int capacity, object owner, ref long dropped)
        {
            lock (_gate)
            {
                while (true)
                {
                    while (!_closed && _count == 0)
                    {
                        _waitingTakers++;
                        try
                        {
                            Monitor.Wait(_gate);
                        }
                        finally
                        {
                            _waitingTakers--;
                        }
                    }
                    ObjectDisposedException.ThrowIf(_closed, owner);

                    var taken = 0;
                    while (taken < capacity && _count > 0)
                    {
                        if (_owned[_head] is { } superPacket)
                        {
                            taken = TakeSegments(superPacket, buffers, sizes, offset, taken, capacity, ref dropped);
                            continue;
                        }
                        var length = _lengths[_head];
                        var target = buffers[taken];
                        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, target.Length, nameof(offset));
                        if (length <= target.Length - offset)
                        {
                            _slots[_head].AsSpan(0, length).CopyTo(target.AsSpan(offset));
                            sizes[taken++] = length;
                        }
                        else
                        {
                            Interlocked.Increment(ref dropped);
                        }
                        Advance();
                    }
                    if (taken > 0)
                    {
                        return taken;
                    }
                }
            }
        }

        /// <summary>
        /// Cuts the head super-packet's next segments into the caller's buffers from index <paramref name="taken"/> on
        /// (under the lock); frees it once all are out. Returns the new count of buffers filled.
        /// </summary>
        private int TakeSegments(byte[] superPacket, byte[][] buffers, int[] sizes, int offset, int taken, int capacity, ref long dropped)
        {
            if (!_segmentingHead)
            {
                if (!_segmenter.BeginTcp(superPacket, 0, _lengths[_head], _segmentSizes[_head]))
                {
                    Interlocked.Increment(ref dropped);
                    Advance();
                    return taken;
                }
                _segmentingHead = true;
            }
            taken = _segmenter.WriteInto(buffers, sizes, offset, taken, capacity, ref dropped);
            if (!_segmenter.HasNext)
            {
                Advance();
            }
            return taken;
        }

        public bool TryTake(Span<byte> destination, out int length, object owner)
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_closed, owner);
                if (_count == 0)
                {
                    length = 0;
                    return false;
                }
                length = TakeInto(destination);
                return true;
            }
        }

        public ValueTask<int> TakeAsync(Memory<byte> destination, object owner, CancellationToken cancellationToken)
        {
            short version;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_closed, owner);
                if (_asyncInProgress)
                {
                    throw new InvalidOperationException("Only one DequeueAsync may wait at a time.");
                }
                if (_count > 0)
                {
                    return new ValueTask<int>(TakeInto(destination.Span));
                }
                cancellationToken.ThrowIfCancellationRequested();
                _asyncTaker.Reset();
                version = _asyncTaker.Version;
                _asyncInProgress = true;
                _asyncArmed = true;
                _asyncDestination = destination;
                _asyncToken = cancellationToken;
            }
            if (cancellationToken.CanBeCanceled)
            {
                // Assigned before the caller can have the ValueTask, so GetResult (which disposes it) sees it.
                _asyncRegistration = cancellationToken.UnsafeRegister(static queue => ((PacketQueue)queue!).CancelAsyncTaker(), this);
            }
            return new ValueTask<int>(this, version);
        }

        public void Close(object owner)
        {
            bool wasArmed;
            lock (_gate)
            {
                _closed = true;
                Array.Clear(_slots);
                while (_count > 0)
                {
                    Advance(); // gives queued super-packets' buffers back to the pool
                }
                wasArmed = _asyncArmed;
                _asyncArmed = false;
                _asyncDestination = default;
                Monitor.PulseAll(_gate);
            }
            if (wasArmed)
            {
                _asyncTaker.SetException(new ObjectDisposedException(owner.GetType().FullName));
            }
        }

        int IValueTaskSource<int>.GetResult(short token)
        {
            try
            {
                return _asyncTaker.GetResult(token);
            }
            finally
            {
                var registration = _asyncRegistration;
                _asyncRegistration = default;
                registration.Dispose();
                lock (_gate)
                {
                    _asyncInProgress = false;
                    _asyncDestination = default;
                    _asyncToken = default;
                }
            }
        }

        ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _asyncTaker.GetStatus(token);

        void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _asyncTaker.OnCompleted(continuation, state, token, flags);

        private void CancelAsyncTaker()
        {
            CancellationToken token;
            lock (_gate)
            {
                if (!_asyncArmed)
                {
                    return;
                }
                _asyncArmed = false;
                _asyncDestination = default;
                token = _asyncToken;
            }
            _asyncTaker.SetException(new OperationCanceledException(token));
        }

        private static void WakeAll(object gate)
        {
            lock (gate)
            {
                Monitor.PulseAll(gate);
            }
        }

        /// <summary>
        /// Under the lock, with room checked: hands the packet to the waiting asynchronous taker if there is one
        /// (copying it into the destination it parked), else stores it and wakes blocked takers.
        /// </summary>
        private Handover Put(ReadOnlySpan<byte> packet)
        {
            if (_asyncArmed)
            {
                _asyncArmed = false;
                if (packet.Length <= _asyncDestination.Length)
                {
                    packet.CopyTo(_asyncDestination.Span);
                    _asyncDestination = default;
                    return new Handover(packet.Length, tooShort: false);
                }
                // As with TryDequeue, a destination too short leaves the packet queued.
                Store(packet);
                return new Handover(packet.Length, tooShort: true);
            }
            Store(packet);
            if (_waitingTakers > 0)
            {
                Monitor.PulseAll(_gate);
            }
            return Handover.None;
        }

        private void CompleteAsyncTaker(Handover handover)
        {
            if (handover.Length < 0)
            {
                return;
            }
            if (handover.TooShort)
            {
                _asyncTaker.SetException(new ArgumentException($"The next packet is {handover.Length} bytes; the destination is shorter."));
            }
            else
            {
                _asyncTaker.SetResult(handover.Length);
            }
        }

        /// <summary>Copies the head packet out and frees its slot (under the lock, with a packet queued).</summary>
        private int TakeInto(Span<byte> destination)
        {
            var length = _lengths[_head];
            if (length > destination.Length)
            {
                throw new ArgumentException($"The next packet is {length} bytes; the destination holds {destination.Length}.", nameof(destination));
            }
            _slots[_head].AsSpan(0, length).CopyTo(destination);
            Advance();
            return length;
        }

        /// <summary>Copies a packet into the tail slot (under the lock, with room checked).</summary>
        private void Store(ReadOnlySpan<byte> packet)
        {
            var tail = (_head + _count) % _slots.Length;
            var slot = _slots[tail];
            if (slot is null || slot.Length < packet.Length)
            {
                // First use of the slot, or a packet longer than any before it: the only allocations.
                slot = new byte[Math.Max(_slotSize, packet.Length)];
                _slots[tail] = slot;
            }
            packet.CopyTo(slot);
            _lengths[tail] = packet.Length;
            _units[tail] = 1;
            _queuedUnits++;
            _count++;
        }

        /// <summary>Frees the head slot (a super-packet's buffer back to the pool) and lets a waiting adder in.</summary>
        private void Advance()
        {
            if (_owned[_head] is { } superPacket)
            {
                _owned[_head] = null;
                _segmentingHead = false;
                ArrayPool<byte>.Shared.Return(superPacket);
            }
            _queuedUnits -= _units[_head];
            _head = (_head + 1) % _slots.Length;
            _count--;
            if (_waitingAdders > 0)
            {
                Monitor.PulseAll(_gate);
            }
        }

        /// <summary>What an add owes the asynchronous taker once out of the lock: nothing (Length -1), a result, or an error.</summary>
        private readonly struct Handover(int length, bool tooShort)
        {
            public int Length { get; } = length;

            public bool TooShort { get; } = tooShort;

            public static Handover None => new(-1, tooShort: false);
        }
    }
}
