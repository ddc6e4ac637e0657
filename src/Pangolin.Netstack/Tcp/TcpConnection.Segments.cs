using System.Net.Sockets;

namespace Pangolin.Netstack.Tcp;

/// <summary>Segment arrival (RFC 9293 §3.10.7), sending, retransmission and the timer.</summary>
internal sealed partial class TcpConnection
{
    public void OnSegment(in TcpSegmentView segment)
    {
        lock (_lock)
        {
            switch (_state)
            {
                case TcpState.Closed:
                    return;
                case TcpState.SynSent:
                    OnSegmentInSynSent(segment);
                    return;
                default:
                    OnSegmentSynchronized(segment);
                    return;
            }
        }
    }

    /// <summary>RFC 9293 §3.10.7.3.</summary>
    private void OnSegmentInSynSent(in TcpSegmentView segment)
    {
        var flags = segment.Flags;
        var hasAck = (flags & TcpFlags.Ack) != 0;
        if (hasAck && segment.Acknowledgment != _iss + 1)
        {
            if ((flags & TcpFlags.Rst) == 0)
            {
                _stack.SendTcp(Key, segment.Acknowledgment, default, TcpFlags.Rst, 0, default, [], []);
            }
            return;
        }
        if ((flags & TcpFlags.Rst) != 0)
        {
            if (hasAck)
            {
                Terminate(new SocketException((int)SocketError.ConnectionRefused));
            }
            return;
        }
        if ((flags & TcpFlags.Syn) == 0 || !hasAck)
        {
            return; // a simultaneous open is not supported: the peer's own SYN retransmission or our reset ends it
        }
        TakeSynOptions(segment);
        _receive.Reset(segment.Sequence + 1);
        _sndUna = segment.Acknowledgment;
        _sndWnd = segment.Window; // a SYN-ACK's window is never scaled
        _sndWl1 = segment.Sequence;
        _sndWl2 = segment.Acknowledgment;
        _state = TcpState.Established;
        _rto.Stop();
        _retransmissions = 0;
        SendAck();
        _established?.TrySetResult();
        ArmTimer();
    }

