using System.Net.Sockets;

namespace Pangolin.Netstack.Tcp;

/// <summary>
/// The connection's one timer, set for the earliest of its deadlines: retransmission (RFC 6298), delayed ACK,
/// zero-window probing (persist, RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6) and TIME-WAIT.
/// </summary>
internal sealed partial class TcpConnection
{
    private static readonly TimeSpan MinPersistInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxPersistInterval = TimeSpan.FromSeconds(60);

    private void EnterTimeWait(long now)
    {
        _rto.Stop();
        _persistDeadline = long.MaxValue;
        _timeWaitDeadline = now + Ticks(TimeWaitLength);
        ArmTimer();
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _stack.Time.TimestampFrequency);

    /// <summary>
    /// Persist: data waits behind a zero window with nothing in flight, so no ACK will come to reopen it unless we
    /// ask. Probes go at the RTO, doubling up to a minute, for as long as the peer answers.
    /// </summary>
    private void UpdatePersistTimer(long now)
    {
        var waiting = _send.Count > _sndNxt - _sndUna && _sndWnd == 0 && _sndMax == _sndUna;
        if (!waiting)
        {
            _persistDeadline = long.MaxValue;
            _persistBackoff = 0;
            return;
        }
        if (_persistDeadline == long.MaxValue)
        {
            _persistDeadline = now + Ticks(PersistInterval());
        }
    }

    private TimeSpan PersistInterval()
    {
        var interval = _rto.Rto * (1L << Math.Min(_persistBackoff, 16));
        return interval < MinPersistInterval ? MinPersistInterval : interval > MaxPersistInterval ? MaxPersistInterval : interval;
    }

    /// <summary>When the next keepalive probe is due: idle time after the last segment, then one per interval.</summary>
    private long KeepAliveDeadline()
    {
        if (_keepAlive is not { } keepAlive || _state is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait2)
            || _sndMax != _sndUna)
        {
            return long.MaxValue; // off, not synchronized, or data in flight (the retransmission timer watches then)
        }
        return _lastReceived + Ticks(keepAlive.Idle) + (_keepAliveProbes * Ticks(keepAlive.Interval));
    }

    /// <summary>
    /// Sets the timer for the earliest deadline — lazily: it is changed only when that deadline comes before the one it
    /// is armed for. A later or cancelled deadline leaves it armed, and OnTimer, finding nothing due, re-arms it for
    /// whatever is then the earliest (as Linux's sk_reset_timer leaves a pending timer alone). The deadlines move on
    /// nearly every segment — the RTO restarts with each ACK, delayed ACKs come and go — and changing a .NET timer
    /// each time (a global lock and a queue update) cost more than the segment's TCP processing.
    /// </summary>
    private void ArmTimer()
    {
        var deadline = Math.Min(Math.Min(_ackDeadline, _timeWaitDeadline), Math.Min(_persistDeadline, KeepAliveDeadline()));
        if (_rto.IsRunning)
        {
            deadline = Math.Min(deadline, _rto.Deadline);
        }
        if (deadline >= _timerArmedFor || _state == TcpState.Closed)
        {
            return;
        }
        _timerArmedFor = deadline;
        var due = _stack.Time.GetElapsedTime(_stack.Time.GetTimestamp(), deadline);
        _timer.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            _timerArmedFor = long.MaxValue; // fired: the next ArmTimer sets it again
            if (_state == TcpState.Closed)
            {
                return;
            }
            var now = _stack.Time.GetTimestamp();
            if (now >= _timeWaitDeadline)
            {
                Terminate(null);
                return;
            }
            if (now >= _ackDeadline)
            {
                SendAck();
            }
            if (_rto.IsExpired(now))
            {
                OnRetransmissionTimeout(now);
                if (_state == TcpState.Closed)
                {
                    return;
                }
            }
            if (now >= _persistDeadline)
            {
                OnPersistTimeout(now);
                if (_state == TcpState.Closed)
                {
                    return;
                }
            }
            if (now >= KeepAliveDeadline())
            {
                OnKeepAliveTimeout();
                if (_state == TcpState.Closed)
                {
                    return;
                }
            }
            ArmTimer();
        }
    }

    /// <summary>
    /// RFC 6298 §5: back off, collapse the window to one segment and resend from SND.UNA — everything sent is
    /// presumed lost (go-back-N, skipping what the peer SACKs afresh; old SACK information is dropped, RFC 2018 §8).
    /// </summary>
    private void OnRetransmissionTimeout(long now)
    {
        if (++_retransmissions > (_state is TcpState.SynSent or TcpState.SynReceived ? MaxSynRetries : MaxRetransmissions))
        {
            Terminate(new SocketException((int)SocketError.TimedOut));
            return;
        }
        _rto.BackOff();
        if (_state is TcpState.SynSent or TcpState.SynReceived)
        {
            SendSyn();
            return;
        }
        _congestion.OnRetransmissionTimeout(_sndMax - _sndUna, now);
        _scoreboard?.Clear();
        _highRxt = _sndUna;
        _rttTiming = false;
        _sndNxt = _sndUna;
        RetransmittedSegments++;
        _rto.Stop();
        TrySend();
        _rto.Start(now);
        if (_sndNxt == _sndUna)
        {
            _rto.Stop(); // nothing could be resent (a zero window): the persist timer probes instead
        }
    }

    /// <summary>A zero-window probe; the connection ends only when the peer stops answering them.</summary>
    private void OnPersistTimeout(long now)
    {
        if (++_persistProbes > MaxRetransmissions)
        {
            Terminate(new SocketException((int)SocketError.TimedOut));
            return;
        }
        SendProbe();
        _persistBackoff++;
        _persistDeadline = now + Ticks(PersistInterval());
    }

    /// <summary>RFC 1122 §4.2.3.6: probe an idle connection; after the configured number unanswered, it is dead.</summary>
    private void OnKeepAliveTimeout()
    {
        if (_keepAliveProbes >= _keepAlive!.Probes)
        {
            Terminate(new SocketException((int)SocketError.TimedOut));
            return;
        }
        SendProbe();
        _keepAliveProbes++;
    }
}
