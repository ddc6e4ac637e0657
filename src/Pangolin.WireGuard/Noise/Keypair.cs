using System.Buffers.Binary;
using System.Security.Cryptography;
using Pangolin.WireGuard.Replay;

namespace Pangolin.WireGuard.Noise;

/// <summary>
/// The transport keys of one session (whitepaper §5.4.5): a send and a receive key, the send counter, the replay
/// filter of the receive direction and the indices both sides use to name it. ChaCha20-Poly1305 comes from OpenSSL
/// for packets of 256 bytes and more, through cipher contexts set up once per key — a context is not thread-safe, so
/// each call borrows one from a small lock-free cache and gives it back — and from libsodium for smaller ones (and
/// for all when libcrypto 3 is missing), where a context's re-arming costs more than the cipher. Calls in flight hold
/// the keys: Dispose waits for them before it zeroes the keys and frees the contexts, so no packet is ever sealed
/// with a wiped (all-zero, public) key.
/// </summary>
internal sealed class Keypair : IDisposable
{
    private readonly byte[] _sendKey;
    private readonly byte[] _receiveKey;
    private readonly nint[] _senders = new nint[CacheSize];
    private readonly nint[] _receivers = new nint[CacheSize];
    private long _sendNonce;
    private int _disposed;

    private const int CacheSize = 8;

    /// <summary>Below this many bytes libsodium is faster (AeadBenchmarks: they cross near 256 B); from it OpenSSL.</summary>
    private const int SmallPacket = 256;

    private int _users;

    public Keypair(object owner, ReadOnlySpan<byte> sendKey, ReadOnlySpan<byte> receiveKey, bool isInitiator, uint localIndex, uint remoteIndex, long createdTimestamp)
    {
        Owner = owner;
        _sendKey = sendKey.ToArray();
        _receiveKey = receiveKey.ToArray();
        IsInitiator = isInitiator;
        LocalIndex = localIndex;
        RemoteIndex = remoteIndex;
        CreatedTimestamp = createdTimestamp;
    }

    /// <summary>The peer this session belongs to (kept untyped so Noise does not depend on Peers).</summary>
    public object Owner { get; }

    public bool IsInitiator { get; }

    public uint LocalIndex { get; }

    public uint RemoteIndex { get; }

    /// <summary>When the session was derived, from <see cref="TimeProvider.GetTimestamp"/>.</summary>
    public long CreatedTimestamp { get; }

    public ReplayFilter Replay { get; } = new();

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The next send counter (each value used once, §5.4.6).</summary>
    public ulong NextSendNonce() => (ulong)Interlocked.Increment(ref _sendNonce) - 1;

    /// <summary>How many counters have been handed out.</summary>
    public ulong SentCount => (ulong)Interlocked.Read(ref _sendNonce);

    /// <summary>Encrypts <paramref name="plaintext"/> in place and writes the tag after it.</summary>
    public void Encrypt(ulong counter, Span<byte> plaintext, Span<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(counter, nonce);
        Enter();
        try
        {
            if (plaintext.Length < SmallPacket || !OpenSsl.IsAvailable)
            {
                Sodium.Encrypt(_sendKey, nonce, plaintext, tag);
                return;
            }
            var context = Borrow(_senders, _sendKey, encrypt: true);
            try
            {
                OpenSsl.Encrypt(context, nonce, plaintext, tag);
            }
            finally
            {
                GiveBack(_senders, context);
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Decrypts in place; false when the tag does not verify.</summary>
    public bool Decrypt(ulong counter, Span<byte> ciphertext, ReadOnlySpan<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(counter, nonce);
        Enter();
        try
        {
            if (ciphertext.Length < SmallPacket || !OpenSsl.IsAvailable)
            {
                return Sodium.Decrypt(_receiveKey, nonce, ciphertext, tag);
            }
            var context = Borrow(_receivers, _receiveKey, encrypt: false);
            try
            {
                return OpenSsl.Decrypt(context, nonce, ciphertext, tag);
            }
            finally
            {
                GiveBack(_receivers, context);
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Marks a call in flight; refuses once disposed (Dekker-style with Dispose: one of the two sees the other).</summary>
    private void Enter()
    {
        Interlocked.Increment(ref _users);
        if (Volatile.Read(ref _disposed) != 0)
        {
            Interlocked.Decrement(ref _users);
            throw new ObjectDisposedException(nameof(Keypair));
        }
    }

    private void Exit() => Interlocked.Decrement(ref _users);

    private static nint Borrow(nint[] cache, byte[] key, bool encrypt)
    {
        for (var i = 0; i < cache.Length; i++)
        {
            if (Volatile.Read(ref cache[i]) != 0 && Interlocked.Exchange(ref cache[i], 0) is var cached and not 0)
            {
                return cached;
            }
        }
        return OpenSsl.CreateContext(key, encrypt);
    }

    /// <summary>Back into a free slot of the cache, or freed when the cache is full. Runs inside Enter/Exit, so Dispose
    /// (which waits for every call to leave) frees whatever is cached only after the last give-back.</summary>
    private static void GiveBack(nint[] cache, nint context)
    {
        for (var i = 0; i < cache.Length; i++)
        {
            if (Volatile.Read(ref cache[i]) == 0 && Interlocked.CompareExchange(ref cache[i], context, 0) == 0)
            {
                return;
            }
        }
        OpenSsl.Free(context);
    }

    /// <summary>§5.4.6: 32 zero bits followed by the 64-bit little-endian counter.</summary>
    private static void Nonce(ulong counter, Span<byte> nonce)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(nonce, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], counter);
    }

    /// <summary>Zeroes the key material. A call still using it may fail (ObjectDisposed), and its packet is dropped.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // A call that entered before the flag was set finishes with the real keys (a few microseconds at most).
        SpinWait.SpinUntil(() => Volatile.Read(ref _users) == 0);
        CryptographicOperations.ZeroMemory(_sendKey);
        CryptographicOperations.ZeroMemory(_receiveKey);
        for (var i = 0; i < CacheSize; i++)
        {
            FreeCached(ref _senders[i]);
            FreeCached(ref _receivers[i]);
        }
    }

    private static void FreeCached(ref nint slot)
    {
        if (Interlocked.Exchange(ref slot, 0) is var context and not 0)
        {
            OpenSsl.Free(context);
        }
    }
}
