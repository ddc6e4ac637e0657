namespace Pangolin.Netstack.Tcp;

/// <summary>Sending: new data, retransmissions (timeout go-back-N, NewReno, SACK recovery), the FIN and ACKs.</summary>
internal sealed partial class TcpConnection
{
    /// <summary>
    /// Sends what the windows allow, in this order: during SACK recovery the holes the scoreboard calls lost
    /// (RFC 6675 §5 NextSeg rule 1); data from SND.NXT — resent after a timeout, or new — cut at the MSS with
    /// Nagle for small tails (rule 2); other holes (rule 3); then the FIN. Then arms the persist timer when a
    /// zero window holds data back.
    /// </summary>
    private void TrySend()
    {
        if (_state is not (TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck))
        {
            return;
        }
        var now = _stack.Time.GetTimestamp();
        var sackRecovery = _congestion.InRecovery && _scoreboard is not null;
        while (true)
        {
            if (_sndNxt < _sndMax && _scoreboard is not null)
            {
                SkipSacked();
            }
            var offset = _sndNxt - _sndUna;
            var unsent = _send.Count - Math.Min(offset, _send.Count);
            long flight = sackRecovery ? _scoreboard!.Pipe(_sndUna, _sndMax, _highRxt) : offset;
            var congestionRoom = _congestion.CongestionWindow - flight;
            if (sackRecovery && congestionRoom >= _mss
                && _scoreboard!.TryNextSegment(_sndUna, _highRxt, lostOnly: true, out var lostStart, out var lostLength))
            {
                RetransmitHole(lostStart, lostLength);
                continue;
            }
            var room = Math.Min(_sndWnd - offset, congestionRoom);
            if (unsent > 0 && room > 0)
            {
                var length = (int)Math.Min(Math.Min(unsent, _mss), room);
                var resending = _sndNxt < _sndMax;
                if (length < _mss && length < unsent && flight > 0)
                {
                    break; // the windows allow only part of a segment: wait for the ACKs that widen them
                }
                if (length < _mss && !resending && _sndMax != _sndUna && !_noDelay)
                {
                    break; // Nagle (RFC 896): one small segment in flight at a time
                }
                if (length == _mss && !resending && TrySendSegmented(offset, unsent, room, now))
                {
                    continue;
                }
                SendData(offset, length, unsent == length);
                if (resending)
                {
                    _rttTiming = false; // Karn: no sample from a range sent twice
                }
                else if (!_rttTiming && !_timestamps)
                {
                    _rttTiming = true;
                    _rttSequence = _sndNxt + length;
                    _rttStart = now;
                }
                _sndNxt += length;
                if (_sndNxt > _sndMax)
                {
                    _sndMax = _sndNxt;
                }
                _rto.StartIfStopped(now);
                continue;
            }
            if (sackRecovery && congestionRoom >= _mss
                && _scoreboard!.TryNextSegment(_sndUna, _highRxt, lostOnly: false, out var holeStart, out var holeLength))
            {
                RetransmitHole(holeStart, holeLength);
                continue;
            }
            if (unsent == 0 && _finQueued && _sndNxt == _sndUna + _send.Count)
            {
                // The FIN, first time or again after a timeout's go-back-N. It needs no window.
                _stack.SendTcp(Key, _sndNxt, ReceiveNext, TcpFlags.Fin | TcpFlags.Ack, AdvertisedWindow(), TimestampOptions(), [], []);
                AckSent();
                if (!_finSent)
                {
                    _finSent = true;
                    _state = _state == TcpState.CloseWait ? TcpState.LastAck : TcpState.FinWait1;
                }
                _sndNxt += 1;
                if (_sndNxt > _sndMax)
                {
                    _sndMax = _sndNxt;
                }
                _rto.StartIfStopped(now);
            }
            break;
        }
        UpdatePersistTimer(now);
        ArmTimer();
    }

