using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Server.Sites;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Infrastructure;

/// <summary>
/// A site as it is deployed, in three network namespaces that the test builds and removes: the server's (the exit
/// node's UDP socket and a relay of the public port to the server's loopback listener), the site's (where newt runs,
/// as nobody) and the site's private network behind it (nginx and other backends), reachable from the site's
/// namespace only: the site does not forward, so the only way in is the newt's tunnel.
/// </summary>
public sealed class SiteNetwork : IDisposable
{
    public const string ServerAddress = "10.240.1.1";
    public const string SiteAddress = "10.240.1.2";
    public const string SiteLanAddress = "10.240.2.1";
    public const string BackendAddress = "10.240.2.2";
    public const int Nobody = 65534;
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private readonly CancellationTokenSource _stop = new();
    private readonly List<IDisposable> _cleanup = [];
    private string? _newtApp;
    private bool _disposed;

    private SiteNetwork(string work)
    {
        Work = work;
        ServerNs = Track(NetworkNamespace.Create());
        SiteNs = Track(NetworkNamespace.Create());
        LanNs = Track(NetworkNamespace.Create());
        ServerNs.AddVethPair("wan0", SiteNs, "wan1");
        ServerNs.AddAddress("wan0", ServerAddress + "/24");
        ServerNs.SetUp("wan0");
        SiteNs.AddAddress("wan1", SiteAddress + "/24");
        SiteNs.SetUp("wan1");
        SiteNs.AddVethPair("lan0", LanNs, "lan1");
        SiteNs.AddAddress("lan0", SiteLanAddress + "/24");
        SiteNs.SetUp("lan0");
        LanNs.AddAddress("lan1", BackendAddress + "/24");
        LanNs.SetUp("lan1");
        // Even with a route, the server cannot reach the private network: the site does not forward (no NAT, no
        // ip_forward).
        ServerNs.Ip("route", "add", "10.240.2.0/24", "via", SiteAddress);
        LanNs.Ip("route", "add", "default", "via", SiteLanAddress);
    }

    /// <summary>A scratch folder readable by nobody (nginx's workers and the newt run as nobody).</summary>
    public string Work { get; }

    public NetworkNamespace ServerNs { get; }

    public NetworkNamespace SiteNs { get; }

    public NetworkNamespace LanNs { get; }

    /// <summary>Cancelled when the network stops: background loops end with it.</summary>
    public CancellationToken Stopping => _stop.Token;

    /// <summary>Where a newt in the site's namespace reaches the server's public port (relayed by <see cref="StartPublicRelay"/>).</summary>
    public static Uri ServerEndpoint(int externalPort) => new($"http://{ServerAddress}:{externalPort}/");

    /// <summary>The exit node's UDP socket, in the server's namespace (register as the server's <see cref="ExitNodeBind"/>).</summary>
    public ExitNodeBind ExitNodeBind => port => LinuxUdpTransport.BindInNamespace(ServerNs.Name, new LinuxUdpTransportOptions { Port = port });

    /// <summary>
    /// The server's side of this deployment: its exit node's UDP socket in the server's namespace, and the real clock
    /// (the exit node's WireGuard lives through several handshakes with one peer; on a frozen clock its flood
    /// protection refuses every initiation after the first).
    /// </summary>
    public void ConfigureServer(IServiceCollection services)
    {
        services.AddSingleton(ExitNodeBind);
        services.AddSingleton(TimeProvider.System);
    }

    public static SiteNetwork Create(string name)
    {
        var work = Directory.CreateTempSubdirectory($"pangolin-{name}-").FullName;
        File.SetUnixFileMode(work, (UnixFileMode)0x1ED); // 0755
        try
        {
            return new SiteNetwork(work);
        }
        catch
        {
            Directory.Delete(work, recursive: true);
            throw;
        }
    }

    public T Track<T>(T disposable) where T : IDisposable
    {
        _cleanup.Add(disposable);
        return disposable;
    }

