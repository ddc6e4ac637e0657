using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// TCP between the stack and the Linux kernel through a TUN in a namespace: the kernel as client of a stack
/// listener and the stack as client of a kernel listener, transfers both ways with matching checksums, half-close.
/// </summary>
[Trait("Category", "Kernel")]
public sealed class TcpKernelTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_kernel_connects_to_a_stack_listener_and_they_exchange_data_both_ways(bool ipv6)
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.IPv6Any, 8080));
        using var client = NetNamespace.Run(peer.Namespace.Name, () =>
            new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var connect = client.ConnectAsync(new IPEndPoint(ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4, 8080), ct).AsTask();
        await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);

        // Kernel → stack: 20 MB, then the kernel half-closes; the stack reads to the end.
        var upload = RandomNumberGenerator.GetBytes(20 << 20);
        var sending = Task.Run(async () =>
        {
            await client.SendAsync(upload, ct);
            client.Shutdown(SocketShutdown.Send);
        }, ct);
        var received = await ReadToEndAsync(server, ct).WaitAsync(Deadline, ct);
        await sending.WaitAsync(Deadline, ct);
        Assert.Equal(SHA256.HashData(upload), SHA256.HashData(received));

        // Stack → kernel after the kernel's half-close: 20 MB back, then the stack closes.
        var download = RandomNumberGenerator.GetBytes(20 << 20);
        var reading = Task.Run(async () =>
        {
            using var all = new MemoryStream();
            var buffer = new byte[65536];
            int n;
            while ((n = await client.ReceiveAsync(buffer, ct)) > 0)
            {
                all.Write(buffer, 0, n);
            }
            return all.ToArray();
        }, ct);
        await server.WriteAsync(download, ct).AsTask().WaitAsync(Deadline, ct);
        await server.DisposeAsync();
        var back = await reading.WaitAsync(Deadline, ct);
        Assert.Equal(SHA256.HashData(download), SHA256.HashData(back));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_stack_connects_to_a_kernel_listener_and_they_exchange_data_both_ways(bool ipv6)
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        using var kernelListener = NetNamespace.Run(peer.Namespace.Name, () =>
        {
            var socket = new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 9090));
            socket.Listen();
            return socket;
        });
        var accepting = kernelListener.AcceptAsync(ct).AsTask();
        await using var stream = await peer.Stack.ConnectTcpAsync(new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 9090), ct).WaitAsync(Deadline, ct);
        using var kernel = await accepting.WaitAsync(Deadline, ct);

        var upload = RandomNumberGenerator.GetBytes(20 << 20);
        var reading = Task.Run(async () =>
        {
            using var all = new MemoryStream();
            var buffer = new byte[65536];
            int n;
            while ((n = await kernel.ReceiveAsync(buffer, ct)) > 0)
            {
                all.Write(buffer, 0, n);
            }
            return all.ToArray();
        }, ct);
        await stream.WriteAsync(upload, ct).AsTask().WaitAsync(Deadline, ct);
        ((Pangolin.Netstack.Tcp.TcpStream)stream).ShutdownSend();
        var received = await reading.WaitAsync(Deadline, ct);
        Assert.Equal(SHA256.HashData(upload), SHA256.HashData(received));

        var download = RandomNumberGenerator.GetBytes(20 << 20);
        var sending = Task.Run(async () =>
        {
            await kernel.SendAsync(download, ct);
            kernel.Shutdown(SocketShutdown.Send);
        }, ct);
        var back = await ReadToEndAsync(stream, ct).WaitAsync(Deadline, ct);
        await sending.WaitAsync(Deadline, ct);
        Assert.Equal(SHA256.HashData(download), SHA256.HashData(back));
    }

    [Fact]
    public async Task A_thousand_concurrent_kernel_connections_each_get_their_own_data_echoed()
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        const int Connections = 1000;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.Any, 7), backlog: Connections);
        var echoes = new List<Task>();
        var accepting = Task.Run(async () =>
        {
            for (var i = 0; i < Connections; i++)
            {
                var connection = await listener.AcceptAsync(ct);
                echoes.Add(Task.Run(async () =>
                {
                    await using (connection)
                    {
                        var buffer = new byte[4096];
                        int n;
                        while ((n = await connection.ReadAsync(buffer, ct)) > 0)
                        {
                            await connection.WriteAsync(buffer.AsMemory(0, n), ct);
                        }
                    }
                }, ct));
            }
        }, ct);
        var clients = NetNamespace.Run(peer.Namespace.Name, () =>
            Enumerable.Range(0, Connections).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToArray());
        try
        {
            await Task.WhenAll(clients.Select(async (client, i) =>
            {
                await client.ConnectAsync(new IPEndPoint(KernelPeer.StackV4, 7), ct);
                var message = System.Text.Encoding.ASCII.GetBytes($"connection {i} says hello " + new string('x', i % 700));
                await client.SendAsync(message, ct);
                client.Shutdown(SocketShutdown.Send);
                using var all = new MemoryStream();
                var buffer = new byte[2048];
                int n;
                while ((n = await client.ReceiveAsync(buffer, ct)) > 0)
                {
                    all.Write(buffer, 0, n);
                }
                Assert.Equal(message, all.ToArray());
            })).WaitAsync(Deadline, ct);
            await accepting.WaitAsync(Deadline, ct);
            await Task.WhenAll(echoes).WaitAsync(Deadline, ct);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Curl_fetches_a_page_from_a_stack_listener()
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.Any, 80));
        var body = string.Concat(Enumerable.Repeat("served by the userspace stack\n", 5000));
        var serving = Task.Run(async () =>
        {
            await using var connection = await listener.AcceptAsync(ct);
            var request = new byte[4096];
            var length = 0;
            while (!System.Text.Encoding.ASCII.GetString(request, 0, length).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await connection.ReadAsync(request.AsMemory(length), ct);
                if (n == 0)
                {
                    return;
                }
                length += n;
            }
            var response = $"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
            await connection.WriteAsync(System.Text.Encoding.ASCII.GetBytes(response), ct);
        }, ct);
        var (code, output) = await Task.Run(() => peer.Run("curl", "-sS", "--max-time", "20", $"http://{KernelPeer.StackV4}/"), ct);
        await serving.WaitAsync(Deadline, ct);
        Assert.True(code == 0, output);
        Assert.Equal(body, output);
    }

    [Theory]
    [InlineData(1, 0.01, 0.01, 0.02)]
    [InlineData(2, 0.03, 0.0, 0.0)]
    [InlineData(3, 0.0, 0.05, 0.05)]
    public async Task Transfers_both_ways_survive_loss_duplication_and_reordering(int seed, double loss, double duplication, double reordering)
    {
        using var peer = KernelPeer.Create();
        var impairment = new Impairment(seed, loss, duplication, reordering);
        peer.Link.Impair = impairment;
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.Any, 8081));
        using var client = NetNamespace.Run(peer.Namespace.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var connect = client.ConnectAsync(new IPEndPoint(KernelPeer.StackV4, 8081), ct).AsTask();
        await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);

        var upload = RandomNumberGenerator.GetBytes(4 << 20);
        var download = RandomNumberGenerator.GetBytes(4 << 20);
        var kernelSide = Task.Run(async () =>
        {
            var sending = Task.Run(async () =>
            {
                await client.SendAsync(upload, ct);
                client.Shutdown(SocketShutdown.Send);
            }, ct);
            using var all = new MemoryStream();
            var buffer = new byte[65536];
            int n;
            while ((n = await client.ReceiveAsync(buffer, ct)) > 0)
            {
                all.Write(buffer, 0, n);
            }
            await sending;
            return all.ToArray();
        }, ct);
        var stackSending = Task.Run(async () =>
        {
            await server.WriteAsync(download, ct);
            ((Pangolin.Netstack.Tcp.TcpStream)server).ShutdownSend();
        }, ct);
        var received = await ReadToEndAsync(server, ct).WaitAsync(Deadline, ct);
        await stackSending.WaitAsync(Deadline, ct);
        var back = await kernelSide.WaitAsync(Deadline, ct);

        Assert.Equal(SHA256.HashData(upload), SHA256.HashData(received));
        Assert.Equal(SHA256.HashData(download), SHA256.HashData(back));
        Assert.True(impairment.Dropped + impairment.Duplicated + impairment.Reordered > 50, "the link was impaired");
    }

    private static async Task<byte[]> ReadToEndAsync(Stream stream, CancellationToken ct)
    {
        using var all = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = await stream.ReadAsync(buffer, ct)) > 0)
        {
            all.Write(buffer, 0, n);
        }
        return all.ToArray();
    }
}
