using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// Flow control against the Linux kernel (RFC 9293 §3.8.6): a reader that pauses stops the sender through the window
/// — the stack's receive side never takes more than its buffer, the kernel's send blocks — and everything arrives
/// once reading resumes; the same with the kernel as the reader that pauses and the stack's WriteAsync waiting.
/// </summary>
[Trait("Category", "Kernel")]
public sealed class TcpBackPressureKernelTests
{
    private const int ReceiveBuffer = 256 * 1024;
    private const int SendBuffer = 256 * 1024;
    private const long Size = 16 << 20;
    private static readonly TimeSpan Pause = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_stack_reader_that_pauses_blocks_the_kernel_sender_within_the_receive_buffer_and_then_gets_everything()
    {
        using var peer = KernelPeer.Create(options: new NetworkStackOptions { TcpReceiveBufferSize = ReceiveBuffer });
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.Any, 8086));
        using var client = NetNamespace.Run(peer.Namespace.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var connect = client.ConnectAsync(new IPEndPoint(KernelPeer.StackV4, 8086), ct).AsTask();
        await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);

        // The kernel sends as fast as it can while nobody reads on the stack's side.
        var sent = new StrongBox<long>(0);
        var sending = Task.Run(async () =>
        {
            var result = await Transfer.SendAsync(client, Size, seed: 21, ct, sent);
            client.Shutdown(SocketShutdown.Send);
            return result;
        }, ct);
        var stalled = await WaitForStallAsync(sent, ct);
        var info = KernelTcpInfo.Of(client);
        var kernelSendBuffer = client.SendBufferSize;

        // The kernel's send blocks: what it managed to hand over fits in the stack's window plus its own buffer, give
        // or take one socket buffer of 64 KiB (the kernel checks for room before it fills a buffer, so its queue can
        // pass SO_SNDBUF by one: CI saw 7,680 bytes over)...
        Assert.False(sending.IsCompleted, "the kernel's send is blocked");
        Assert.True(stalled <= ReceiveBuffer + kernelSendBuffer + (64 * 1024), $"sent {stalled} while the reader paused; receive buffer {ReceiveBuffer}, kernel SO_SNDBUF {kernelSendBuffer}");
        // ...and the stack acknowledged (so holds) no more than its receive buffer (+1: the kernel counts our SYN's ACK).
        Assert.InRange(info.BytesAcked, ReceiveBuffer / 2, ReceiveBuffer + 1);
        TestContext.Current.TestOutputHelper?.WriteLine($"paused: kernel sent {stalled}, stack acknowledged {info.BytesAcked}, kernel SO_SNDBUF {kernelSendBuffer}, not sent {info.NotSentBytes}");

        // The reader resumes: everything arrives, intact.
        var received = await Transfer.ReceiveAsync(server, ct).WaitAsync(Deadline, ct);
        var expected = await sending.WaitAsync(Deadline, ct);
        Assert.Equal(Size, received.Length);
        Assert.Equal(expected.Hash, received.Hash);
    }

    [Fact]
    public async Task A_kernel_reader_that_pauses_leaves_the_stack_writer_pending_and_then_gets_everything()
    {
        using var peer = KernelPeer.Create(options: new NetworkStackOptions { TcpSendBufferSize = SendBuffer });
        var ct = TestContext.Current.CancellationToken;
        using var kernelListener = NetNamespace.Run(peer.Namespace.Name, () =>
        {
            var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(KernelPeer.KernelV6, 9091));
            socket.Listen();
            return socket;
        });
        var accepting = kernelListener.AcceptAsync(ct).AsTask();
        await using var stream = await peer.Stack.ConnectTcpAsync(new IPEndPoint(KernelPeer.KernelV6, 9091), ct).WaitAsync(Deadline, ct);
        using var kernel = await accepting.WaitAsync(Deadline, ct);

        var written = new StrongBox<long>(0);
        var writing = Task.Run(async () =>
        {
            var result = await Transfer.SendAsync(stream, Size, seed: 22, ct, written);
            ((Pangolin.Netstack.Tcp.TcpStream)stream).ShutdownSend();
            return result;
        }, ct);
        var stalled = await WaitForStallAsync(written, ct);
        var info = KernelTcpInfo.Of(kernel);
        var kernelReceiveBuffer = kernel.ReceiveBufferSize;

        // WriteAsync is pending: the stack holds its send buffer, the kernel its receive buffer, and no more.
        Assert.False(writing.IsCompleted, "the stack's WriteAsync is pending");
        Assert.True(stalled <= SendBuffer + kernelReceiveBuffer, $"wrote {stalled} while the kernel did not read; send buffer {SendBuffer}, kernel SO_RCVBUF {kernelReceiveBuffer}");
        Assert.True(stalled >= SendBuffer, $"the send buffer filled ({stalled})");
        Assert.InRange(info.BytesReceived, 1, kernelReceiveBuffer);
        TestContext.Current.TestOutputHelper?.WriteLine($"paused: stack wrote {stalled}, kernel received {info.BytesReceived}, kernel SO_RCVBUF {kernelReceiveBuffer}");

        var received = await Transfer.ReceiveAsync(kernel, ct).WaitAsync(Deadline, ct);
        var expected = await writing.WaitAsync(Deadline, ct);
        Assert.Equal(Size, received.Length);
        Assert.Equal(expected.Hash, received.Hash);
    }

    /// <summary>
    /// Lets the sender run for <see cref="Pause"/> with nobody reading, then checks that it has stopped: the count it
    /// reached stays the same for a further half second. Real time: the kernel's zero-window probing is real time.
    /// </summary>
    private static async Task<long> WaitForStallAsync(StrongBox<long> progress, CancellationToken ct)
    {
        await Task.Delay(Pause, ct);
        var reached = Interlocked.Read(ref progress.Value);
        await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        Assert.Equal(reached, Interlocked.Read(ref progress.Value));
        return reached;
    }
}
