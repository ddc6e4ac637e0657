using System.Net.Sockets;

namespace Pangolin.Netstack.Tcp;

/// <summary>
/// One TCP connection (RFC 9293): its state machine, its send ring (what the application wrote and the peer has not
/// acknowledged) and its receive buffer (with the out-of-order queue). Segments come in on the link's thread,
/// application calls from anywhere and the timer from the thread pool: all of them under one lock.
/// </summary>
internal sealed partial class TcpConnection
{
    /// <summary>Linux's default window scale for a 4 MiB buffer; we advertise buffers up to 1 MiB, so 5 suffices.</summary>
    private const byte OurWindowScale = 5;
    private const int MaxSynRetries = 6;
    private const int MaxRetransmissions = 15;
    private static readonly TimeSpan DelayedAck = TimeSpan.FromMilliseconds(40);
    private static readonly TimeSpan TimeWaitLength = TimeSpan.FromSeconds(60);

    private readonly NetworkStack _stack;
    private readonly Lock _lock = new();
    private readonly SendBuffer _send;
    private readonly ReceiveBuffer _receive;
    private readonly RetransmissionTimer _rto;
    private ICongestionControl _congestion;
    private readonly ITimer _timer;
    private long _timerArmedFor = long.MaxValue;
    private readonly TcpListener? _listener;

    private TcpState _state;
    private readonly SequenceNumber _iss;
    private SequenceNumber _sndUna;
    private SequenceNumber _sndNxt;
    private SequenceNumber _sndWl1;
    private SequenceNumber _sndWl2;
    private SequenceNumber _recover;
    private SequenceNumber _sndMax;
    private SequenceNumber _highRxt;
    private SackScoreboard? _scoreboard;
    private bool _rttTiming;
    private SequenceNumber _rttSequence;
    private long _rttStart;
    private long _lastReceived;
    private int _keepAliveProbes;
    private long _persistDeadline = long.MaxValue;
    private int _persistProbes;
    private int _persistBackoff;
    private long _sndWnd;
    private byte _sendShift;
    private byte _receiveShift;
    private int _mss;
    private int _maxSegmentationPayload; // what one super-packet may carry when the link segments (0: it does not)
    private bool _finQueued;
    private bool _finSent;
    private bool _finReceived;
    private bool _sackPermitted;
    private bool _timestamps;
    private uint _tsRecent;
    private int _retransmissions;
    private int _segmentsSinceAck;
    private long _ackDeadline = long.MaxValue;
    private long _timeWaitDeadline = long.MaxValue;
    private SequenceNumber _advertisedEdge; // RCV.NXT + RCV.WND as last sent: what the peer may send up to
    private bool _ackDeferred; // an ACK waits for the end of the stack's receive batch
    private bool _noDelay;
    private TcpKeepAlive? _keepAlive;
    private Exception? _error;
    private readonly ConnectionSignal _readSignal;
    private readonly ConnectionSignal _writeSignal;
    private Memory<byte> _pendingRead; // where a waiting ReadAsync wants its data (empty for a zero-byte read)
    private ReadOnlyMemory<byte> _pendingWrite; // what a waiting WriteAsync has still to append, fed as ACKs free room
    private TaskCompletionSource? _established;

