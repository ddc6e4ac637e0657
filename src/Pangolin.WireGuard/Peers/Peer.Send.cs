using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Peers;

internal sealed partial class Peer
{
    private readonly Lock _stagingLock = new();
    private readonly Queue<PacketElement> _staged = new(StagedCapacity);
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
    /// Hands staged packets to encryption, in order, with the current session; without a usable session it asks
    /// for a handshake and keeps them (wireguard-go's SendStagedPackets).
    /// </summary>
    public void SendStaged()
    {
        while (true)
        {
            var keypair = Current;
            if (keypair is null || keypair.IsDisposed || _device.Time.GetElapsedTime(keypair.CreatedTimestamp) >= Protocol.RejectAfterTime)
            {
                SendHandshakeInitiation(isRetry: false);
                return;
            }
            var exhausted = false;
            var sent = 0;
            lock (_stagingLock)
            {
                while (_staged.TryPeek(out var element))
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
                    // Order is fixed here: the peer queue gets elements in counter order, the workers in any order.
                    _device.Write(Outbound, element);
                    _device.Write(_device.EncryptionQueue, element);
                    sent++;
                }
            }
            if (sent > 0)
            {
                KeepKeyFreshSending(keypair);
            }
            if (!exhausted)
            {
                return;
            }
            // The session ran out of counters: never reuse one; forget it and handshake again.
            lock (_keypairLock)
            {
                if (_current == keypair)
                {
                    _current = null;
                }
            }
            Retire(keypair);
        }
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

    /// <summary>
    /// One loop per peer: waits for each element's encryption in the order the counters were given, and sends
    /// what is ready in one batch.
    /// </summary>
    private async Task RunSequentialSenderAsync()
    {
        var batch = new PacketElement[_device.Options.SendBatchSize];
        var buffers = new byte[batch.Length][];
        var offsets = new int[batch.Length];
        var sizes = new int[batch.Length];
        var reader = Outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var count = 0;
                while (count < batch.Length && reader.TryRead(out var element))
                {
                    await element.WaitAsync().ConfigureAwait(false);
                    if (element.Failed)
                    {
                        _device.Pool.Return(element);
                        continue;
                    }
                    batch[count++] = element;
                }
                if (count == 0)
                {
                    continue;
                }
                var endpoint = Endpoint;
                var dataSent = false;
                long bytes = 0;
                for (var i = 0; i < count; i++)
                {
                    buffers[i] = batch[i].Buffer;
                    sizes[i] = batch[i].WireLength;
                    dataSent |= batch[i].Length > 0;
                    bytes += batch[i].WireLength;
                }
                if (endpoint.IsSet && _device.Send(buffers, offsets, sizes, count, endpoint))
                {
                    AddTxBytes(bytes);
                    TimersAnyAuthenticatedPacketTraversal();
                    TimersAnyAuthenticatedPacketSent();
                    if (dataSent)
                    {
                        TimersDataSent();
                    }
                }
                for (var i = 0; i < count; i++)
                {
                    _device.Pool.Return(batch[i]);
                    batch[i] = null!;
                    buffers[i] = null!;
                }
            }
        }
        finally
        {
            while (reader.TryRead(out var rest))
            {
                _device.Pool.Return(rest);
            }
        }
    }
}