    /// <summary>
    /// nginx in the private network with <paramref name="servers"/> (server blocks; temp paths and the pid file are
    /// set here), ready when the site's namespace can connect to <paramref name="readyPort"/> on the backend.
    /// </summary>
    public async Task StartNginxAsync(string servers, int readyPort, CancellationToken ct)
    {
        var temp = Directory.CreateDirectory(Path.Combine(Work, "nginx-temp")).FullName;
        var config = Path.Combine(Work, "nginx.conf");
        await File.WriteAllTextAsync(config, $$"""
            daemon off;
            worker_processes 1;
            pid {{Work}}/nginx.pid;
            error_log stderr warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                default_type text/plain;
                client_body_temp_path {{temp}}/body;
                proxy_temp_path {{temp}}/proxy;
                fastcgi_temp_path {{temp}}/fastcgi;
                uwsgi_temp_path {{temp}}/uwsgi;
                scgi_temp_path {{temp}}/scgi;
            {{servers}}
            }
            """, ct);
        var nginx = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", LanNs.Name, "nginx", "-p", Work, "-c", config, "-e", "stderr"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("nginx did not start");
        _cleanup.Add(new Stopper(() =>
        {
            nginx.Kill(entireProcessTree: true);
            nginx.WaitForExit();
            nginx.Dispose();
        }));
        var deadline = DateTime.UtcNow + Within;
        while (true)
        {
            try
            {
                using var client = SiteNs.Enter(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
                await client.ConnectAsync(new IPEndPoint(IPAddress.Parse(BackendAddress), readyPort), ct);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !nginx.HasExited)
            {
                await Task.Delay(50, ct);
            }
            catch (SocketException e)
            {
                throw new InvalidOperationException($"nginx did not come up in the private network: {e.Message}; {(nginx.HasExited ? await nginx.StandardError.ReadToEndAsync(ct) : "still running")}", e);
            }
        }
    }

    /// <summary>A UDP service on the backend's address that answers every datagram reversed.</summary>
    public void StartUdpEcho(int port)
    {
        var udp = Track(LanNs.Enter(() =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(BackendAddress), port));
            return socket;
        }));
        _ = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            EndPoint any = new IPEndPoint(IPAddress.Any, 0);
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var received = await udp.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
                    buffer.AsSpan(0, received.ReceivedBytes).Reverse();
                    await udp.SendToAsync(buffer.AsMemory(0, received.ReceivedBytes), SocketFlags.None, received.RemoteEndPoint, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // the network stops
            }
        }, CancellationToken.None);
    }

    /// <summary>A TCP listener on the backend's address whose connections <paramref name="handle"/> serves.</summary>
    public void ServeInLan(int port, Func<Socket, Task> handle)
    {
        var listener = Track(LanNs.Enter(() =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(BackendAddress), port));
            socket.Listen(64);
            return socket;
        }));
        Serve(listener, handle);
    }

    /// <summary>
    /// The public port in the server's namespace, relayed to the server's loopback listener. The relay outlives server
    /// restarts (Kestrel did not serve a handed-over socket again after a restart); a restart still drops every
    /// connection, since the relay dials the server anew for each.
    /// </summary>
    public void StartPublicRelay(int externalPort)
    {
        var listener = Track(ServerNs.Enter(() =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(ServerAddress), externalPort));
            socket.Listen(512);
            return socket;
        }));
        Serve(listener, async client =>
        {
            using var inbound = client;
            using var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await outbound.ConnectAsync(new IPEndPoint(IPAddress.Loopback, externalPort), _stop.Token);
            await Task.WhenAll(PipeAsync(inbound, outbound), PipeAsync(outbound, inbound));
        });
    }

    /// <summary>The newt executable in the site's namespace, as nobody (or as root), with <paramref name="args"/>.</summary>
    public NewtProcess StartNewt(IReadOnlyList<string> args, bool asNobody = true)
    {
        if (_newtApp is null)
        {
            _newtApp = Path.Combine(Work, "newt");
            NewtProcess.CopyApp(_newtApp);
        }
        string[] wrapper = asNobody
            ? ["ip", "netns", "exec", SiteNs.Name, "setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--inh-caps=-all"]
            : ["ip", "netns", "exec", SiteNs.Name];
        return Track(new NewtProcess(wrapper, _newtApp, args));
    }

    /// <summary>Stops the background loops (before the server stops); <see cref="Dispose"/> removes the rest.</summary>
    public void Stop() => _stop.Cancel();

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stop.Cancel();
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            _cleanup[i].Dispose();
        }
        _cleanup.Clear();
        _stop.Dispose();
        if (Directory.Exists(Work))
        {
            Directory.Delete(Work, recursive: true);
        }
    }

    private async Task PipeAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            from.Close(0); // a reset on one side resets the other
            to.Close(0);
        }
    }

    /// <summary>Accepts connections until the network stops, each handled on its own task; their failures end that connection only.</summary>
    private void Serve(Socket listener, Func<Socket, Task> handle) =>
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await handle(client);
                    }
                    catch (Exception e) when (e is SocketException or OperationCanceledException or IOException or ObjectDisposedException or WebSocketException)
                    {
                        client.Dispose(); // the peer went away (a server restart, say), or the network stops
                    }
                }, CancellationToken.None);
            }
        }, CancellationToken.None);

    private sealed class Stopper(Action stop) : IDisposable
    {
        public void Dispose() => stop();
    }
}