    private TcpConnection(NetworkStack stack, ConnectionKey key, int sendBufferSize, int receiveBufferSize, SequenceNumber iss, SequenceNumber irsNext, TcpListener? listener)
    {
        _stack = stack;
        _readSignal = new ConnectionSignal("read", (signal, token) =>
        {
            lock (_lock)
            {
                _pendingRead = default; // the caller may reuse its buffer once the cancellation reaches it
                signal.Cancel(token);
            }
        });
        _writeSignal = new ConnectionSignal("write", (signal, token) =>
        {
            lock (_lock)
            {
                _pendingWrite = default; // the caller may reuse its buffer once the cancellation reaches it
                signal.Cancel(token);
            }
        });
        Key = key;
        _send = new SendBuffer(sendBufferSize);
        _receive = new ReceiveBuffer(receiveBufferSize, irsNext);
        _rto = new RetransmissionTimer(RetransmissionTimerOptions.Default, stack.Time.TimestampFrequency);
        _iss = iss;
        _sndUna = iss;
        _sndNxt = iss;
        _sndMax = iss;
        _listener = listener;
        _noDelay = stack.Options.TcpNoDelay;
        _keepAlive = stack.Options.TcpKeepAlive;
        _mss = DefaultMss(stack, key);
        _congestion = NewCongestionControl();
        _timer = stack.Time.CreateTimer(static state => ((TcpConnection)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public ConnectionKey Key { get; }

    /// <summary>TCP_NODELAY for this connection: Nagle's algorithm off.</summary>
    public bool NoDelay
    {
        get
        {
            lock (_lock)
            {
                return _noDelay;
            }
        }
        set
        {
            lock (_lock)
            {
                _noDelay = value;
                TrySend();
            }
        }
    }

    /// <summary>Keepalive probing of an idle connection (SO_KEEPALIVE with its three settings); null is off.</summary>
    public TcpKeepAlive? KeepAlive
    {
        get
        {
            lock (_lock)
            {
                return _keepAlive;
            }
        }
        set
        {
            lock (_lock)
            {
                _keepAlive = value;
                _keepAliveProbes = 0;
                ArmTimer();
            }
        }
    }

    /// <summary>Bytes written and not yet acknowledged (for tests and the fuzz target's checks).</summary>
    internal int SendBuffered
    {
        get
        {
            lock (_lock)
            {
                return _send.Count;
            }
        }
    }

    /// <summary>Segments sent again (timeouts, fast retransmits, SACK recovery), for diagnostics and tests.</summary>
    public long RetransmittedSegments { get; private set; }

    internal TcpState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    /// <summary>The MSS we offer and assume until the peer says otherwise: the link MTU less the IP and TCP headers.</summary>
    private static int DefaultMss(NetworkStack stack, ConnectionKey key) =>
        stack.Mtu - (key.LocalAddress.IsIPv4 ? 20 : 40) - TcpHeader.MinLength;

    private ICongestionControl NewCongestionControl() => _stack.Options.TcpCongestionControl == TcpCongestionControl.NewReno
        ? new NewRenoCongestionControl(_mss, _stack.Time.TimestampFrequency)
        : new CubicCongestionControl(_mss, _stack.Time.TimestampFrequency);

    private int ReceiveWindow => Math.Min(_receive.Window, ushort.MaxValue << _receiveShift);

    private SequenceNumber ReceiveNext => _receive.ReceiveNext + (_finReceived ? 1 : 0);

    private static SequenceNumber NewIss() => new((uint)Random.Shared.NextInt64(0, uint.MaxValue + 1L));

    // ------------------------------------------------------------------ opening

    /// <summary>Active open (RFC 9293 §3.10.1): sends a SYN and waits for the handshake to complete.</summary>
    public static async Task<TcpConnection> ConnectAsync(NetworkStack stack, ConnectionKey key, CancellationToken cancellationToken)
    {
        var connection = new TcpConnection(stack, key, stack.Options.TcpSendBufferSize, stack.Options.TcpReceiveBufferSize, NewIss(), default, listener: null);
        var established = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (connection._lock)
        {
            connection._state = TcpState.SynSent;
            connection._established = established;
            if (!stack.AddConnection(connection))
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
            connection.SendSyn();
        }
        try
        {
            await established.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            connection.Abort(new OperationCanceledException(cancellationToken), sendReset: true);
            throw;
        }
    }

    /// <summary>Passive open: a listener took a SYN; the connection answers with SYN-ACK and waits for the ACK.</summary>
    public static TcpConnection FromSyn(NetworkStack stack, TcpListener listener, ConnectionKey key, in TcpSegmentView syn)
    {
        var connection = new TcpConnection(stack, key, stack.Options.TcpSendBufferSize, stack.Options.TcpReceiveBufferSize, NewIss(), syn.Sequence + 1, listener);
        lock (connection._lock)
        {
            connection._state = TcpState.SynReceived;
            connection.TakeSynOptions(syn);
            connection._sndWnd = syn.Window; // never scaled in a SYN (RFC 7323 §2.2)
            connection._sndWl1 = syn.Sequence;
            connection.SendSyn();
        }
        return connection;
    }

    private void TakeSynOptions(in TcpSegmentView syn)
    {
        ref readonly var options = ref syn.Options;
        if (options.HasMss)
        {
            _mss = Math.Min(_mss, Math.Max(64, (int)options.Mss));
        }
        else
        {
            _mss = Math.Min(_mss, Key.LocalAddress.IsIPv4 ? 536 : 1220); // RFC 9293 §3.7.1 defaults
        }
        if (options.HasWindowScale)
        {
            _sendShift = options.WindowScale;
            _receiveShift = OurWindowScale;
        }
        _sackPermitted = options.SackPermitted;
        if (options.HasTimestamps)
        {
            _timestamps = true;
            _tsRecent = options.TimestampValue;
            _mss -= 12; // every segment carries the timestamps option (RFC 7323 §3.2)
        }
        var tcpHeaderLength = TcpHeader.MinLength + (_timestamps ? 12 : 0);
        if (_stack.Options.TcpSegmentAlignment is > 1 and var alignment)
        {
            var headers = (Key.LocalAddress.IsIPv4 ? 20 : 40) + tcpHeaderLength;
            var aligned = (_mss + headers) / alignment * alignment - headers;
            _mss = aligned >= _mss / 2 ? aligned : _mss; // never at the cost of half the payload (a tiny MSS)
        }
        _scoreboard = _sackPermitted ? new SackScoreboard(_mss) : null;
        _congestion = NewCongestionControl(); // its windows count in segments of the MSS just agreed
        _maxSegmentationPayload = _stack.MaxSegmentationPayload(!Key.LocalAddress.IsIPv4, tcpHeaderLength);
    }

    /// <summary>SYN (active) or SYN-ACK (passive), with the options Linux sends.</summary>
    private void SendSyn()
    {
        var options = default(TcpOptions);
        options.HasMss = true;
        options.Mss = (ushort)DefaultMss(_stack, Key);
        var isAck = _state == TcpState.SynReceived;
        if (!isAck || _sendShift != 0 || _receiveShift != 0)
        {
            options.HasWindowScale = true;
            options.WindowScale = OurWindowScale;
        }
        options.SackPermitted = !isAck || _sackPermitted;
        if (!isAck || _timestamps)
        {
            options.HasTimestamps = true;
            options.TimestampValue = Now32();
            options.TimestampEcho = isAck ? _tsRecent : 0;
        }
        var window = (ushort)Math.Min(_receive.Window, ushort.MaxValue);
        if (isAck)
        {
            _advertisedEdge = ReceiveNext + window;
        }
        _stack.SendTcp(Key, _iss, isAck ? ReceiveNext : default, isAck ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn, window, options, [], []);
        _sndNxt = _iss + 1;
        _sndMax = _sndNxt;
        _rto.Start(_stack.Time.GetTimestamp());
        ArmTimer();
    }

    // ------------------------------------------------------------------ application side

    /// <summary>
    /// Reads what has arrived, or waits: the data is then copied into <paramref name="destination"/> under the lock as
    /// it arrives (<see cref="FeedPendingRead"/>). A zero-byte read waits for data as on a socket, so that a relay can
    /// wait without holding a buffer (YARP's StreamCopier; SocketsHttpHandler's read-ahead on idle connections).
    /// </summary>
    public ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_readSignal.IsWaiting)
            {
                throw new InvalidOperationException("Another read is already pending on this connection.");
            }
            if (TryRead(destination, out var read))
            {
                return new ValueTask<int>(read);
            }
            if (_error is not null)
            {
                return ValueTask.FromException<int>(Wrap(_error));
            }
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<int>(cancellationToken);
            }
            _pendingRead = destination;
            return _readSignal.WaitForCountAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Lends what has arrived without copying it (see <see cref="TcpStream.PeekReceived"/>); 0 when nothing is
    /// readable now.
    /// </summary>
    public int PeekReceived(out ReadOnlyMemory<byte> first, out ReadOnlyMemory<byte> second)
    {
        lock (_lock)
        {
            if (_readSignal.IsWaiting)
            {
                throw new InvalidOperationException("A read is pending on this connection.");
            }
            return _receive.Peek(out first, out second);
        }
    }

    /// <summary>Frees the oldest <paramref name="count"/> bytes lent by <see cref="PeekReceived"/>.</summary>
    public void ConsumeReceived(int count)
    {
        lock (_lock)
        {
            _receive.Skip(count);
            MaybeSendWindowUpdate();
        }
    }

    /// <summary>Caller holds the lock. Data, or the end of the stream (0), if either is there.</summary>
    private bool TryRead(Memory<byte> destination, out int read)
    {
        read = 0;
        if (_receive.Readable > 0)
        {
            if (!destination.IsEmpty)
            {
                read = _receive.Read(destination.Span);
                MaybeSendWindowUpdate();
            }
            return true;
        }
        return _finReceived;
    }

    /// <summary>Caller holds the lock. Completes a waiting read once data, the end of the stream or an error is there.</summary>
    private void FeedPendingRead()
    {
        if (!_readSignal.IsWaiting)
        {
            return;
        }
        if (TryRead(_pendingRead, out var read))
        {
            _pendingRead = default;
            _readSignal.Set(read);
        }
        else if (_error is not null)
        {
            _pendingRead = default;
            _readSignal.Fail(Wrap(_error));
        }
    }

    /// <summary>
    /// Appends what fits now; the rest is appended under the lock as ACKs free room (<see cref="FeedPendingWrite"/>),
    /// and the returned task completes once all of it is in the send buffer. No async method: a write that waits for
    /// room allocates nothing and costs no thread hop per ACK.
    /// </summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_pendingWrite.IsEmpty)
            {
                throw new InvalidOperationException("Another write is already pending on this connection.");
            }
            if (WriteError() is { } error)
            {
                return ValueTask.FromException(error);
            }
            source = Append(source);
            if (source.IsEmpty)
            {
                return default;
            }
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled(cancellationToken);
            }
            // Back-pressure: the writer waits until the peer acknowledges and frees room.
            _pendingWrite = source;
            return _writeSignal.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Caller holds the lock. Appends what fits and sends; returns the rest.</summary>
    private ReadOnlyMemory<byte> Append(ReadOnlyMemory<byte> source)
    {
        var count = Math.Min(_send.Room, source.Length);
        if (count > 0)
        {
            _send.Append(source.Span[..count]);
            TrySend();
        }
        return source[count..];
    }

