using System.Text;
using Pangolin.WireGuard.Crypto;

namespace Pangolin.WireGuard.Noise;

/// <summary>Constants of the WireGuard protocol (whitepaper §5.4 and §6.1).</summary>
public static class Protocol
{
    /// <summary>The Noise construction string (§5.4).</summary>
    public const string Construction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";

    /// <summary>The identifier mixed into the first hash (§5.4).</summary>
    public const string Identifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";

    public const string LabelMac1 = "mac1----";
    public const string LabelCookie = "cookie--";

    public const byte TypeInitiation = 1;
    public const byte TypeResponse = 2;
    public const byte TypeCookieReply = 3;
    public const byte TypeTransport = 4;

    public const int InitiationSize = 148;
    public const int ResponseSize = 92;
    public const int CookieReplySize = 64;

    /// <summary>type (1) reserved (3) receiver (4) counter (8).</summary>
    public const int TransportHeaderSize = 16;
    public const int TagSize = 16;

    /// <summary>Header plus the Poly1305 tag: what a transport message adds to the packet.</summary>
    public const int TransportOverhead = TransportHeaderSize + TagSize;

    /// <summary>Plaintext is padded to a multiple of this (§5.4.6).</summary>
    public const int PaddingMultiple = 16;

    public const int KeySize = 32;
    public const int HashSize = 32;
    public const int MacSize = 16;
    public const int TimestampSize = 12;
    public const int CookieSize = 16;
    public const int CookieNonceSize = 24;

    // §6.1 timers and limits.
    public static readonly TimeSpan RekeyAfterTime = TimeSpan.FromSeconds(120);
    public static readonly TimeSpan RejectAfterTime = TimeSpan.FromSeconds(180);
    public static readonly TimeSpan RekeyAttemptTime = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan RekeyTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan KeepaliveTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan CookieRefreshTime = TimeSpan.FromSeconds(120);

    /// <summary>Initiations are retransmitted with up to this much random jitter added (§6.1).</summary>
    public const int RekeyTimeoutJitterMaxMs = 334;

    public const ulong RekeyAfterMessages = 1UL << 60;
    public const ulong RejectAfterMessages = ulong.MaxValue - (1UL << 13);

    /// <summary>Retransmissions before giving up: Rekey-Attempt-Time / Rekey-Timeout.</summary>
    public const int MaxHandshakeAttempts = 90 / 5;

    /// <summary>At most one initiation per peer is consumed in this interval (wireguard-go's flood protection).</summary>
    public static readonly TimeSpan HandshakeInitiationRate = TimeSpan.FromMilliseconds(20);

    /// <summary>HASH(CONSTRUCTION): the initial chaining key.</summary>
    internal static readonly byte[] InitialChainKey = Hash(Encoding.ASCII.GetBytes(Construction));

    /// <summary>HASH(HASH(CONSTRUCTION) ‖ IDENTIFIER): the initial handshake hash.</summary>
    internal static readonly byte[] InitialHash = Hash(InitialChainKey, Encoding.ASCII.GetBytes(Identifier));

    private static byte[] Hash(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b = default)
    {
        var output = new byte[HashSize];
        Blake2s.Hash(a, b, output);
        return output;
    }
}