    /// <summary>
    /// New data for at least two full segments, and a link that segments: one super-packet of as many full segments as
    /// the windows and the link allow, with a short tail when it ends what was written and Nagle is off (the same
    /// segments, the same flags on the wire as one by one). False when that is not at least two segments.
    /// </summary>
    private bool TrySendSegmented(long offset, long unsent, long room, long now)
    {
        var limit = Math.Min(Math.Min(unsent, room), _maxSegmentationPayload);
        var length = limit / _mss * _mss;
        if (length < 2L * _mss)
        {
            return false;
        }
        if (_noDelay && unsent - length < _mss && unsent <= limit)
        {
            length = unsent;
        }
        var push = length == unsent;
        _send.Get(offset, (int)length, out var first, out var second);
        var flags = TcpFlags.Ack | (push ? TcpFlags.Psh : 0);
        _stack.SendTcpSegmented(Key, _sndUna + (int)offset, ReceiveNext, flags, AdvertisedWindow(), TimestampOptions(), first, second, _mss);
        AckSent();
        if (!_rttTiming && !_timestamps)
        {
            _rttTiming = true;
            _rttSequence = _sndNxt + (int)length;
            _rttStart = now;
        }
        _sndNxt += (int)length;
        if (_sndNxt > _sndMax)
        {
            _sndMax = _sndNxt;
        }
        _rto.StartIfStopped(now);
        return true;
    }

    /// <summary>Go-back-N meets SACK: data the peer already holds is not sent again.</summary>
    private void SkipSacked()
    {
        foreach (var block in _scoreboard!.Blocks)
        {
            if (block.Left <= _sndNxt && _sndNxt < block.Right)
            {
                _sndNxt = SequenceNumber.Min(block.Right, _sndMax);
                return;
            }
        }
    }

    /// <summary>Sends <paramref name="length"/> bytes starting <paramref name="offset"/> bytes after SND.UNA.</summary>
    private void SendData(long offset, int length, bool push)
    {
        _send.Get(offset, length, out var first, out var second);
        var flags = TcpFlags.Ack | (push ? TcpFlags.Psh : 0);
        _stack.SendTcp(Key, _sndUna + (int)offset, ReceiveNext, flags, AdvertisedWindow(), TimestampOptions(), first, second);
        AckSent();
    }

    /// <summary>A SACK-recovery retransmission of [start, start + length) (RFC 6675 §5 step C.1-C.3).</summary>
    private void RetransmitHole(SequenceNumber start, int length)
    {
        var offset = start - _sndUna;
        var available = Math.Min(length, _send.Count - offset);
        if (available > 0)
        {
            SendData(offset, available, false);
            _rttTiming = false;
            RetransmittedSegments++;
        }
        // HighRxt moves on even when there was nothing to send (the FIN's place), so NextSeg never repeats itself.
        _highRxt = start + length;
    }

    /// <summary>Resends the first unacknowledged segment (fast retransmit, a NewReno partial ACK).</summary>
    private void RetransmitFirst()
    {
        _rttTiming = false;
        if (_send.Count > 0)
        {
            var length = Math.Min(_mss, Math.Min(_send.Count, Math.Max(1, _sndMax - _sndUna)));
            SendData(0, length, false);
            RetransmittedSegments++;
            if (_sndNxt < _sndUna + length)
            {
                _sndNxt = _sndUna + length;
            }
            if (_highRxt < _sndUna + length)
            {
                _highRxt = _sndUna + length;
            }
        }
        else if (_finSent)
        {
            _stack.SendTcp(Key, _sndUna, ReceiveNext, TcpFlags.Fin | TcpFlags.Ack, AdvertisedWindow(), TimestampOptions(), [], []);
            RetransmittedSegments++;
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

    /// <summary>
    /// A probe for a zero window or a keepalive: an ACK with the sequence number before SND.UNA, which the peer
    /// answers with an ACK carrying its window (RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.6; what Linux sends).
    /// </summary>
    private void SendProbe()
    {
        _stack.SendTcp(Key, _sndUna - 1, ReceiveNext, TcpFlags.Ack, AdvertisedWindow(), TimestampOptions(), [], []);
    }

    private void AckSent()
    {
        _segmentsSinceAck = 0;
        _ackDeadline = long.MaxValue;
    }

    private ushort AdvertisedWindow()
    {
        var window = ReceiveWindow;
        _advertisedEdge = ReceiveNext + window;
        return (ushort)(window >> _receiveShift);
    }

    /// <summary>
    /// After a read: a window update is worth a segment only when the peer may be held back — what it may still send
    /// is at most half the buffer — and the window has at least doubled by a segment or half the buffer (Linux's
    /// tcp_cleanup_rbuf; RFC 9293 §3.8.6.2.2 against silly windows). A reader keeping up sends none.
    /// </summary>
    private void MaybeSendWindowUpdate()
    {
        if (_state is not (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2))
        {
            return;
        }
        var peerMaySend = Math.Max(0, _advertisedEdge - ReceiveNext);
        var window = ReceiveWindow;
        if (2L * peerMaySend <= _receive.Capacity && window >= 2L * peerMaySend && window - peerMaySend >= Math.Min(_mss * 2, _receive.Capacity / 2))
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
}