    /// <summary>Caller holds the lock. Why the connection takes no more data, or null.</summary>
    private Exception? WriteError() =>
        _error is not null ? Wrap(_error)
        : _finQueued || _state is not (TcpState.Established or TcpState.CloseWait)
            ? new IOException("The connection is closed for sending.", new SocketException((int)SocketError.Shutdown))
            : null;

    /// <summary>Caller holds the lock. Moves a waiting write on after an ACK or an error.</summary>
    private void FeedPendingWrite()
    {
        if (_pendingWrite.IsEmpty)
        {
            return;
        }
        if (WriteError() is { } error)
        {
            _pendingWrite = default;
            _writeSignal.Fail(error);
            return;
        }
        _pendingWrite = Append(_pendingWrite);
        if (_pendingWrite.IsEmpty)
        {
            _writeSignal.Set();
        }
    }

    /// <summary>Half-close (RFC 9293 §3.6): a FIN after the data already written; reading goes on.</summary>
    public void ShutdownSend()
    {
        lock (_lock)
        {
            if (_finQueued || _error is not null)
            {
                return;
            }
            _finQueued = true;
            TrySend();
        }
    }

    /// <summary>
    /// Closes: a FIN after pending data — or a reset when unread data would be lost (RFC 2525 §2.17), as a kernel does.
    /// </summary>
    public void Close()
    {
        bool reset;
        lock (_lock)
        {
            reset = _receive.Readable > 0 && _state is TcpState.Established or TcpState.CloseWait;
        }
        if (reset)
        {
            Abort(new SocketException((int)SocketError.ConnectionAborted), sendReset: true);
            return;
        }
        ShutdownSend();
    }

    private static Exception Wrap(Exception error) => error as IOException ?? new IOException(error.Message, error);



    /// <summary>Ends the connection at once: waiters fail with <paramref name="error"/>; a reset tells the peer.</summary>
    public void Abort(Exception error, bool sendReset)
    {
        lock (_lock)
        {
            if (_state == TcpState.Closed)
            {
                return;
            }
            if (sendReset && _state is not (TcpState.SynSent or TcpState.TimeWait))
            {
                _stack.SendTcp(Key, _sndNxt, default, TcpFlags.Rst, 0, default, [], []);
            }
            Terminate(error);
        }
    }

    /// <summary>Caller holds the lock.</summary>
    private void Terminate(Exception? error)
    {
        _state = TcpState.Closed;
        _error ??= error ?? new SocketException((int)SocketError.Shutdown);
        _rto.Stop();
        _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timerArmedFor = long.MaxValue;
        _stack.RemoveConnection(this);
        _established?.TrySetException(_error);
        _listener?.Forget(this);
        FeedPendingRead(); // fails a waiting read with the error, unless data or the end came first
        FeedPendingWrite();
    }

    private uint Now32() => (uint)(_stack.Time.GetTimestamp() * 1000 / _stack.Time.TimestampFrequency);
}
