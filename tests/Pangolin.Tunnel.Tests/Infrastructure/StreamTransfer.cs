using System.Net.Sockets;
using System.Security.Cryptography;
using Pangolin.Netstack.Tcp;

namespace Pangolin.Tunnel.Tests.Infrastructure;

/// <summary>
/// Pseudo-random bytes through a pair of connected streams, both ways at once: each side writes, half-closes and
/// reads to the end, and both hash what they saw with SHA-256. Bounded by a deadline.
/// </summary>
internal static class StreamTransfer
{
    private const int ChunkSize = 64 * 1024;

    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    /// <summary>Sends <paramref name="bytes"/> from <paramref name="a"/> to <paramref name="b"/> and as many back; asserts both arrive intact.</summary>
    public static async Task ExchangeAsync(Stream a, Stream b, long bytes)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(Deadline);
        var token = deadline.Token;
        var aSends = Task.Run(() => SendAsync(a, bytes, seed: 1, token), token);
        var bSends = Task.Run(() => SendAsync(b, bytes, seed: 2, token), token);
        var bReceives = Task.Run(() => ReceiveAsync(b, token), token);
        var aReceives = Task.Run(() => ReceiveAsync(a, token), token);
        await Task.WhenAll(aSends, bSends, aReceives, bReceives).WaitAsync(Deadline, TestContext.Current.CancellationToken);

        Assert.Equal(bytes, (await bReceives).Bytes);
        Assert.Equal(await aSends, (await bReceives).Sha256);
        Assert.Equal(bytes, (await aReceives).Bytes);
        Assert.Equal(await bSends, (await aReceives).Sha256);
    }

    /// <summary>Sends <paramref name="bytes"/> one way only and asserts they arrive intact; the other direction stays open.</summary>
    public static async Task SendOneWayAsync(Stream from, Stream to, long bytes)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(Deadline);
        var token = deadline.Token;
        var receiving = Task.Run(() => ReceiveExactlyAsync(to, bytes, token), token);
        var sent = await SendAsync(from, bytes, seed: 3, token, shutdown: false).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(sent, await receiving.WaitAsync(Deadline, TestContext.Current.CancellationToken));
    }

    private static async Task<string> SendAsync(Stream stream, long bytes, int seed, CancellationToken token, bool shutdown = true)
    {
        var random = new Random(seed);
        var chunk = new byte[ChunkSize];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (var left = bytes; left > 0;)
        {
            var n = (int)Math.Min(chunk.Length, left);
            random.NextBytes(chunk.AsSpan(0, n));
            hash.AppendData(chunk.AsSpan(0, n));
            await stream.WriteAsync(chunk.AsMemory(0, n), token);
            left -= n;
        }
        if (shutdown)
        {
            ShutdownSend(stream);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static async Task<(long Bytes, string Sha256)> ReceiveAsync(Stream stream, CancellationToken token)
    {
        var buffer = new byte[ChunkSize];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        while (await stream.ReadAsync(buffer, token) is var n && n > 0)
        {
            hash.AppendData(buffer.AsSpan(0, n));
            total += n;
        }
        return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private static async Task<string> ReceiveExactlyAsync(Stream stream, long bytes, CancellationToken token)
    {
        var buffer = new byte[ChunkSize];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (var left = bytes; left > 0;)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), token);
            if (n == 0)
            {
                throw new EndOfStreamException($"The stream ended {left} bytes short.");
            }
            hash.AppendData(buffer.AsSpan(0, n));
            left -= n;
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void ShutdownSend(Stream stream)
    {
        switch (stream)
        {
            case TcpStream tcp:
                tcp.ShutdownSend();
                break;
            case NetworkStream network:
                network.Socket.Shutdown(SocketShutdown.Send);
                break;
            default:
                throw new NotSupportedException($"No half-close for {stream.GetType().Name}.");
        }
    }
}
