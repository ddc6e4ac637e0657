using System.Buffers.Binary;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Peers;

internal sealed partial class Peer
{
    private readonly Lock _receiveLock = new();
    private bool _sentLastMinuteHandshake;

    // What the packets accepted since the last EndReceiveBatch leave for it to do once (under _receiveLock).
    private bool _batchAuthenticated;
    private bool _batchData;
    private UdpEndpoint _batchSource;
    private Keypair? _batchKeypair;
    private long _batchBytes;

    /// <summary>
    /// Decides whether a decrypted packet goes to the interface, in arrival order: the replay filter, the session
    /// confirmation, then cryptokey routing's source check (§2, §5.4.6). On return <see cref="PacketElement.Length"/>
    /// is the IP packet's length (padding removed). Keepalives go no further. What every authenticated packet
    /// changes besides — roaming, the §6 timers, the byte count — waits for <see cref="EndReceiveBatch"/>, which the
    /// device calls once per peer after each receive batch: the packets of a batch arrived at one instant.
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
        if (ReferenceEquals(Volatile.Read(ref _next), keypair) && ReceivedWithKeypair(keypair))
        {
            // The initiator's first packet under the new session: what waited for it goes now, to where it came from.
            UpdateEndpoint(element.Source);
            TimersHandshakeComplete();
            SendStaged();
        }
        _batchAuthenticated = true;
        _batchSource = element.Source;
        _batchKeypair = keypair;
        _batchBytes += element.Length;

        var plaintext = element.Buffer.AsSpan(Protocol.TransportHeaderSize, element.Length - Protocol.TransportOverhead);
        if (plaintext.IsEmpty)
        {
            return false; // a keepalive
        }
        _batchData = true;
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

    /// <summary>
    /// The end of a receive batch in which this peer had authenticated packets: roaming to the newest source, the
    /// timers of §6 for an authenticated packet (and for data, if any came), the rekey check, the byte count.
    /// </summary>
    public void EndReceiveBatch()
    {
        UdpEndpoint source;
        Keypair? keypair;
        long bytes;
        bool data;
        lock (_receiveLock)
        {
            if (!_batchAuthenticated)
            {
                return; // another reader's call took it
            }
            (source, keypair, bytes, data) = (_batchSource, _batchKeypair, _batchBytes, _batchData);
            _batchAuthenticated = _batchData = false;
            _batchKeypair = null;
            _batchBytes = 0;
        }
        UpdateEndpoint(source);
        KeepKeyFreshReceiving(keypair!);
        TimersAnyAuthenticatedPacketTraversal();
        TimersAnyAuthenticatedPacketReceived();
        AddRxBytes(bytes);
        if (data)
        {
            TimersDataReceived();
        }
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
