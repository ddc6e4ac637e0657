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

    /// <summary>One timer: re-armable, with a pending flag, firing on the device's TimeProvider.</summary>
    private sealed class PeerTimer : IDisposable
    {
        private readonly ITimer _timer;
        private int _pending;

        public PeerTimer(Peer peer, Action<Peer> expired)
        {
            _timer = peer._device.Time.CreateTimer(_ =>
            {
                if (Interlocked.Exchange(ref _pending, 0) == 1)
                {
                    expired(peer);
                }
            }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        public bool IsPending => Volatile.Read(ref _pending) == 1;

        /// <summary>Arms (or re-arms) the timer to fire once after <paramref name="due"/>.</summary>
        public void Start(TimeSpan due)
        {
            Volatile.Write(ref _pending, 1);
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }

        /// <summary>
        /// Disarms the timer. Called for nearly every packet, so it touches the timer queue only when armed; a
        /// firing that races with it finds the flag cleared and does nothing.
        /// </summary>
        public void Stop()
        {
            if (Interlocked.Exchange(ref _pending, 0) == 1)
            {
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        public void Dispose()
        {
            Volatile.Write(ref _pending, 0);
            _timer.Dispose();
        }
    }
}
