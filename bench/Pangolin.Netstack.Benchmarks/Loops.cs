namespace Pangolin.Netstack.Benchmarks;

/// <summary>What the loops of a running scenario share with the sampler.</summary>
internal sealed class Progress
{
    private long _count;
    private int _stopping;

    /// <summary>Bytes received (bulk) or transactions completed (request/response).</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Set once the measurement is over: writers finish their current write and half-close.</summary>
    public bool Stopping => Volatile.Read(ref _stopping) != 0;

    public void Add(long amount) => Interlocked.Add(ref _count, amount);

    public void Stop() => Volatile.Write(ref _stopping, 1);
}

/// <summary>
/// The send and receive loops, the same for both paths: they see only a <see cref="Stream"/> (a kernel socket's
/// NetworkStream or our stack's TcpStream) and use its Memory-based async calls.
/// </summary>
internal static class Loops
{
    public const int BulkBufferSize = 64 * 1024;

    /// <summary>Writes 64 KiB at a time until told to stop, then half-closes.</summary>
    public static async Task BulkWriteAsync(Stream stream, Progress progress, CancellationToken cancellationToken)
    {
        var buffer = new byte[BulkBufferSize];
        Random.Shared.NextBytes(buffer);
        while (!progress.Stopping)
        {
            await stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        StreamShutdown.ShutdownSend(stream);
    }

    /// <summary>Reads into 64 KiB until the end of the stream, counting the bytes.</summary>
    public static async Task BulkReadAsync(Stream stream, Progress progress, CancellationToken cancellationToken)
    {
        var buffer = new byte[BulkBufferSize];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            progress.Add(read);
        }
        StreamShutdown.ShutdownSend(stream);
    }

    /// <summary>
    /// The client of the request/response test: one byte out, waits for the one-byte answer, counts a transaction,
    /// again; when told to stop, half-closes and waits for the server to close in turn.
    /// </summary>
    public static async Task RequestAsync(Stream stream, Progress progress, CancellationToken cancellationToken)
    {
        var request = new byte[] { 0x2a };
        var response = new byte[1];
        while (!progress.Stopping)
        {
            await stream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
            if (await stream.ReadAsync(response, cancellationToken).ConfigureAwait(false) != 1)
            {
                throw new EndOfStreamException("The server closed the connection in the middle of a transaction.");
            }
            if (response[0] != request[0])
            {
                throw new InvalidDataException($"The server echoed 0x{response[0]:x2} for 0x{request[0]:x2}.");
            }
            progress.Add(1);
            request[0]++;
        }
        StreamShutdown.ShutdownSend(stream);
        if (await stream.ReadAsync(response, cancellationToken).ConfigureAwait(false) != 0)
        {
            throw new InvalidDataException("The server sent a byte nobody asked for.");
        }
    }

    /// <summary>The server of the request/response test: echoes each byte until the client half-closes.</summary>
    public static async Task EchoAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[1];
        while (await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false) == 1)
        {
            await stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        StreamShutdown.ShutdownSend(stream);
    }
}
