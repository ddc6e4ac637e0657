using System.Buffers.Binary;
using System.Security.Cryptography;
using Pangolin.WireGuard.Replay;

namespace Pangolin.WireGuard.Noise;

/// <summary>
/// The transport keys of one session (whitepaper §5.4.5): a send and a receive key, the send counter, the replay
/// filter of the receive direction and the indices both sides use to name it. ChaCha20-Poly1305 comes from the
/// BCL (OpenSSL); its instances are not thread-safe, so each crypto worker gets its own, created on first use.
/// </summary>
internal sealed class Keypair : IDisposable
{
    private readonly byte[] _sendKey;
    private readonly byte[] _receiveKey;
    private readonly ChaCha20Poly1305?[] _senders;
    private readonly ChaCha20Poly1305?[] _receivers;
    private long _sendNonce;
    private int _disposed;

    public Keypair(object owner, ReadOnlySpan<byte> sendKey, ReadOnlySpan<byte> receiveKey, bool isInitiator, uint localIndex, uint remoteIndex, long createdTimestamp, int workerSlots)
    {
        Owner = owner;
        _sendKey = sendKey.ToArray();
        _receiveKey = receiveKey.ToArray();
        IsInitiator = isInitiator;
        LocalIndex = localIndex;
        RemoteIndex = remoteIndex;
        CreatedTimestamp = createdTimestamp;
        _senders = new ChaCha20Poly1305?[workerSlots];
        _receivers = new ChaCha20Poly1305?[workerSlots];
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
    public void Encrypt(int slot, ulong counter, Span<byte> plaintext, Span<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(counter, nonce);
        var aead = _senders[slot] ??= new ChaCha20Poly1305(_sendKey);
        aead.Encrypt(nonce, plaintext, plaintext, tag);
    }

    /// <summary>Decrypts in place; false when the tag does not verify.</summary>
    public bool Decrypt(int slot, ulong counter, Span<byte> ciphertext, ReadOnlySpan<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(counter, nonce);
        var aead = _receivers[slot] ??= new ChaCha20Poly1305(_receiveKey);
        try
        {
            aead.Decrypt(nonce, ciphertext, tag, ciphertext);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    /// <summary>§5.4.6: 32 zero bits followed by the 64-bit little-endian counter.</summary>
    private static void Nonce(ulong counter, Span<byte> nonce)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(nonce, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], counter);
    }

    /// <summary>Zeroes the key material. A worker still using it may fail (ObjectDisposed), and drops that packet.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        CryptographicOperations.ZeroMemory(_sendKey);
        CryptographicOperations.ZeroMemory(_receiveKey);
        for (var i = 0; i < _senders.Length; i++)
        {
            _senders[i]?.Dispose();
            _receivers[i]?.Dispose();
        }
    }
}
