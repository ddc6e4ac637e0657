using System.Net.Sockets;
using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Tcp;

/// <summary>
/// Reads and writes that have to wait: the connection finishes them itself as segments arrive (data copied into the
/// waiting read's buffer, the waiting write's data appended as ACKs free room), so a cancelled one must stop touching
/// the caller's buffer, and a second concurrent one is refused as on a socket.
/// </summary>
public sealed class TcpPendingOperationTests
{
    private const int SendBuffer = 8192;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Acknowledges everything the stack has sent so far and returns the payload bytes it carried.</summary>
    private uint _acknowledged;

    private List<byte> AcknowledgeAll(TcpHarness h)
    {
        var payload = new List<byte>();
        foreach (var segment in h.TakeSent())
        {
            payload.AddRange(segment.Payload);
        }
        _acknowledged += (uint)payload.Count;
        h.SendAck(h.StackIss + 1 + _acknowledged);
        return payload;
    }

    /// <summary>Plays the acknowledging peer until <paramref name="total"/> bytes arrived and the write completed.</summary>
    private async Task<List<byte>> ReceiveAllAsync(TcpHarness h, Task write, int total)
    {
        var received = new List<byte>();
        for (var rounds = 0; rounds < 500 && !(write.IsCompleted && received.Count >= total); rounds++)
        {
            received.AddRange(AcknowledgeAll(h));
            await Task.WhenAny(write, Task.Delay(5, Token));
        }
        await write.WaitAsync(Wait, Token);
        return received;
    }

    [Fact]
    public async Task A_write_larger_than_the_send_buffer_completes_once_ACKs_made_room_for_all_of_it_in_order()
    {
        using var h = new TcpHarness(sendBufferSize: SendBuffer);
        var stream = await h.PassiveOpenAsync();
        var data = TcpHarness.Bytes(5 * SendBuffer);

        var write = stream.WriteAsync(data, Token).AsTask();
        Assert.False(write.IsCompleted);

        Assert.Equal(data, await ReceiveAllAsync(h, write, data.Length));
    }

    [Fact]
    public async Task A_cancelled_write_throws_and_sends_nothing_more_of_the_callers_buffer()
    {
        using var h = new TcpHarness(sendBufferSize: SendBuffer);
        var stream = await h.PassiveOpenAsync();
        var data = TcpHarness.Bytes(4 * SendBuffer);
        using var cancel = new CancellationTokenSource();

        var original = data.ToArray();

        var write = stream.WriteAsync(data, cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(Wait, Token));
        Array.Fill(data, (byte)0xEE); // the caller reuses its buffer

        // What was copied into the send buffer before the wait still goes out; not a byte more.
        Assert.Equal(original[..SendBuffer], await ReceiveAllAsync(h, Task.CompletedTask, SendBuffer));
        AcknowledgeAll(h);
        Assert.Empty(AcknowledgeAll(h));
    }

    [Fact]
    public async Task A_second_concurrent_read_or_write_is_refused_and_the_first_goes_on()
    {
        using var h = new TcpHarness(sendBufferSize: SendBuffer);
        var stream = await h.PassiveOpenAsync();

        var read = stream.ReadAsync(new byte[16], Token).AsTask();
        await Assert.ThrowsAsync<InvalidOperationException>(() => stream.ReadAsync(new byte[16], Token).AsTask());
        var write = stream.WriteAsync(TcpHarness.Bytes(2 * SendBuffer), Token).AsTask();
        await Assert.ThrowsAsync<InvalidOperationException>(() => stream.WriteAsync(new byte[1], Token).AsTask());

        h.SendData(TcpHarness.Bytes(5));
        Assert.Equal(5, await read.WaitAsync(Wait, Token));
        Assert.Equal(2 * SendBuffer, (await ReceiveAllAsync(h, write, 2 * SendBuffer)).Count);
    }

    [Fact]
    public async Task A_waiting_read_gets_the_data_of_the_next_segment_and_a_zero_byte_read_leaves_it_readable()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        var probe = stream.ReadAsync(Memory<byte>.Empty, Token).AsTask();
        Assert.False(probe.IsCompleted);
        h.SendData([1, 2, 3]);
        Assert.Equal(0, await probe.WaitAsync(Wait, Token));

        var buffer = new byte[16];
        Assert.Equal(3, await stream.ReadAsync(buffer, Token).AsTask().WaitAsync(Wait, Token));
        Assert.Equal([1, 2, 3], buffer[..3]);

        var read = stream.ReadAsync(buffer, Token).AsTask();
        Assert.False(read.IsCompleted);
        h.SendData([4, 5]);
        Assert.Equal(2, await read.WaitAsync(Wait, Token));
        Assert.Equal([4, 5], buffer[..2]);
    }

    [Fact]
    public async Task A_cancelled_read_throws_and_the_data_that_arrives_later_goes_to_the_next_read()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var abandoned = new byte[16];
        using var cancel = new CancellationTokenSource();

        var read = stream.ReadAsync(abandoned, cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Wait, Token));
        h.SendData([7, 8, 9]);

        Assert.All(abandoned, b => Assert.Equal(0, b));
        var buffer = new byte[16];
        Assert.Equal(3, await stream.ReadAsync(buffer, Token).AsTask().WaitAsync(Wait, Token));
        Assert.Equal([7, 8, 9], buffer[..3]);
    }

    [Fact]
    public async Task A_FIN_ends_a_waiting_read_with_zero()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        var read = stream.ReadAsync(new byte[16], Token).AsTask();
        h.SendFin();

        Assert.Equal(0, await read.WaitAsync(Wait, Token));
    }

    [Fact]
    public async Task A_reset_fails_a_waiting_read_and_a_waiting_write()
    {
        using var h = new TcpHarness(sendBufferSize: SendBuffer);
        var stream = await h.PassiveOpenAsync();

        var read = stream.ReadAsync(new byte[16], Token).AsTask();
        var write = stream.WriteAsync(TcpHarness.Bytes(2 * SendBuffer), Token).AsTask();
        h.Send(h.PeerNext, h.PeerAck, TcpFlags.Rst);

        var readError = await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(Wait, Token));
        var writeError = await Assert.ThrowsAsync<IOException>(() => write.WaitAsync(Wait, Token));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(readError.InnerException).SocketErrorCode);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(writeError.InnerException).SocketErrorCode);
    }
}