    private void OnSegmentSynchronized(in TcpSegmentView segment)
    {
        var flags = segment.Flags;
        var now = _stack.Time.GetTimestamp();
        // 1. Acceptability (RFC 9293 §3.10.7.4, first check).
        if (!IsAcceptable(segment))
        {
            if ((flags & TcpFlags.Rst) == 0)
            {
                SendAck();
            }
            return;
        }
        // 2. Reset: exact match ends the connection; otherwise a challenge ACK (RFC 5961 §3.2).
        if ((flags & TcpFlags.Rst) != 0)
        {
            if (segment.Sequence == ReceiveNext)
            {
                Terminate(_state == TcpState.SynReceived ? new SocketException((int)SocketError.ConnectionRefused) : new SocketException((int)SocketError.ConnectionReset));
            }
            else
            {
                SendAck();
            }
            return;
        }
        // 4. A SYN in a synchronized state: challenge ACK (RFC 5961 §4.2).
        if ((flags & TcpFlags.Syn) != 0)
        {
            if (_state == TcpState.SynReceived && segment.Sequence + 1 == ReceiveNext)
            {
                SendSyn(); // the peer did not get our SYN-ACK
            }
            else
            {
                SendAck();
            }
            return;
        }
        if ((flags & TcpFlags.Ack) == 0)
        {
            return;
        }
        if (_timestamps && segment.Options.HasTimestamps && segment.Sequence <= ReceiveNext)
        {
            _tsRecent = segment.Options.TimestampValue;
        }
        // 5. ACK.
        if (_state == TcpState.SynReceived)
        {
            if (segment.Acknowledgment != _iss + 1)
            {
                _stack.SendTcp(Key, segment.Acknowledgment, default, TcpFlags.Rst, 0, default, [], []);
                return;
            }
            _sndUna = segment.Acknowledgment;
            _sndWl1 = segment.Sequence;
            _sndWl2 = segment.Acknowledgment;
            _sndWnd = (long)segment.Window << _sendShift;
            _state = TcpState.Established;
            _rto.Stop();
            _retransmissions = 0;
            _listener?.Established(this);
        }
        else if (!ProcessAck(segment, now))
        {
            return;
        }
        // 7. Data.
        var payload = segment.Payload;
        if (!payload.IsEmpty && _state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
        {
            var before = _receive.ReceiveNext;
            var inOrder = segment.Sequence == before;
            var readable = _receive.Accept(segment.Sequence, payload);
            if (readable > 0)
            {
                WakeReaders();
            }
            if (!inOrder || _receive.OutOfOrderRangeCount > 0)
            {
                SendAck(); // out of order, or filling a hole: ACK at once, with SACK blocks (RFC 5681 §4.2)
            }
            else if (++_segmentsSinceAck >= 2)
            {
                SendAck();
            }
            else if (_ackDeadline == long.MaxValue)
            {
                _ackDeadline = now + (long)(DelayedAck.TotalSeconds * _stack.Time.TimestampFrequency);
                ArmTimer();
            }
        }
        // 8. FIN, once everything before it has arrived.
        if ((flags & TcpFlags.Fin) != 0 && !_finReceived && segment.Sequence + payload.Length == _receive.ReceiveNext)
        {
            _finReceived = true;
            switch (_state)
            {
                case TcpState.Established:
                    _state = TcpState.CloseWait;
                    break;
                case TcpState.FinWait1:
                    _state = _finSent && _sndUna == _sndNxt ? TcpState.TimeWait : TcpState.Closing;
                    break;
                case TcpState.FinWait2:
                    _state = TcpState.TimeWait;
                    break;
                default:
                    break;
            }
            if (_state == TcpState.TimeWait)
            {
                EnterTimeWait(now);
            }
            SendAck();
            WakeReaders();
        }
        else if ((flags & TcpFlags.Fin) != 0 && _state == TcpState.TimeWait)
        {
            EnterTimeWait(now); // a retransmitted FIN: ACK again and restart 2MSL
            SendAck();
        }
        TrySend();
    }

    /// <summary>The four cases of RFC 9293 §3.10.7.4's acceptability table.</summary>
    private bool IsAcceptable(in TcpSegmentView segment)
    {
        var window = (uint)ReceiveWindow;
        var length = segment.SegmentLength;
        var next = ReceiveNext;
        if (length == 0)
        {
            return window == 0 ? segment.Sequence == next : segment.Sequence.InWindow(next, window);
        }
        if (window == 0)
        {
            return false;
        }
        return segment.Sequence.InWindow(next, window) || (segment.Sequence + (length - 1)).InWindow(next, window);
    }

    /// <summary>Step five: returns false when the segment must go no further.</summary>
    private bool ProcessAck(in TcpSegmentView segment, long now)
    {
        var ack = segment.Acknowledgment;
        if (ack > _sndNxt)
        {
            SendAck(); // acknowledges something not yet sent
            return false;
        }
        if (ack > _sndUna)
        {
            var acked = ack - _sndUna;
            var finAcked = _finSent && ack == _sndNxt;
            var dataAcked = Math.Min(acked - (finAcked ? 1 : 0), _sendBuffered);
            _sendHead = (_sendHead + dataAcked) % _sendRing.Length;
            _sendBuffered -= dataAcked;
            _sndUna = ack;
            _retransmissions = 0;
            if (_timestamps && segment.Options.HasTimestamps && segment.Options.TimestampEcho != 0)
            {
                var rtt = TimeSpan.FromMilliseconds(unchecked(Now32() - segment.Options.TimestampEcho));
                _rto.AddSample(rtt);
            }
            _rto.ResetBackoff();
            if (_congestion.InRecovery)
            {
                if (ack >= _recover)
                {
                    _congestion.OnExitRecovery(_sndNxt - _sndUna);
                }
                else
                {
                    _congestion.OnAck(dataAcked, now, _rto.SmoothedRtt);
                    RetransmitFirst(); // a partial ACK: the next hole goes at once (RFC 6582 §3.2)
                }
            }
            else
            {
                _congestion.OnAck(dataAcked, now, _rto.SmoothedRtt);
            }
            if (_sndUna == _sndNxt)
            {
                _rto.Stop();
            }
            else
            {
                _rto.Start(now);
            }
            if (dataAcked > 0)
            {
                WakeWriters();
            }
            if (finAcked)
            {
                switch (_state)
                {
                    case TcpState.FinWait1:
                        _state = _finReceived ? TcpState.TimeWait : TcpState.FinWait2;
                        break;
                    case TcpState.Closing:
                        _state = TcpState.TimeWait;
                        break;
                    case TcpState.LastAck:
                        Terminate(null);
                        return false;
                    default:
                        break;
                }
                if (_state == TcpState.TimeWait)
                {
                    EnterTimeWait(now);
                }
            }
        }
        else if (ack == _sndUna && segment.Payload.IsEmpty && _sndNxt != _sndUna
            && ((long)segment.Window << _sendShift) == _sndWnd && (segment.Flags & TcpFlags.Fin) == 0)
        {
            // A duplicate ACK (RFC 5681 §2): the third starts fast retransmit and recovery.
            if (_congestion.OnDuplicateAck() && !_congestion.InRecovery)
            {
                _recover = _sndNxt;
                _congestion.OnEnterRecovery(_sndNxt - _sndUna, now);
                RetransmitFirst();
            }
        }
        // The send window, from the newest segment only (SND.WL1/WL2, RFC 9293 §3.10.7.4).
        if (_sndWl1 < segment.Sequence || (_sndWl1 == segment.Sequence && _sndWl2 <= ack))
        {
            var before = _sndWnd;
            _sndWnd = (long)segment.Window << _sendShift;
            _sndWl1 = segment.Sequence;
            _sndWl2 = ack;
            if (_sndWnd > before)
            {
                WakeWriters();
            }
        }
        return true;
    }

    // ------------------------------------------------------------------ sending

    /// <summary>Sends what the windows allow: new data cut at the MSS (Nagle for small tails), then the FIN.</summary>
    private void TrySend()
    {
        if (_state is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck))
        {
            return;
        }
        var now = _stack.Time.GetTimestamp();
        while (true)
        {
            var inFlight = _sndNxt - _sndUna - (_finSent ? 1 : 0);
            var unsent = _sendBuffered - inFlight;
            var window = Math.Min(_sndWnd, _congestion.CongestionWindow);
            var room = window - inFlight;
            if (unsent > 0 && room > 0)
            {
                var length = (int)Math.Min(Math.Min(unsent, _mss), room);
                if (length < _mss && length < unsent)
                {
                    break; // the window allows only part of a segment: wait for more room
                }
                if (length < _mss && inFlight > 0 && !_stack.Options.TcpNoDelay)
                {
                    break; // Nagle (RFC 896): one small segment in flight at a time
                }
                SendData(inFlight, length, unsent == length);
                _sndNxt += length;
                _rto.StartIfStopped(now);
                continue;
            }
            if (unsent == 0 && _finQueued && !_finSent)
            {
                _stack.SendTcp(Key, _sndNxt, ReceiveNext, TcpFlags.Fin | TcpFlags.Ack, AdvertisedWindow(), TimestampOptions(), [], []);
                _finSent = true;
                _sndNxt += 1;
                _state = _state == TcpState.CloseWait ? TcpState.LastAck : TcpState.FinWait1;
                _rto.StartIfStopped(now);
            }
            else if (unsent > 0 && _sndWnd == 0 && inFlight == 0)
            {
                _rto.StartIfStopped(now); // zero window: the timer probes it (RFC 9293 §3.8.6.1)
            }
            break;
        }
        ArmTimer();
    }

