using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// .NET's own networking as the stack's peer through the kernel: a TcpClient made in the kernel's namespace talks
/// to a stack listener over a NetworkStream; an HttpClient whose SocketsHttpHandler connects through the stack
/// (ConnectCallback → ConnectTcpAsync, as the tunnel's proxy does) GETs and POSTs megabytes against Kestrel
/// listening in the kernel's namespace, over HTTP/1.1 and over HTTP/2 without TLS (h2c, prior knowledge).
/// </summary>
[Trait("Category", "Kernel")]
public sealed class DotNetClientKernelTests
{
    private const int Http1Port = 8090;
    private const int Http2Port = 8091;
    private const long Megabytes = 3 << 20;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_TcpClient_in_the_kernel_namespace_exchanges_data_with_a_stack_listener_over_a_NetworkStream()
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.Any, 8089));
        var echoing = Task.Run(async () =>
        {
            await using var connection = await listener.AcceptAsync(ct);
            await connection.CopyToAsync(connection, ct); // echo until the client half-closes
        }, ct);
        using var client = NetNamespace.Run(peer.Namespace.Name, () => new TcpClient(AddressFamily.InterNetwork));
        await client.ConnectAsync(KernelPeer.StackV4, 8089, ct).AsTask().WaitAsync(Deadline, ct);
        await using var stream = client.GetStream();

        var reading = Task.Run(() => Transfer.ReceiveAsync(stream, ct), ct);
        var sent = await Transfer.SendAsync(stream, Megabytes, seed: 31, ct).WaitAsync(Deadline, ct);
        client.Client.Shutdown(SocketShutdown.Send);
        var echoed = await reading.WaitAsync(Deadline, ct);
        await echoing.WaitAsync(Deadline, ct);

        Assert.Equal(Megabytes, echoed.Length);
        Assert.Equal(sent.Hash, echoed.Hash);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task HttpClient_through_the_stack_gets_and_posts_megabytes_to_Kestrel_in_the_kernel_namespace(int httpVersion)
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        await using var kestrel = await StartKestrelAsync(peer, ct);
        var connections = 0;
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                Interlocked.Increment(ref connections);
                return await peer.Stack.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port), token);
            },
        };
        using var http = new HttpClient(handler)
        {
            BaseAddress = new Uri($"http://{KernelPeer.KernelV4}:{(httpVersion == 2 ? Http2Port : Http1Port)}/"),
            DefaultRequestVersion = httpVersion == 2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Deadline,
        };

        // GET: Kestrel streams seeded bytes; the client hashes what arrives.
        using (var response = await http.GetAsync($"bytes?length={Megabytes}&seed=41", HttpCompletionOption.ResponseHeadersRead, ct))
        {
            response.EnsureSuccessStatusCode();
            Assert.Equal(httpVersion == 2 ? HttpVersion.Version20 : HttpVersion.Version11, response.Version);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            var received = await Transfer.ReceiveAsync(body, ct);
            Assert.Equal(Megabytes, received.Length);
            Assert.Equal(Transfer.ExpectedHash(Megabytes, 41), received.Hash);
        }

        // POST: the client uploads seeded bytes; Kestrel answers with the length and hash it received.
        var upload = new byte[Megabytes];
        new SeededBytes(42).Fill(upload);
        using (var response = await http.PostAsync("sha256", new ByteArrayContent(upload), ct))
        {
            response.EnsureSuccessStatusCode();
            Assert.Equal($"{Megabytes} {Convert.ToHexString(Transfer.ExpectedHash(Megabytes, 42))}", await response.Content.ReadAsStringAsync(ct));
        }

        // A few small requests more, concurrently: HTTP/2 multiplexes them on its one connection; HTTP/1.1 opens more.
        var small = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => http.GetByteArrayAsync($"bytes?length={1000 + i}&seed={i}", ct)));
        for (var i = 0; i < small.Length; i++)
        {
            Assert.Equal(1000 + i, small[i].Length);
            Assert.Equal(Transfer.ExpectedHash(1000 + i, (ulong)i), System.Security.Cryptography.SHA256.HashData(small[i]));
        }
        if (httpVersion == 2)
        {
            Assert.Equal(1, connections);
        }
        else
        {
            Assert.InRange(connections, 1, 4);
        }
    }

    /// <summary>
    /// Kestrel in the test process, its listen sockets created in the kernel's namespace (sockets belong to the
    /// namespace of the thread that creates them; Kestrel only binds and listens on what it is given).
    /// </summary>
    private static async Task<WebApplication> StartKestrelAsync(KernelPeer peer, CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseSockets(options => options.CreateBoundListenSocket = endpoint =>
            NetNamespace.Run(peer.Namespace.Name, () => SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint)));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(KernelPeer.KernelV4, Http1Port, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.Listen(KernelPeer.KernelV4, Http2Port, listen => listen.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        app.Run(async context =>
        {
            var token = context.RequestAborted;
            if (context.Request.Path == "/bytes")
            {
                var length = long.Parse(context.Request.Query["length"]!, System.Globalization.CultureInfo.InvariantCulture);
                var seed = ulong.Parse(context.Request.Query["seed"]!, System.Globalization.CultureInfo.InvariantCulture);
                context.Response.ContentLength = length;
                await Transfer.SendAsync((data, t) => context.Response.Body.WriteAsync(data, t), length, seed, token);
            }
            else if (context.Request.Path == "/sha256" && HttpMethods.IsPost(context.Request.Method))
            {
                var received = await Transfer.ReceiveAsync((buffer, t) => context.Request.Body.ReadAsync(buffer, t), token);
                await context.Response.WriteAsync($"{received.Length} {Convert.ToHexString(received.Hash)}", token);
            }
            else
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
            }
        });
        await app.StartAsync(ct);
        return app;
    }
}
