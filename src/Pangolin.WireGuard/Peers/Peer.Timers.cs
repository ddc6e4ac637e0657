using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Peers;

/// <summary>
/// The timer state machine of whitepaper §6 (as wireguard-go's timers.go arranges it), on the device's
/// <see cref="TimeProvider"/> so that tests drive it with fake time.
/// </summary>
internal sealed partial class Peer
{
    private readonly Lock _timerLock = new();
    private PeerTimer _retransmitHandshake = null!;
    private PeerTimer _sendKeepalive = null!;
    private PeerTimer _newHandshake = null!;
    private PeerTimer _zeroKeyMaterial = null!;
    private PeerTimer _persistentKeepalive = null!;
    private int _handshakeAttempts;
    private bool _needAnotherKeepalive;

    /// <summary>How many retransmissions the current handshake has had (tests read it).</summary>
    public int HandshakeAttempts => Volatile.Read(ref _handshakeAttempts);

    private void InitializeTimers()
    {
        _retransmitHandshake = new PeerTimer(this, static p => p.ExpiredRetransmitHandshake());
        _sendKeepalive = new PeerTimer(this, static p => p.ExpiredSendKeepalive());
        _newHandshake = new PeerTimer(this, static p => p.ExpiredNewHandshake());
        _zeroKeyMaterial = new PeerTimer(this, static p => p.ZeroKeyMaterial());
        _persistentKeepalive = new PeerTimer(this, static p => p.ExpiredPersistentKeepalive());
    }

    private void StopTimers()
    {
        _retransmitHandshake.Dispose();
        _sendKeepalive.Dispose();
        _newHandshake.Dispose();
        _zeroKeyMaterial.Dispose();
        _persistentKeepalive.Dispose();
    }

    private TimeSpan Jitter() => TimeSpan.FromMilliseconds(_device.Options.Random.Next(Protocol.RekeyTimeoutJitterMaxMs));

    private void ResetHandshakeAttempts() => Volatile.Write(ref _handshakeAttempts, 0);

    /// <summary>Retransmit an unanswered initiation after Rekey-Timeout plus jitter; give up after Rekey-Attempt-Time (§6.4).</summary>
    private void ExpiredRetransmitHandshake()
    {
        if (!IsRunning)
        {
            return;
        }
        if (Volatile.Read(ref _handshakeAttempts) > Protocol.MaxHandshakeAttempts)
        {
            _newHandshake.Stop();
            DropStaged();
            if (!_zeroKeyMaterial.IsPending)
            {
                _zeroKeyMaterial.Start(Protocol.RejectAfterTime * 3);
            }
            return;
        }
        Interlocked.Increment(ref _handshakeAttempts);
        SendHandshakeInitiation(isRetry: true);
    }

    /// <summary>We received data and sent nothing back within Keepalive-Timeout: send a keepalive (§6.5).</summary>
    private void ExpiredSendKeepalive()
    {
        if (!IsRunning)
        {
            return;
        }
        SendKeepalive();
        bool again;
        lock (_timerLock)
        {
            again = _needAnotherKeepalive;
            _needAnotherKeepalive = false;
        }
        if (again)
        {
            _sendKeepalive.Start(Protocol.KeepaliveTimeout);
        }
    }

    /// <summary>We sent data and heard nothing for Keepalive-Timeout + Rekey-Timeout: the session may be dead, handshake again (§6.5).</summary>
    private void ExpiredNewHandshake()
    {
        if (IsRunning)
        {
            SendHandshakeInitiation(isRetry: false);
        }
    }

    private void ExpiredPersistentKeepalive()
    {
        if (IsRunning && PersistentKeepaliveInterval > 0)
        {
            SendKeepalive();
        }
    }

    public void TimersDataSent()
    {
        if (!_newHandshake.IsPending)
        {
            _newHandshake.Start(Protocol.KeepaliveTimeout + Protocol.RekeyTimeout + Jitter());
        }
    }

    public void TimersDataReceived()
    {
        lock (_timerLock)
        {
            if (!_sendKeepalive.IsPending)
            {
                _sendKeepalive.Start(Protocol.KeepaliveTimeout);
            }
            else
            {
                _needAnotherKeepalive = true;
            }
        }
    }

