using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using Pangolin.WireGuard.Net;

namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>
/// One TCP stream of pseudo-random bytes between two network namespaces: the listener is created on a thread inside
/// the receiving namespace and the client inside the sending one (a socket stays in the namespace it was created
/// in), then both are driven from ordinary threads. Both ends hash what they saw with SHA-256.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class TcpTransfer : IDisposable
{
    private const int ChunkSize = 64 * 1024;
    private readonly Socket _listener;
    private readonly Socket _client;
    private readonly CancellationTokenSource _timeout;
    private readonly TaskCompletionSource _receiverHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _receiverReleased = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _holdReceiverAt = long.MaxValue;
    private long _sent;
    private long _received;

    private TcpTransfer(Socket listener, Socket client, TimeSpan timeout)
    {
        _listener = listener;
        _client = client;
        _timeout = new CancellationTokenSource(timeout);
    }

    public long Sent => Interlocked.Read(ref _sent);

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Completes once the receiver has stopped reading at the mark given to <see cref="Start"/>.</summary>
    public Task ReceiverHeld => _receiverHeld.Task;

    /// <summary>Lets a held receiver read on.</summary>
    public void ReleaseReceiver() => _receiverReleased.TrySetResult();

    /// <summary>Completes with both hashes, or fails with a <see cref="TimeoutException"/> that says how far it got.</summary>
    public Task<TransferResult> Completion { get; private set; } = null!;

    /// <summary>
    /// Starts sending <paramref name="bytes"/> bytes from <paramref name="fromNetns"/> to <paramref name="to"/> in
    /// <paramref name="toNetns"/>. With <paramref name="holdReceiverAt"/> the receiver stops reading once it has that
    /// many bytes, until <see cref="ReleaseReceiver"/>: the sender soon blocks with the rest unsent, so a test can act
    /// mid-stream however late its own thread is scheduled.
    /// </summary>
    public static TcpTransfer Start(string fromNetns, string toNetns, IPAddress to, long bytes, TimeSpan timeout, int seed = 1, long holdReceiverAt = long.MaxValue)
    {
        var listener = NetNamespace.Run(toNetns, () =>
        {
            var socket = new Socket(to.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(to, 0));
            socket.Listen(1);
            return socket;
        });
        Socket client;
        try
        {
            client = NetNamespace.Run(fromNetns, () => new Socket(to.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        var transfer = new TcpTransfer(listener, client, timeout) { _holdReceiverAt = holdReceiverAt };
        transfer.Completion = transfer.RunAsync(new IPEndPoint(to, ((IPEndPoint)listener.LocalEndPoint!).Port), bytes, seed);
        return transfer;
    }

    private async Task<TransferResult> RunAsync(IPEndPoint to, long bytes, int seed)
    {
        var token = _timeout.Token;
        var elapsed = Stopwatch.StartNew();
        try
        {
            var accepting = _listener.AcceptAsync(token).AsTask();
            await _client.ConnectAsync(to, token);
            using var server = await accepting;
            var sending = Task.Run(() => SendAsync(bytes, seed, token), token);
            var receiving = Task.Run(() => ReceiveAsync(server, token), token);
            var sent = await sending;
            var (receivedBytes, received) = await receiving;
            return new TransferResult(bytes, receivedBytes, sent, received, elapsed.Elapsed);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            throw new TimeoutException($"TCP transfer to {to}: {Sent} bytes sent, {Received} received of {bytes} when the {elapsed.Elapsed} ran out");
        }
    }

    private async Task<string> SendAsync(long bytes, int seed, CancellationToken token)
    {
        var random = new Random(seed);
        var chunk = new byte[ChunkSize];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var left = bytes;
        while (left > 0)
        {
            var n = (int)Math.Min(chunk.Length, left);
            random.NextBytes(chunk.AsSpan(0, n));
            hash.AppendData(chunk, 0, n);
            await _client.SendAsync(chunk.AsMemory(0, n), SocketFlags.None, token);
            left -= n;
            Interlocked.Add(ref _sent, n);
        }
        _client.Shutdown(SocketShutdown.Send);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private async Task<(long Bytes, string Hash)> ReceiveAsync(Socket server, CancellationToken token)
    {
        var buffer = new byte[ChunkSize];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        while (true)
        {
            if (total >= _holdReceiverAt && !_receiverReleased.Task.IsCompleted)
            {
                _receiverHeld.TrySetResult();
                await _receiverReleased.Task.WaitAsync(token);
            }
            var n = await server.ReceiveAsync(buffer, SocketFlags.None, token);
            if (n == 0)
            {
                return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
            }
            hash.AppendData(buffer, 0, n);
            total += n;
            Interlocked.Add(ref _received, n);
        }
    }

    public void Dispose()
    {
        _timeout.Cancel();
        _client.Dispose();
        _listener.Dispose();
        _timeout.Dispose();
    }
}

internal sealed record TransferResult(long Bytes, long ReceivedBytes, string SentSha256, string ReceivedSha256, TimeSpan Elapsed)
{
    public double Gbps => ReceivedBytes * 8 / Elapsed.TotalSeconds / 1e9;
}
