using System.Buffers.Binary;
using System.Security.Cryptography;
using Pangolin.WireGuard.Crypto;
using Pangolin.WireGuard.Net;

namespace Pangolin.WireGuard.Noise;

/// <summary>
/// The responder's half of §5.4.4 and §5.4.7: checks MAC1 of every handshake message, checks MAC2 when the device
/// is under load, and makes cookie replies. The cookie secret rotates every two minutes.
/// </summary>
internal sealed class CookieChecker(StaticIdentity identity, TimeProvider time)
{
    private readonly byte[] _secret = new byte[Protocol.HashSize];
    private readonly Lock _lock = new();
    private long _secretSet = long.MinValue;

    /// <summary>Offset of MAC1 in a handshake message: everything before the two MACs.</summary>
    public static int Mac1Offset(int messageLength) => messageLength - (2 * Protocol.MacSize);

    public static int Mac2Offset(int messageLength) => messageLength - Protocol.MacSize;

    /// <summary>msg.mac1 = MAC(HASH(LABEL_MAC1 ‖ Spub_m′), msg_α), compared in constant time.</summary>
    public bool CheckMac1(ReadOnlySpan<byte> message)
    {
        var offset = Mac1Offset(message.Length);
        Span<byte> mac = stackalloc byte[Protocol.MacSize];
        Blake2s.Mac(identity.Mac1Key, message[..offset], mac);
        return CryptographicOperations.FixedTimeEquals(mac, message.Slice(offset, Protocol.MacSize));
    }

    /// <summary>msg.mac2 = MAC(τ, msg_β) with τ the cookie this source should hold.</summary>
    public bool CheckMac2(ReadOnlySpan<byte> message, UdpEndpoint source)
    {
        Span<byte> cookie = stackalloc byte[Protocol.CookieSize];
        MakeCookie(source, cookie);
        var offset = Mac2Offset(message.Length);
        Span<byte> mac = stackalloc byte[Protocol.MacSize];
        Blake2s.Mac(cookie, message[..offset], mac);
        return CryptographicOperations.FixedTimeEquals(mac, message.Slice(offset, Protocol.MacSize));
    }

    /// <summary>§5.4.7: the cookie reply to a handshake message (its sender index and MAC1 are taken from it).</summary>
    public void CreateReply(ReadOnlySpan<byte> message, UdpEndpoint source, Span<byte> reply)
    {
        Span<byte> cookie = stackalloc byte[Protocol.CookieSize];
        MakeCookie(source, cookie);
        reply[..Protocol.CookieReplySize].Clear();
        reply[0] = Protocol.TypeCookieReply;
        message.Slice(4, 4).CopyTo(reply[4..]); // receiver := the message's sender index
        var nonce = reply.Slice(8, Protocol.CookieNonceSize);
        RandomNumberGenerator.Fill(nonce);
        var mac1 = message.Slice(Mac1Offset(message.Length), Protocol.MacSize);
        Aead.SealX(identity.CookieKey, nonce, cookie, mac1, reply.Slice(32, Protocol.CookieSize + Protocol.TagSize));
    }

    /// <summary>τ := MAC(Rm, Am): the source address and port under a secret that changes every two minutes.</summary>
    private void MakeCookie(UdpEndpoint source, Span<byte> cookie)
    {
        Span<byte> address = stackalloc byte[18];
        source.WriteAddress(address);
        BinaryPrimitives.WriteUInt16BigEndian(address[16..], source.Port);
        lock (_lock)
        {
            var now = time.GetTimestamp();
            if (_secretSet == long.MinValue || time.GetElapsedTime(_secretSet, now) >= Protocol.CookieRefreshTime)
            {
                RandomNumberGenerator.Fill(_secret);
                _secretSet = now;
            }
            Blake2s.Mac(_secret, source.IsIPv4 ? Compact(address) : address, cookie);
        }
    }

    // An IPv4 source is its 4 address bytes and port, as wireguard-go forms it.
    private static ReadOnlySpan<byte> Compact(Span<byte> mapped)
    {
        mapped.Slice(12, 6).CopyTo(mapped);
        return mapped[..6];
    }
}

/// <summary>
/// The initiator's half: adds MAC1 (and MAC2 while it holds a fresh cookie) to the handshake messages it sends to
/// one peer, and takes in that peer's cookie replies.
/// </summary>
internal sealed class CookieGenerator(Handshake peer, TimeProvider time)
{
    private readonly byte[] _cookie = new byte[Protocol.CookieSize];
    private readonly byte[] _lastMac1 = new byte[Protocol.MacSize];
    private readonly Lock _lock = new();
    private long _cookieSet = long.MinValue;
    private bool _haveLastMac1;

    /// <summary>Whether a cookie from the peer is held (tests wait for it).</summary>
    public bool HasCookie
    {
        get
        {
            lock (_lock)
            {
                return _cookieSet != long.MinValue;
            }
        }
    }

    /// <summary>Writes msg.mac1 and msg.mac2 (zeros without a cookie younger than two minutes).</summary>
    public void AddMacs(Span<byte> message)
    {
        var mac1Offset = CookieChecker.Mac1Offset(message.Length);
        var mac2Offset = CookieChecker.Mac2Offset(message.Length);
        lock (_lock)
        {
            Blake2s.Mac(peer.RemoteMac1Key, message[..mac1Offset], message.Slice(mac1Offset, Protocol.MacSize));
            message.Slice(mac1Offset, Protocol.MacSize).CopyTo(_lastMac1);
            _haveLastMac1 = true;
            var mac2 = message.Slice(mac2Offset, Protocol.MacSize);
            if (_cookieSet != long.MinValue && time.GetElapsedTime(_cookieSet) < Protocol.CookieRefreshTime - Protocol.RekeyTimeout)
            {
                Blake2s.Mac(_cookie, message[..mac2Offset], mac2);
            }
            else
            {
                mac2.Clear();
            }
        }
    }

    /// <summary>Opens a cookie reply (its ad is the MAC1 we last sent); false when it does not authenticate.</summary>
    public bool ConsumeReply(ReadOnlySpan<byte> reply)
    {
        if (reply.Length != Protocol.CookieReplySize)
        {
            return false;
        }
        Span<byte> cookie = stackalloc byte[Protocol.CookieSize];
        lock (_lock)
        {
            if (!_haveLastMac1
                || !Aead.OpenX(peer.RemoteCookieKey, reply.Slice(8, Protocol.CookieNonceSize), reply.Slice(32, Protocol.CookieSize + Protocol.TagSize), _lastMac1, cookie))
            {
                return false;
            }
            cookie.CopyTo(_cookie);
            _cookieSet = time.GetTimestamp();
            _haveLastMac1 = false;
            return true;
        }
    }
}
