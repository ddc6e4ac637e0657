using System.Buffers.Binary;
using System.Security.Cryptography;
using NSec.Cryptography;
using Pangolin.WireGuard.Crypto;

namespace Pangolin.WireGuard.Noise;

internal enum HandshakeState
{
    Zeroed,
    InitiationCreated,
    InitiationConsumed,
    ResponseCreated,
    ResponseConsumed,
}

/// <summary>This device's static key pair and the keys derived from it for MAC1 and cookies (§5.4.4).</summary>
internal sealed class StaticIdentity : IDisposable
{
    public StaticIdentity(ReadOnlySpan<byte> privateKey)
    {
        PrivateKey = Curve25519.ImportPrivate(privateKey);
        Curve25519.PublicKeyOf(PrivateKey, PublicKey);
        Blake2s.Hash(System.Text.Encoding.ASCII.GetBytes(Protocol.LabelMac1), PublicKey, Mac1Key);
        Blake2s.Hash(System.Text.Encoding.ASCII.GetBytes(Protocol.LabelCookie), PublicKey, CookieKey);
    }

    public Key PrivateKey { get; }

    public byte[] PublicKey { get; } = new byte[Protocol.KeySize];

    /// <summary>HASH(LABEL_MAC1 ‖ our public key): checks MAC1 of messages sent to us.</summary>
    public byte[] Mac1Key { get; } = new byte[Protocol.HashSize];

    /// <summary>HASH(LABEL_COOKIE ‖ our public key): encrypts the cookies we hand out.</summary>
    public byte[] CookieKey { get; } = new byte[Protocol.HashSize];

    public void Dispose() => PrivateKey.Dispose();
}

/// <summary>
/// The handshake state with one peer, and the Noise_IKpsk2 message construction of whitepaper §5.4.2–§5.4.5,
/// step for step (the comments quote the whitepaper's notation). Callers hold <see cref="Lock"/>.
/// </summary>
internal sealed class Handshake
{
    public Handshake(StaticIdentity? local, ReadOnlySpan<byte> remoteStatic)
    {
        remoteStatic.CopyTo(RemoteStatic);
        Blake2s.Hash(System.Text.Encoding.ASCII.GetBytes(Protocol.LabelMac1), RemoteStatic, RemoteMac1Key);
        Blake2s.Hash(System.Text.Encoding.ASCII.GetBytes(Protocol.LabelCookie), RemoteStatic, RemoteCookieKey);
        SetLocal(local);
    }

    public object Lock { get; } = new();

    public HandshakeState State { get; private set; }

    public byte[] RemoteStatic { get; } = new byte[Protocol.KeySize];

    /// <summary>HASH(LABEL_MAC1 ‖ peer's public key): MAC1 of the messages we send to the peer.</summary>
    public byte[] RemoteMac1Key { get; } = new byte[Protocol.HashSize];

    /// <summary>HASH(LABEL_COOKIE ‖ peer's public key): opens the cookies the peer sends us.</summary>
    public byte[] RemoteCookieKey { get; } = new byte[Protocol.HashSize];

    public byte[] PresharedKey { get; } = new byte[Protocol.KeySize];

    public uint LocalIndex { get; set; }

    public uint RemoteIndex { get; private set; }

    /// <summary>The newest initiation timestamp accepted from the peer (replay protection, §5.1).</summary>
    public byte[] LastTimestamp { get; } = new byte[Protocol.TimestampSize];

    /// <summary>When an initiation from the peer was last consumed (flood protection), as a TimeProvider timestamp.</summary>
    public long LastInitiationConsumed { get; set; } = long.MinValue;

    private readonly byte[] _hash = new byte[Protocol.HashSize];
    private readonly byte[] _chainKey = new byte[Protocol.HashSize];
    private readonly byte[] _remoteEphemeral = new byte[Protocol.KeySize];
    private readonly byte[] _staticStatic = new byte[Protocol.KeySize];
    private bool _staticStaticValid;
    private Key? _localEphemeral;
    private StaticIdentity? _local;

    /// <summary>DH(our static, their static) is the same for every handshake, so it is computed once (as wireguard-go does).</summary>
    public void SetLocal(StaticIdentity? local)
    {
        _local = local;
        _staticStaticValid = local is not null && Curve25519.TryAgree(local.PrivateKey, RemoteStatic, _staticStatic);
        Clear();
    }

    public bool HasValidStaticStatic => _staticStaticValid;