    /// <summary>Sends <paramref name="length"/> bytes starting <paramref name="offset"/> bytes after SND.UNA.</summary>
    private void SendData(long offset, int length, bool push)
    {
        var start = (int)((_sendHead + offset) % _sendRing.Length);
        var first = Math.Min(length, _sendRing.Length - start);
        var flags = TcpFlags.Ack | (push ? TcpFlags.Psh : 0);
        _stack.SendTcp(Key, _sndUna + (int)offset, ReceiveNext, flags, AdvertisedWindow(), TimestampOptions(),
            _sendRing.AsSpan(start, first), _sendRing.AsSpan(0, length - first));
        AckSent();
    }

    /// <summary>Resends the first unacknowledged segment (fast retransmit, partial ACK, timeout).</summary>
    private void RetransmitFirst()
    {
        var outstanding = _sendBuffered;
        if (outstanding > 0)
        {
            var inFlight = Math.Min(_sndNxt - _sndUna - (_finSent ? 1 : 0), outstanding);
            var length = Math.Max(1, Math.Min(_mss, inFlight > 0 ? inFlight : Math.Min(outstanding, 1)));
            SendData(0, (int)length, false);
            if (_sndNxt == _sndUna)
            {
                _sndNxt += length; // a zero-window probe carries one new byte
            }
        }
        else if (_finSent)
        {
            _stack.SendTcp(Key, _sndNxt - 1, ReceiveNext, TcpFlags.Fin | TcpFlags.Ack, AdvertisedWindow(), TimestampOptions(), [], []);
        }
    }

