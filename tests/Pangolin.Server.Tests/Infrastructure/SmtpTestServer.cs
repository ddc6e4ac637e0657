using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MimeKit;
using SmtpServer;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace Pangolin.Server.Tests.Infrastructure;

/// <summary>A real SMTP server on a loopback port (SmtpServer package); received mail is parsed with MimeKit.</summary>
public sealed class SmtpTestServer : IAsyncDisposable
{
    private readonly SmtpServer.SmtpServer _server;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _running;
    private readonly Store _store = new();

    public SmtpTestServer()
    {
        Port = FreePort();
        var options = new SmtpServerOptionsBuilder()
            .ServerName("localhost")
            .Endpoint(e => e.Endpoint(new IPEndPoint(IPAddress.Loopback, Port)).IsSecure(false).AllowUnsecureAuthentication(false))
            .Build();
        var services = new SmtpServer.ComponentModel.ServiceProvider();
        services.Add(_store);
        _server = new SmtpServer.SmtpServer(options, services);
        _running = _server.StartAsync(_stop.Token);
    }

    public int Port { get; }

    public IReadOnlyCollection<MimeMessage> Messages => _store.Messages.ToArray();

    /// <summary>Waits (bounded) for the next message sent to an address.</summary>
    public async Task<MimeMessage> WaitForMessageAsync(string to, Func<MimeMessage, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (DateTime.UtcNow < deadline)
        {
            var found = _store.Messages.LastOrDefault(m => m.To.Mailboxes.Any(b => string.Equals(b.Address, to, StringComparison.OrdinalIgnoreCase))
                && (match is null || match(m)));
            if (found is not null)
            {
                return found;
            }
            await _store.Arrived.WaitAsync(TimeSpan.FromMilliseconds(200)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
        throw new TimeoutException($"No e-mail to {to} arrived; received: {string.Join(", ", _store.Messages.Select(m => m.Subject))}");
    }

    public async ValueTask DisposeAsync()
    {
        _server.Shutdown();
        await _stop.CancelAsync();
        try
        {
            await _running.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
        }
        catch (TimeoutException)
        {
        }
        _stop.Dispose();
    }

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A loopback port free now, for a server a test starts a moment later. Taken below the kernel's ephemeral range
    /// (where port 0 would land): the many outgoing connections of tests running beside this one take their local
    /// ports from that range and could take it in between. Never the same port twice in one test run; above the
    /// fixed ports some tests give raw resources (15432, 20000 + n, 21820).
    /// </summary>
    internal static int FreePort()
    {
        var ephemeralStart = 32768;
        if (File.Exists("/proc/sys/net/ipv4/ip_local_port_range")
            && int.TryParse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], out var start))
        {
            ephemeralStart = start;
        }
        for (var attempt = 0; attempt < 200 && ephemeralStart > 23000; attempt++)
        {
            var port = Random.Shared.Next(22000, ephemeralStart);
            lock (HandedOut)
            {
                if (!HandedOut.Add(port))
                {
                    continue;
                }
            }
            try
            {
                using var probe = new TcpListener(IPAddress.Loopback, port);
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
                // taken: another one
            }
        }
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class Store : MessageStore
    {
        public ConcurrentQueue<MimeMessage> Messages { get; } = new();

        public SemaphoreSlim Arrived { get; } = new(0);

        public override async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            await using var stream = new MemoryStream(buffer.ToArray());
            Messages.Enqueue(await MimeMessage.LoadAsync(stream, cancellationToken));
            Arrived.Release();
            return SmtpResponse.Ok;
        }
    }
}
