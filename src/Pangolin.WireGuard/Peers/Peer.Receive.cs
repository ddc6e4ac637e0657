using System.Buffers.Binary;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Peers;

internal sealed partial class Peer
{
    private bool _sentLastMinuteHandshake;

    /// <summary>
    /// One loop per peer: takes decrypted packets in arrival order, applies the replay filter and cryptokey
    /// routing's source check (§2, §5.4.6), and hands them to the packet interface in batches.
    /// </summary>
    private async Task RunSequentialReceiverAsync()
    {
        var batch = new PacketElement[_device.Options.SendBatchSize];
        var buffers = new byte[batch.Length][];
        var sizes = new int[batch.Length];
        var reader = Inbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                var count = 0;
                while (count < batch.Length && reader.TryRead(out var element))
                {
                    await element.WaitAsync().ConfigureAwait(false);
                    if (Accept(element))
                    {
                        batch[count++] = element;
                    }
                    else
                    {
                        _device.Pool.Return(element);
                    }
                }
                if (count == 0)
                {
                    continue;
                }
                for (var i = 0; i < count; i++)
                {
                    buffers[i] = batch[i].Buffer;
                    sizes[i] = batch[i].Length;
                }
                _device.WriteToInterface(buffers, sizes, count);
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

    /// <summary>
    /// Decides whether a decrypted packet goes to the interface; on return <see cref="PacketElement.Length"/> is
    /// the IP packet's length (padding removed). Keepalives update timers and go no further.
    /// </summary>
    private bool Accept(PacketElement element)
    {
        var keypair = element.Keypair!;
        if (element.Failed || !keypair.Replay.ValidateCounter(element.Counter, Protocol.RejectAfterMessages))
        {
            return false;
        }
        if (ReceivedWithKeypair(keypair))
        {
            TimersHandshakeComplete();
            SendStaged();
        }
        UpdateEndpoint(element.Source);
        KeepKeyFreshReceiving(keypair);
        TimersAnyAuthenticatedPacketTraversal();
        TimersAnyAuthenticatedPacketReceived();
        AddRxBytes(element.Length);

        var plaintext = element.Buffer.AsSpan(Protocol.TransportHeaderSize, element.Length - Protocol.TransportOverhead);
        if (plaintext.IsEmpty)
        {
            return false; // a keepalive
        }
        TimersDataReceived();
        var length = IpPacketLength(plaintext);
        if (length <= 0 || length > plaintext.Length)
        {
            return false;
        }
        // Cryptokey routing: the inner source must be one this peer may use.
        if (_device.AllowedIps.LookupSource(plaintext[..length]) != this)
        {
            return false;
        }
        element.Length = length;
        return true;
    }

    /// <summary>The length the IP header claims (IPv4 total length, IPv6 payload + 40), or 0 for anything else.</summary>
    internal static int IpPacketLength(ReadOnlySpan<byte> packet)
    {
        if (packet.Length >= 20 && packet[0] >> 4 == 4)
        {
            return BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        }
        if (packet.Length >= 40 && packet[0] >> 4 == 6)
        {
            return BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) + 40;
        }
        return 0;
    }

    /// <summary>
    /// §6.2: an initiator whose session nears Reject-After-Time starts a handshake once, before the session dies,
    /// so that a quiet sender does not stall.
    /// </summary>
    private void KeepKeyFreshReceiving(Keypair keypair)
    {
        if (Volatile.Read(ref _sentLastMinuteHandshake))
        {
            return;
        }
        if (keypair.IsInitiator && _device.Time.GetElapsedTime(keypair.CreatedTimestamp) >
            Protocol.RejectAfterTime - Protocol.KeepaliveTimeout - Protocol.RekeyTimeout)
        {
            Volatile.Write(ref _sentLastMinuteHandshake, true);
            SendHandshakeInitiation(isRetry: false);
        }
    }
}
