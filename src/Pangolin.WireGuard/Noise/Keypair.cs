using System.Buffers.Binary;
using System.Security.Cryptography;
using Pangolin.WireGuard.Replay;

namespace Pangolin.WireGuard.Noise;

/// <summary>
/// The transport keys of one session (whitepaper §5.4.5): a send and a receive key, the send counter, the replay
/// filter of the receive direction and the indices both sides use to name it. ChaCha20-Poly1305 comes from the
/// BCL (OpenSSL) for packets of 1 KiB and more — an instance (an initialised cipher context) is not thread-safe, so
/// each call borrows one from a small lock-free cache and gives it back — and from libsodium for smaller ones, where
/// OpenSSL's per-call set-up costs more than the cipher. Calls in flight hold the keys: Dispose waits for them
/// before it zeroes the keys, so no packet is ever sealed with a wiped (all-zero, public) key.
/// </summary>
internal sealed class Keypair : IDisposable
{
    private readonly byte[] _sendKey;
    private readonly byte[] _receiveKey;
    private readonly ChaCha20Poly1305?[] _senders = new ChaCha20Poly1305?[CacheSize];
    private readonly ChaCha20Poly1305?[] _receivers = new ChaCha20Poly1305?[CacheSize];
    private long _sendNonce;
    private int _disposed;

    private const int CacheSize = 8;

    /// <summary>Below this many bytes libsodium is faster (TransportBenchmarks); from it OpenSSL.</summary>
    private const int SmallPacket = 1024;

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
            if (plaintext.Length < SmallPacket)
            {
                Sodium.Encrypt(_sendKey, nonce, plaintext, tag);
                return;
            }
            var aead = Borrow(_senders, _sendKey);
            try
            {
                aead.Encrypt(nonce, plaintext, plaintext, tag);
            }
            finally
            {
                GiveBack(_senders, aead);
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
            if (ciphertext.Length < SmallPacket)
            {
                return Sodium.Decrypt(_receiveKey, nonce, ciphertext, tag);
            }
            var aead = Borrow(_receivers, _receiveKey);
            try
            {
                aead.Decrypt(nonce, ciphertext, tag, ciphertext);
                return true;
            }
            catch (AuthenticationTagMismatchException)
            {
                return false;
            }
            finally
            {
                GiveBack(_receivers, aead);
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

    private static ChaCha20Poly1305 Borrow(ChaCha20Poly1305?[] cache, byte[] key)
    {
        for (var i = 0; i < cache.Length; i++)
        {
            if (Volatile.Read(ref cache[i]) is not null && Interlocked.Exchange(ref cache[i], null) is { } cached)
            {
                return cached;
            }
        }
        return new ChaCha20Poly1305(key);
    }

    private void GiveBack(ChaCha20Poly1305?[] cache, ChaCha20Poly1305 aead)
    {
        if (!IsDisposed)
        {
            for (var i = 0; i < cache.Length; i++)
            {
                if (Volatile.Read(ref cache[i]) is null && Interlocked.CompareExchange(ref cache[i], aead, null) is null)
                {
                    // Dispose may have emptied the cache between the check above and this store: look again.
                    if (IsDisposed && Interlocked.Exchange(ref cache[i], null) is { } late)
                    {
                        late.Dispose();
                    }
                    return;
                }
            }
        }
        aead.Dispose();
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
            Interlocked.Exchange(ref _senders[i], null)?.Dispose();
            Interlocked.Exchange(ref _receivers[i], null)?.Dispose();
        }
    }
}