    public void SetPresharedKey(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty)
        {
            PresharedKey.AsSpan().Clear();
        }
        else
        {
            key.CopyTo(PresharedKey);
        }
    }

    public void Clear()
    {
        State = HandshakeState.Zeroed;
        CryptographicOperations.ZeroMemory(_hash);
        CryptographicOperations.ZeroMemory(_chainKey);
        CryptographicOperations.ZeroMemory(_remoteEphemeral);
        _localEphemeral?.Dispose();
        _localEphemeral = null;
        RemoteIndex = 0;
    }

    /// <summary>
    /// §5.4.2: builds the initiation (everything but MAC1/MAC2) into <paramref name="message"/>, 148 bytes.
    /// The caller has set <see cref="LocalIndex"/> to a fresh index.
    /// </summary>
    public bool CreateInitiation(Span<byte> message, TimeProvider time)
    {
        if (_local is null || !_staticStaticValid)
        {
            return false;
        }
        message[..Protocol.InitiationSize].Clear();
        Span<byte> key = stackalloc byte[Protocol.KeySize];
        Span<byte> dh = stackalloc byte[Protocol.KeySize];
        Span<byte> timestamp = stackalloc byte[Protocol.TimestampSize];

        // Ci := HASH(CONSTRUCTION); Hi := HASH(Ci ‖ IDENTIFIER); Hi := HASH(Hi ‖ Sr_pub)
        Protocol.InitialChainKey.CopyTo(_chainKey, 0);
        Blake2s.Hash(Protocol.InitialHash, RemoteStatic, _hash);

        // (Ei_priv, Ei_pub) := DH-GENERATE(); Ci := KDF1(Ci, Ei_pub); msg.ephemeral := Ei_pub; Hi := HASH(Hi ‖ msg.ephemeral)
        _localEphemeral?.Dispose();
        _localEphemeral = Curve25519.Generate();
        var ephemeral = message.Slice(8, 32);
        Curve25519.PublicKeyOf(_localEphemeral, ephemeral);
        Kdf.Kdf1(_chainKey, ephemeral, _chainKey);
        MixHash(ephemeral);

        // (Ci, κ) := KDF2(Ci, DH(Ei_priv, Sr_pub)); msg.static := AEAD(κ, 0, Si_pub, Hi); Hi := HASH(Hi ‖ msg.static)
        if (!Curve25519.TryAgree(_localEphemeral, RemoteStatic, dh))
        {
            return false;
        }
        Kdf.Kdf2(_chainKey, dh, _chainKey, key);
        var encryptedStatic = message.Slice(40, 32 + Protocol.TagSize);
        Aead.Seal(key, _local.PublicKey, _hash, encryptedStatic);
        MixHash(encryptedStatic);

        // (Ci, κ) := KDF2(Ci, DH(Si_priv, Sr_pub)); msg.timestamp := AEAD(κ, 0, TAI64N(), Hi); Hi := HASH(Hi ‖ msg.timestamp)
        Kdf.Kdf2(_chainKey, _staticStatic, _chainKey, key);
        Tai64N.Now(time, timestamp);
        var encryptedTimestamp = message.Slice(88, Protocol.TimestampSize + Protocol.TagSize);
        Aead.Seal(key, timestamp, _hash, encryptedTimestamp);
        MixHash(encryptedTimestamp);

        message[0] = Protocol.TypeInitiation;
        BinaryPrimitives.WriteUInt32LittleEndian(message[4..], LocalIndex);
        State = HandshakeState.InitiationCreated;
        CryptographicOperations.ZeroMemory(key);
        CryptographicOperations.ZeroMemory(dh);
        return true;
    }

    /// <summary>
    /// §5.4.2 from the responder's side, first half: decrypts the initiator's static key with our static key.
    /// Returns the running chain key and hash so the caller can find the peer before finishing.
    /// </summary>
    public static bool BeginConsumeInitiation(StaticIdentity local, ReadOnlySpan<byte> message, Span<byte> chainKey, Span<byte> hash, Span<byte> initiatorStatic)
    {
        if (message.Length != Protocol.InitiationSize || message[0] != Protocol.TypeInitiation)
        {
            return false;
        }
        Span<byte> key = stackalloc byte[Protocol.KeySize];
        Span<byte> dh = stackalloc byte[Protocol.KeySize];
        var ephemeral = message.Slice(8, 32);
        Protocol.InitialChainKey.CopyTo(chainKey);
        Blake2s.Hash(Protocol.InitialHash, local.PublicKey, hash);
        Kdf.Kdf1(chainKey, ephemeral, chainKey);
        Blake2s.Hash(hash, ephemeral, hash);
        if (!Curve25519.TryAgree(local.PrivateKey, ephemeral, dh))
        {
            return false;
        }
        Kdf.Kdf2(chainKey, dh, chainKey, key);
        var encryptedStatic = message.Slice(40, 32 + Protocol.TagSize);
        var ok = Aead.Open(key, encryptedStatic, hash, initiatorStatic);
        Blake2s.Hash(hash, encryptedStatic, hash);
        CryptographicOperations.ZeroMemory(key);
        CryptographicOperations.ZeroMemory(dh);
        return ok;
    }

    /// <summary>
    /// Second half for the peer now known: decrypts and checks the timestamp (newer than any before, §5.1) and the
    /// flood limit, then takes on the state. Returns false without changing anything when the message is refused.
    /// </summary>
    public bool FinishConsumeInitiation(ReadOnlySpan<byte> message, ReadOnlySpan<byte> chainKeyIn, ReadOnlySpan<byte> hashIn, long now, TimeProvider time)
    {
        if (!_staticStaticValid)
        {
            return false;
        }
        Span<byte> chainKey = stackalloc byte[Protocol.HashSize];
        Span<byte> hash = stackalloc byte[Protocol.HashSize];
        Span<byte> key = stackalloc byte[Protocol.KeySize];
        Span<byte> timestamp = stackalloc byte[Protocol.TimestampSize];
        chainKeyIn.CopyTo(chainKey);
        hashIn.CopyTo(hash);

        Kdf.Kdf2(chainKey, _staticStatic, chainKey, key);
        var encryptedTimestamp = message.Slice(88, Protocol.TimestampSize + Protocol.TagSize);
        if (!Aead.Open(key, encryptedTimestamp, hash, timestamp))
        {
            return false;
        }
        Blake2s.Hash(hash, encryptedTimestamp, hash);

        // A replayed or older initiation is refused; so is one that comes too soon after the last (flood).
        if (Tai64N.Compare(timestamp, LastTimestamp) <= 0)
        {
            return false;
        }
        if (LastInitiationConsumed != long.MinValue && time.GetElapsedTime(LastInitiationConsumed, now) < Protocol.HandshakeInitiationRate)
        {
            return false;
        }

        chainKey.CopyTo(_chainKey);
        hash.CopyTo(_hash);
        message.Slice(8, 32).CopyTo(_remoteEphemeral);
        RemoteIndex = BinaryPrimitives.ReadUInt32LittleEndian(message[4..]);
        timestamp.CopyTo(LastTimestamp);
        LastInitiationConsumed = now;
        _localEphemeral?.Dispose();
        _localEphemeral = null;
        State = HandshakeState.InitiationConsumed;
        CryptographicOperations.ZeroMemory(key);
        return true;
    }

    /// <summary>§5.4.3: builds the response (everything but MAC1/MAC2), 92 bytes. <see cref="LocalIndex"/> must be fresh.</summary>
    public bool CreateResponse(Span<byte> message)
    {
        if (State != HandshakeState.InitiationConsumed)
        {
            return false;
        }
        message[..Protocol.ResponseSize].Clear();
        Span<byte> key = stackalloc byte[Protocol.KeySize];
        Span<byte> tau = stackalloc byte[Protocol.HashSize];
        Span<byte> dh = stackalloc byte[Protocol.KeySize];

        // (Er_priv, Er_pub) := DH-GENERATE(); Cr := KDF1(Cr, Er_pub); msg.ephemeral := Er_pub; Hr := HASH(Hr ‖ msg.ephemeral)
        _localEphemeral?.Dispose();
        _localEphemeral = Curve25519.Generate();
        var ephemeral = message.Slice(12, 32);
        Curve25519.PublicKeyOf(_localEphemeral, ephemeral);
        Kdf.Kdf1(_chainKey, ephemeral, _chainKey);
        MixHash(ephemeral);

        // Cr := KDF1(Cr, DH(Er_priv, Ei_pub)); Cr := KDF1(Cr, DH(Er_priv, Si_pub))
        if (!Curve25519.TryAgree(_localEphemeral, _remoteEphemeral, dh))
        {
            return false;
        }
        Kdf.Kdf1(_chainKey, dh, _chainKey);
        if (!Curve25519.TryAgree(_localEphemeral, RemoteStatic, dh))
        {
            return false;
        }
        Kdf.Kdf1(_chainKey, dh, _chainKey);

        // (Cr, τ, κ) := KDF3(Cr, Q); Hr := HASH(Hr ‖ τ); msg.empty := AEAD(κ, 0, ε, Hr); Hr := HASH(Hr ‖ msg.empty)
        Kdf.Kdf3(_chainKey, PresharedKey, _chainKey, tau, key);
        MixHash(tau);
        var empty = message.Slice(44, Protocol.TagSize);
        Aead.Seal(key, ReadOnlySpan<byte>.Empty, _hash, empty);
        MixHash(empty);

        message[0] = Protocol.TypeResponse;
        BinaryPrimitives.WriteUInt32LittleEndian(message[4..], LocalIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(message[8..], RemoteIndex);
        State = HandshakeState.ResponseCreated;
        CryptographicOperations.ZeroMemory(key);
        CryptographicOperations.ZeroMemory(tau);
        CryptographicOperations.ZeroMemory(dh);
        return true;
    }

    /// <summary>§5.4.3 from the initiator's side. The caller found this handshake by the message's receiver index.</summary>
    public bool ConsumeResponse(ReadOnlySpan<byte> message)
    {
        if (State != HandshakeState.InitiationCreated || _local is null || _localEphemeral is null
            || message.Length != Protocol.ResponseSize || message[0] != Protocol.TypeResponse)
        {
            return false;
        }
        Span<byte> chainKey = stackalloc byte[Protocol.HashSize];
        Span<byte> hash = stackalloc byte[Protocol.HashSize];
        Span<byte> key = stackalloc byte[Protocol.KeySize];
        Span<byte> tau = stackalloc byte[Protocol.HashSize];
        Span<byte> dh = stackalloc byte[Protocol.KeySize];
        _chainKey.CopyTo(chainKey);
        _hash.CopyTo(hash);

        var ephemeral = message.Slice(12, 32);
        Kdf.Kdf1(chainKey, ephemeral, chainKey);
        Blake2s.Hash(hash, ephemeral, hash);
        if (!Curve25519.TryAgree(_localEphemeral, ephemeral, dh))
        {
            return false;
        }
        Kdf.Kdf1(chainKey, dh, chainKey);
        if (!Curve25519.TryAgree(_local.PrivateKey, ephemeral, dh))
        {
            return false;
        }
        Kdf.Kdf1(chainKey, dh, chainKey);
        Kdf.Kdf3(chainKey, PresharedKey, chainKey, tau, key);
        Blake2s.Hash(hash, tau, hash);
        var empty = message.Slice(44, Protocol.TagSize);
        if (!Aead.Open(key, empty, hash, Span<byte>.Empty))
        {
            return false;
        }
        Blake2s.Hash(hash, empty, hash);

        chainKey.CopyTo(_chainKey);
        hash.CopyTo(_hash);
        RemoteIndex = BinaryPrimitives.ReadUInt32LittleEndian(message[4..]);
        State = HandshakeState.ResponseConsumed;
        CryptographicOperations.ZeroMemory(key);
        CryptographicOperations.ZeroMemory(tau);
        CryptographicOperations.ZeroMemory(dh);
        return true;
    }

    /// <summary>
    /// §5.4.5: derives the transport keys once the handshake is complete — (T_send, T_recv) := KDF2(C, ε) for the
    /// initiator, swapped for the responder — and forgets the handshake's secrets.
    /// </summary>
    public bool TryDeriveKeys(Span<byte> sendKey, Span<byte> receiveKey, out bool isInitiator)
    {
        isInitiator = State == HandshakeState.ResponseConsumed;
        if (State is not (HandshakeState.ResponseConsumed or HandshakeState.ResponseCreated))
        {
            return false;
        }
        if (isInitiator)
        {
            Kdf.Kdf2(_chainKey, ReadOnlySpan<byte>.Empty, sendKey, receiveKey);
        }
        else
        {
            Kdf.Kdf2(_chainKey, ReadOnlySpan<byte>.Empty, receiveKey, sendKey);
        }
        var remoteIndex = RemoteIndex;
        Clear();
        RemoteIndex = remoteIndex;
        return true;
    }

    private void MixHash(ReadOnlySpan<byte> data) => Blake2s.Hash(_hash, data, _hash);
}
