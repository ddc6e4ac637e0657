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
                    break;
                default:
                    OnSegmentSynchronized(segment);
                    break;
            }
            // Once the segment is processed whole: data or a FIN completes a waiting read, an ACK that freed room
            // lets a waiting write go on. (Not held to the end of a receive batch: on two cores the reader then
            // works beside the receiving thread, and bulk transfers measured faster so.)
            FeedPendingRead();
            FeedPendingWrite();
        }
    }

    /// <summary>The end of the stack's receive batch: the ACK held back, unless a segment sent since carried it.</summary>
    internal void EndReceiveBatch()
    {
        lock (_lock)
        {
            _ackDeferred = false;
            if (_segmentsSinceAck > 0 && _state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                SendAck();
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
        _lastReceived = _stack.Time.GetTimestamp();
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
            if ((flags & TcpFlags.Rst) != 0)
            {
                return;
            }
            if (_state == TcpState.SynReceived && (flags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn && segment.Sequence + 1 == ReceiveNext)
            {
                SendSyn(); // the peer's SYN again: our SYN-ACK was lost, resend it now rather than at our timeout
                return;
            }
            if (_state == TcpState.TimeWait && (flags & TcpFlags.Fin) != 0)
            {
                EnterTimeWait(now); // a retransmitted FIN: ACK it again and restart 2 MSL (RFC 9293 §3.10.7.4)
            }
            SendAck();
            return;
        }
        _lastReceived = now;
        _keepAliveProbes = 0;
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
            SendAck(); // (the peer's retransmitted SYN lies before the window: handled with the unacceptable ones)
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
            var hadHoles = _receive.OutOfOrderRangeCount > 0;
            _ = _receive.Accept(segment.Sequence, payload);
            if (!inOrder || hadHoles || _receive.OutOfOrderRangeCount > 0)
            {
                SendAck(); // out of order, or filling a hole: ACK at once, with SACK blocks (RFC 5681 §4.2)
            }
            else if ((_segmentsSinceAck += Math.Max(1, payload.Length / _mss)) >= 2)
            {
                // Every second full-sized segment is ACKed (RFC 5681 §4.2); a coalesced one counts as the segments it
                // holds, as Linux counts a GRO packet by its bytes.
                if (!_stack.InReceiveBatch)
                {
                    SendAck();
                }
                else if (!_ackDeferred)
                {
                    _ackDeferred = true;
                    _stack.AddToReceiveBatch(this);
                }
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
        if (ack > _sndMax)
        {
            SendAck(); // acknowledges something not yet sent
            return false;
        }
        // Any acceptable ACK shows the peer alive: zero-window probing goes on without limit (RFC 9293 §3.8.6.1).
        _persistProbes = 0;
        var advanced = ack > _sndUna;
        var dataAcked = 0;
        var finAcked = false;
        if (advanced)
        {
            var acked = ack - _sndUna;
            finAcked = _finSent && acked > _send.Count;
            dataAcked = Math.Min(acked, _send.Count);
            _send.Consume(dataAcked);
            _sndUna = ack;
            if (_sndNxt < ack)
            {
                _sndNxt = ack; // after a timeout's go-back-N, the peer may acknowledge what we have not resent yet
            }
            _retransmissions = 0;
            _scoreboard?.OnCumulativeAck(ack);
            TakeRttSample(segment, ack, now);
            _rto.ResetBackoff();
        }
        var newSack = false;
        if (_scoreboard is not null)
        {
            foreach (var block in segment.Options.SackBlocks)
            {
                newSack |= _scoreboard.Add(block, _sndUna, _sndMax);
            }
        }
        if (advanced)
        {
            if (_congestion.InRecovery)
            {
                if (ack >= _recover)
                {
                    _congestion.OnExitRecovery(_sndMax - _sndUna);
                }
                else
                {
                    _congestion.OnAck(dataAcked, now, _rto.SmoothedRtt);
                    if (_scoreboard is null)
                    {
                        RetransmitFirst(); // a partial ACK: the next hole goes at once (RFC 6582 §3.2)
                    }
                    else if (_highRxt < _sndUna)
                    {
                        _highRxt = _sndUna;
                    }
                }
            }
            else
            {
                _congestion.OnAck(dataAcked, now, _rto.SmoothedRtt);
            }
            if (_sndUna == _sndMax)
            {
                _rto.Stop();
            }
            else
            {
                _rto.Start(now);
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
        else if (ack == _sndUna && segment.Payload.IsEmpty && _sndMax != _sndUna
            && (((long)segment.Window << _sendShift) == _sndWnd || newSack) && (segment.Flags & TcpFlags.Fin) == 0)
        {
            // A duplicate ACK (RFC 5681 §2; with SACK, one that reports new data, RFC 6675 §5): the third starts
            // fast retransmit and recovery.
            if (_congestion.OnDuplicateAck() && !_congestion.InRecovery)
            {
                EnterRecovery(now);
            }
        }
        // RFC 6675 §5 (b): with SACK, recovery also starts as soon as the scoreboard shows SND.UNA lost.
        if (!_congestion.InRecovery && _scoreboard is { Count: > 0 } && _sndMax != _sndUna && _scoreboard.IsLost(_sndUna))
        {
            EnterRecovery(now);
        }
        // The send window, from the newest segment only (SND.WL1/WL2, RFC 9293 §3.10.7.4).
        if (_sndWl1 < segment.Sequence || (_sndWl1 == segment.Sequence && _sndWl2 <= ack))
        {
            _sndWnd = (long)segment.Window << _sendShift;
            _sndWl1 = segment.Sequence;
            _sndWl2 = ack;
        }
        return true;
    }

    /// <summary>
    /// Fast retransmit (RFC 5681 §3.2) and the start of recovery: NewReno's (RFC 6582) without SACK, the
    /// scoreboard-driven one of RFC 6675 with it. The rest of the recovery's sending happens in <see cref="TrySend"/>.
    /// </summary>
    private void EnterRecovery(long now)
    {
        _recover = _sndMax;
        _congestion.OnEnterRecovery(_sndMax - _sndUna, now, sackBased: _scoreboard is not null);
        _highRxt = _sndUna;
        RetransmitFirst();
    }

    /// <summary>
    /// RTT from the timestamp echo (RFC 7323 §4: unambiguous even for retransmissions), or else from the one timed
    /// segment, ignored when that was retransmitted (Karn's rule, RFC 6298 §3).
    /// </summary>
    private void TakeRttSample(in TcpSegmentView segment, SequenceNumber ack, long now)
    {
        if (_timestamps && segment.Options.HasTimestamps && segment.Options.TimestampEcho != 0)
        {
            _rto.AddSample(TimeSpan.FromMilliseconds(unchecked(Now32() - segment.Options.TimestampEcho)));
            return;
        }
        if (_rttTiming && ack >= _rttSequence)
        {
            _rttTiming = false;
            _rto.AddSample(_stack.Time.GetElapsedTime(_rttStart, now));
        }
    }
}
