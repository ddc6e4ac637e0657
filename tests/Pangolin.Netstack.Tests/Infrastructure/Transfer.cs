using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// Seeded pseudo-random bytes (xorshift64*), fast enough to generate a gigabyte while it is being sent, so large
/// transfers are streamed and hashed on the fly instead of being held in memory.
/// </summary>
public sealed class SeededBytes(ulong seed)
{
    private ulong _state = seed == 0 ? 0x9E3779B97F4A7C15UL : seed;

    public void Fill(Span<byte> buffer)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(buffer);
        for (var i = 0; i < words.Length; i++)
        {
            words[i] = Next();
        }
        var tail = buffer[(words.Length * sizeof(ulong))..];
        if (!tail.IsEmpty)
        {
            Span<byte> last = stackalloc byte[sizeof(ulong)];
            MemoryMarshal.Write(last, Next());
            last[..tail.Length].CopyTo(tail);
        }
    }

    private ulong Next()
    {
        var x = _state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        _state = x;
        return x * 0x2545F4914F6CDD1DUL;
    }
}

/// <summary>What one side of a transfer saw: how many bytes, and their SHA-256.</summary>
public readonly record struct TransferResult(long Length, byte[] Hash);

/// <summary>Sends seeded bytes and receives to the end, hashing as they go (IncrementalHash), over streams or sockets.</summary>
public static class Transfer
{
    private const int ChunkSize = 64 * 1024;

    /// <summary>Generates <paramref name="length"/> bytes from <paramref name="seed"/> and sends them; <paramref name="sent"/> counts completed sends.</summary>
    public static async Task<TransferResult> SendAsync(Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> send, long length, ulong seed, CancellationToken cancellationToken, StrongBox<long>? sent = null)
    {
        ArgumentNullException.ThrowIfNull(send);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var generator = new SeededBytes(seed);
        var buffer = new byte[ChunkSize];
        var remaining = length;
        while (remaining > 0)
        {
            var chunk = buffer.AsMemory(0, (int)Math.Min(remaining, buffer.Length));
            generator.Fill(chunk.Span);
            hash.AppendData(chunk.Span);
            await send(chunk, cancellationToken).ConfigureAwait(false);
            remaining -= chunk.Length;
            if (sent is not null)
            {
                Interlocked.Add(ref sent.Value, chunk.Length);
            }
        }
        return new TransferResult(length, hash.GetHashAndReset());
    }

    /// <summary>Receives until the end of the stream (a read of 0); <paramref name="received"/> counts as it goes.</summary>
    public static async Task<TransferResult> ReceiveAsync(Func<Memory<byte>, CancellationToken, ValueTask<int>> receive, CancellationToken cancellationToken, StrongBox<long>? received = null)
    {
        ArgumentNullException.ThrowIfNull(receive);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[ChunkSize];
        long total = 0;
        int n;
        while ((n = await receive(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer.AsSpan(0, n));
            total += n;
            if (received is not null)
            {
                Interlocked.Add(ref received.Value, n);
            }
        }
        return new TransferResult(total, hash.GetHashAndReset());
    }

    public static Task<TransferResult> SendAsync(Stream stream, long length, ulong seed, CancellationToken cancellationToken, StrongBox<long>? sent = null) =>
        SendAsync(stream.WriteAsync, length, seed, cancellationToken, sent);

    public static Task<TransferResult> SendAsync(Socket socket, long length, ulong seed, CancellationToken cancellationToken, StrongBox<long>? sent = null) =>
        SendAsync((data, ct) => SendAllAsync(socket, data, ct), length, seed, cancellationToken, sent);

    public static Task<TransferResult> ReceiveAsync(Stream stream, CancellationToken cancellationToken, StrongBox<long>? received = null) =>
        ReceiveAsync(stream.ReadAsync, cancellationToken, received);

    public static Task<TransferResult> ReceiveAsync(Socket socket, CancellationToken cancellationToken, StrongBox<long>? received = null) =>
        ReceiveAsync((buffer, ct) => socket.ReceiveAsync(buffer, SocketFlags.None, ct), cancellationToken, received);

    /// <summary>The hash of what <see cref="SendAsync(Stream, long, ulong, CancellationToken, StrongBox{long}?)"/> sends, without sending.</summary>
    public static byte[] ExpectedHash(long length, ulong seed)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var generator = new SeededBytes(seed);
        var buffer = new byte[ChunkSize];
        for (var remaining = length; remaining > 0; remaining -= buffer.Length)
        {
            var chunk = buffer.AsSpan(0, (int)Math.Min(remaining, buffer.Length));
            generator.Fill(chunk);
            hash.AppendData(chunk);
        }
        return hash.GetHashAndReset();
    }

    private static async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var n = await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[n..];
        }
    }
}