    private void SendAck()
    {
        var options = TimestampOptions();
        if (_sackPermitted)
        {
            Span<SackBlock> blocks = stackalloc SackBlock[_timestamps ? 3 : 4];
            var count = _receive.GetSackBlocks(blocks);
            for (var i = 0; i < count; i++)
            {
                options.AddSackBlock(blocks[i]);
            }
        }
        _stack.SendTcp(Key, _sndNxt, ReceiveNext, TcpFlags.Ack, AdvertisedWindow(), options, [], []);
        AckSent();
    }

    private void AckSent()
    {
        _segmentsSinceAck = 0;
        _ackDeadline = long.MaxValue;
    }

    private ushort AdvertisedWindow()
    {
        var window = ReceiveWindow;
        _lastAdvertisedWindow = window;
        return (ushort)(window >> _receiveShift);
    }

    /// <summary>After a read: tell the peer when the window has opened by a segment or half the buffer (RFC 9293 §3.8.6.2.2).</summary>
    private void MaybeSendWindowUpdate()
    {
        if (_state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2
            && ReceiveWindow - _lastAdvertisedWindow >= Math.Min(_mss * 2, _receive.Capacity / 2))
        {
            SendAck();
        }
    }

    private TcpOptions TimestampOptions()
    {
        var options = default(TcpOptions);
        if (_timestamps)
        {
            options.HasTimestamps = true;
            options.TimestampValue = Now32();
            options.TimestampEcho = _tsRecent;
        }
        return options;
    }

    // ------------------------------------------------------------------ timers

    private void EnterTimeWait(long now)
    {
        _rto.Stop();
        _timeWaitDeadline = now + (long)(TimeWaitLength.TotalSeconds * _stack.Time.TimestampFrequency);
        ArmTimer();
    }

    /// <summary>One timer per connection, set for the earliest of the retransmission, delayed-ACK and TIME-WAIT deadlines.</summary>
    private void ArmTimer()
    {
        var deadline = Math.Min(_ackDeadline, _timeWaitDeadline);
        if (_rto.IsRunning)
        {
            deadline = Math.Min(deadline, _rto.Deadline);
        }
        if (deadline == long.MaxValue || _state == TcpState.Closed)
        {
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }
        var due = _stack.Time.GetElapsedTime(_stack.Time.GetTimestamp(), deadline);
        _timer.Change(due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        lock (_lock)
        {
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
            ArmTimer();
        }
    }

    /// <summary>RFC 6298 §5: back off, collapse the window to one segment and resend from SND.UNA.</summary>
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
        if (_sndWnd > 0)
        {
            _congestion.OnRetransmissionTimeout(_sndNxt - _sndUna, now);
        }
        RetransmitFirst();
        _rto.Start(now);
    }
}
