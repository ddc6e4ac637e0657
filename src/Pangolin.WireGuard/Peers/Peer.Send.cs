using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Peers;

internal sealed partial class Peer
{
    private readonly Lock _stagingLock = new();
    private readonly Lock _flushLock = new();
    private readonly Queue<PacketElement> _staged = new(StagedCapacity);
    private readonly CryptoBatch _flushBatch;
    private readonly byte[][] _sendBuffers = new byte[StagedCapacity][];
    private readonly int[] _sendOffsets = new int[StagedCapacity];
    private readonly int[] _sendSizes = new int[StagedCapacity];
    private long _lastSentHandshake = long.MinValue;

    /// <summary>Queues a plaintext packet (at the transport header offset) until it can be encrypted.</summary>
    public void Stage(PacketElement element)
    {
        PacketElement? dropped = null;
        lock (_stagingLock)
        {
            if (_staged.Count >= StagedCapacity)
            {
                dropped = _staged.Dequeue();
            }
            _staged.Enqueue(element);
        }
        if (dropped is not null)
        {
            _device.Pool.Return(dropped);
        }
    }

    public void DropStaged()
    {
        lock (_stagingLock)
        {
            while (_staged.TryDequeue(out var element))
            {
                _device.Pool.Return(element);
            }
        }
    }

    /// <summary>A keepalive is an empty transport message (§6.5).</summary>
    public void SendKeepalive()
    {
        bool empty;
        lock (_stagingLock)
        {
            empty = _staged.Count == 0;
        }
        if (empty && _device.Pool.TryRent(out var element))
        {
            element.Length = 0;
            Stage(element);
        }
        SendStaged();
    }

    /// <summary>
    /// Sends the staged packets, in order, with the current session: counters are given out in staging order, the
    /// batch is encrypted (spread over the cores when it is large) and goes out in one sendmmsg. Without a usable
    /// session it asks for a handshake and keeps them (wireguard-go's SendStagedPackets). One thread flushes a peer
    /// at a time, so the peer's datagrams leave in counter order.
    /// </summary>
    public void SendStaged()
    {
        lock (_flushLock)
        {
            while (true)
            {
                var keypair = Current;
                if (keypair is null || keypair.IsDisposed || _device.Time.GetElapsedTime(keypair.CreatedTimestamp) >= Protocol.RejectAfterTime)
                {
                    SendHandshakeInitiation(isRetry: false);
                    return;
                }
                var batch = _flushBatch;
                var exhausted = false;
                batch.Count = 0;
                lock (_stagingLock)
                {
                    while (batch.Count < batch.Items.Length && _staged.TryPeek(out var element))
                    {
                        var counter = keypair.NextSendNonce();
                        if (counter >= Protocol.RejectAfterMessages)
                        {
                            exhausted = true;
                            break;
                        }
                        _staged.Dequeue();
                        element.Peer = this;
                        element.Keypair = keypair;
                        element.Counter = counter;
                        batch.Items[batch.Count++] = element;
                    }
                }
                var full = batch.Count == batch.Items.Length;
                if (batch.Count > 0)
                {
                    _device.Crypto.Run(batch);
                    Transmit(batch);
                    KeepKeyFreshSending(keypair);
                }
                if (exhausted)
                {
                    // The session ran out of counters: never reuse one; forget it and handshake again.
                    lock (_keypairLock)
                    {
                        if (_current == keypair)
                        {
                            _current = null;
                        }
                    }
                    Retire(keypair);
                    continue;
                }
                if (!full)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Sends an encrypted batch to the endpoint in one call and gives the elements back. Holds the flush lock.</summary>
    private void Transmit(CryptoBatch batch)
    {
        var count = 0;
        var dataSent = false;
        long bytes = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            var element = batch.Items[i];
            if (element.Failed)
            {
                continue;
            }
            _sendBuffers[count] = element.Buffer;
            _sendSizes[count] = element.WireLength;
            dataSent |= element.Length > 0;
            bytes += element.WireLength;
            count++;
        }
        var endpoint = Endpoint;
        if (count > 0 && endpoint.IsSet && _device.Send(_sendBuffers, _sendOffsets, _sendSizes, count, endpoint))
        {
            AddTxBytes(bytes);
            TimersAnyAuthenticatedPacketTraversal();
            TimersAnyAuthenticatedPacketSent();
            if (dataSent)
            {
                TimersDataSent();
            }
        }
        for (var i = 0; i < batch.Count; i++)
        {
            _device.Pool.Return(batch.Items[i]);
            batch.Items[i] = null!;
        }
        Array.Clear(_sendBuffers, 0, count);
        batch.Count = 0;
    }

    /// <summary>§6.2: the initiator starts a new handshake once its session is old or heavily used.</summary>
    private void KeepKeyFreshSending(Keypair keypair)
    {
        if (keypair.IsInitiator && (keypair.SentCount > Protocol.RekeyAfterMessages
            || _device.Time.GetElapsedTime(keypair.CreatedTimestamp) > Protocol.RekeyAfterTime))
        {
            SendHandshakeInitiation(isRetry: false);
        }
    }

    /// <summary>Sends a handshake initiation, at most one per Rekey-Timeout (§6.4).</summary>
    public void SendHandshakeInitiation(bool isRetry)
    {
        if (!isRetry)
        {
            ResetHandshakeAttempts();
        }
        var message = new byte[Protocol.InitiationSize];
        lock (Handshake.Lock)
        {
            var now = _device.Time.GetTimestamp();
            if (_lastSentHandshake != long.MinValue && _device.Time.GetElapsedTime(_lastSentHandshake, now) < Protocol.RekeyTimeout)
            {
                return;
            }
            if (!Endpoint.IsSet || _device.Identity is null)
            {
                return;
            }
            _device.Indices.Remove(Handshake.LocalIndex);
            Handshake.LocalIndex = _device.Indices.NewIndex(this, null);
            if (!Handshake.CreateInitiation(message, _device.Time))
            {
                return;
            }
            _lastSentHandshake = now;
        }
        Cookies.AddMacs(message);
        TimersAnyAuthenticatedPacketTraversal();
        TimersAnyAuthenticatedPacketSent();
        // Armed before sending, so that the retransmission is measured from no later than the send.
        TimersHandshakeInitiated();
        _device.SendControl(this, message);
    }
}