    public void TimersAnyAuthenticatedPacketSent() => _sendKeepalive.Stop();

    public void TimersAnyAuthenticatedPacketReceived() => _newHandshake.Stop();

    public void TimersHandshakeInitiated() => _retransmitHandshake.Start(Protocol.RekeyTimeout + Jitter());

    public void TimersHandshakeComplete()
    {
        _retransmitHandshake.Stop();
        ResetHandshakeAttempts();
        Volatile.Write(ref _sentLastMinuteHandshake, false);
        MarkHandshakeComplete();
    }

    public void TimersSessionDerived() => _zeroKeyMaterial.Start(Protocol.RejectAfterTime * 3);

    public void TimersAnyAuthenticatedPacketTraversal()
    {
        var interval = PersistentKeepaliveInterval;
        if (interval > 0)
        {
            _persistentKeepalive.Start(TimeSpan.FromSeconds(interval));
        }
    }

    /// <summary>Starts persistent keepalives when they are turned on (wg set … persistent-keepalive).</summary>
    public void OnPersistentKeepaliveChanged()
    {
        if (PersistentKeepaliveInterval > 0 && IsRunning)
        {
            SendKeepalive();
        }
        else if (PersistentKeepaliveInterval == 0)
        {
            _persistentKeepalive.Stop();
        }
    }

    /// <summary>
    /// One timer: re-armable, firing on the device's TimeProvider. Start and Stop run for nearly every packet (§6 resets
    /// several timers per packet), so they only record the deadline; the .NET timer underneath is changed only when
    /// a deadline comes before the one it is armed for. Armed too early, it fires, finds the deadline later, and
    /// re-arms for the rest — as the kernel's mod_timer makes re-arming cheap, this makes it cheap here.
    /// </summary>
    private sealed class PeerTimer : IDisposable
    {
        private const long Stopped = long.MaxValue;

        /// <summary>A system timer may fire a little before a deadline read off the high-resolution clock: not worth re-arming.</summary>
        private static readonly TimeSpan EarlyTolerance = TimeSpan.FromMilliseconds(1);

        private readonly Lock _gate = new();
        private readonly TimeProvider _time;
        private readonly ITimer _timer;
        private readonly Peer _peer;
        private readonly Action<Peer> _expired;
        private long _deadline = Stopped;
        private long _armedFor = Stopped;
        private bool _disposed;

        public PeerTimer(Peer peer, Action<Peer> expired)
        {
            _peer = peer;
            _expired = expired;
            _time = peer._device.Time;
            _timer = _time.CreateTimer(static state => ((PeerTimer)state!).OnFired(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        public bool IsPending => Volatile.Read(ref _deadline) != Stopped;

        /// <summary>Arms (or re-arms) the timer to fire once after <paramref name="due"/>.</summary>
        public void Start(TimeSpan due)
        {
            var now = _time.GetTimestamp();
            var deadline = now + (long)(due.TotalSeconds * _time.TimestampFrequency);
            lock (_gate)
            {
                if (_disposed)
                {
                    return;
                }
                Volatile.Write(ref _deadline, deadline);
                if (deadline < _armedFor)
                {
                    _armedFor = deadline;
                    _timer.Change(due, Timeout.InfiniteTimeSpan);
                }
            }
        }

        /// <summary>Disarms the timer: a firing that comes later (or races with this) finds no deadline and does nothing.</summary>
        public void Stop()
        {
            if (Volatile.Read(ref _deadline) != Stopped)
            {
                lock (_gate)
                {
                    Volatile.Write(ref _deadline, Stopped);
                }
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
                Volatile.Write(ref _deadline, Stopped);
            }
            _timer.Dispose();
        }

        private void OnFired()
        {
            lock (_gate)
            {
                _armedFor = Stopped;
                var deadline = _deadline;
                if (deadline == Stopped || _disposed)
                {
                    return;
                }
                var remaining = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
                if (remaining > EarlyTolerance)
                {
                    _armedFor = deadline;
                    _timer.Change(remaining, Timeout.InfiniteTimeSpan);
                    return;
                }
                Volatile.Write(ref _deadline, Stopped);
            }
            _expired(_peer);
        }
    }
}
