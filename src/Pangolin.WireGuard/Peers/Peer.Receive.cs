using System.Buffers.Binary;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Peers;

internal sealed partial class Peer
{
    private readonly Lock _receiveLock = new();
    private bool _sentLastMinuteHandshake;

    /// <summary>
    /// Decides whether a decrypted packet goes to the interface, in arrival order: the replay filter, the session
    /// confirmation, roaming and timers, then cryptokey routing's source check (§2, §5.4.6). On return
    /// <see cref="PacketElement.Length"/> is the IP packet's length (padding removed). Keepalives update timers
    /// and go no further.
    /// </summary>
    public bool Accept(PacketElement element)
    {
        lock (_receiveLock)
        {
            return AcceptLocked(element);
        }
    }

    private bool AcceptLocked(PacketElement element)
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
