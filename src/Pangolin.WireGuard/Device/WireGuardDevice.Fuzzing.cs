using System.Buffers.Binary;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Peers;

namespace Pangolin.WireGuard.Device;

public sealed partial class WireGuardDevice
{
    /// <summary>
    /// Runs one received datagram through every parser synchronously, without the worker threads: the entry point
    /// of the fuzzer and of its regression corpus (tests/Pangolin.WireGuard.Fuzz).
    /// </summary>
    internal bool ProcessDatagramForFuzzing(ReadOnlySpan<byte> data, UdpEndpoint source)
    {
        if (data.Length < 4 || data[1] != 0 || data[2] != 0 || data[3] != 0)
        {
            return false;
        }
        switch (data[0])
        {
            case Protocol.TypeInitiation when data.Length == Protocol.InitiationSize:
            case Protocol.TypeResponse when data.Length == Protocol.ResponseSize:
            case Protocol.TypeCookieReply when data.Length == Protocol.CookieReplySize:
                ProcessHandshakeMessage(data, source);
                return true;
            case Protocol.TypeTransport when data.Length >= Protocol.TransportOverhead:
                var index = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
                if (!Indices.TryGet(index, out var entry) || entry.Keypair is not { } keypair || keypair.IsDisposed)
                {
                    return false;
                }
                var copy = data.ToArray();
                var counter = BinaryPrimitives.ReadUInt64LittleEndian(copy.AsSpan(8));
                if (!keypair.Decrypt(counter, copy.AsSpan(Protocol.TransportHeaderSize, copy.Length - Protocol.TransportOverhead), copy.AsSpan(copy.Length - Protocol.TagSize)))
                {
                    return false;
                }
                var plaintext = copy.AsSpan(Protocol.TransportHeaderSize, copy.Length - Protocol.TransportOverhead);
                var length = Peer.IpPacketLength(plaintext);
                if (length > 0 && length <= plaintext.Length)
                {
                    _ = AllowedIps.LookupSource(plaintext[..length]);
                }
                return true;
            default:
                return false;
        }
    }

    /// <summary>Installs a session with fixed keys and index, so that fuzzed transport messages can decrypt.</summary>
    internal void InstallSessionForFuzzing(Configuration.WgKey peerKey, ReadOnlySpan<byte> sendKey, ReadOnlySpan<byte> receiveKey, uint localIndex, uint remoteIndex)
    {
        var peer = PeerForTests(peerKey);
        var keypair = new Keypair(peer, sendKey, receiveKey, isInitiator: true, localIndex, remoteIndex, Time.GetTimestamp());
        Indices.Remove(localIndex);
        Indices.Assign(Indices.NewIndexAt(localIndex, peer), keypair);
        peer.InstallKeypair(keypair);
        peer.Start();
    }
}
