using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Pangolin.Netstack.Tcp;
using Pangolin.Newt.Tunnel;
using Pangolin.Protocol.Messages;
using Pangolin.Tunnel;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Newt.Tests.Infrastructure;

/// <summary>
/// newt's tunnel in native mode (<c>--native</c>) and the exit node it dials, inside a throwaway network namespace,
/// so the test's interface and routes never touch the host's: the node is our userspace exit node (100.89.137.1,
/// knowing the site's key and /30), both WireGuard sockets are on the namespace's loopback, and the relays reach
/// their targets on the host's loopback (the sockets they dial from are made outside the namespace).
/// </summary>
internal sealed class NativeSite : IAsyncDisposable
{
    public const string InterfaceName = "newt";
    public const int Mtu = 1380;
    public static readonly IPAddress ServerAddress = IPAddress.Parse("100.89.137.1");
    public static readonly IPAddress TunnelAddress = IPAddress.Parse("100.89.137.4");

    private bool _sessionStopped;

    private NativeSite(NetworkNamespace ns, ExitNodeRuntime node, TunnelSession session)
    {
        Namespace = ns;
        Node = node;
        Session = session;
    }

    public NetworkNamespace Namespace { get; }

    /// <summary>The exit node's side: what the server connects from.</summary>
    public ExitNodeRuntime Node { get; }

    public TunnelSession Session { get; }

    /// <summary>
    /// Starts the node and newt's native tunnel; <paramref name="beforeStart"/> runs in the fresh namespace first, and
    /// <paramref name="tunnelIp"/> is the connect message's (the server sends it bare).
    /// </summary>
    public static async Task<NativeSite> StartAsync(Action<NetworkNamespace>? beforeStart = null, string? tunnelIp = null)
    {
        var ns = NetworkNamespace.Create();
        ExitNodeRuntime? node = null;
        try
        {
            ns.DisableIPv6();
            beforeStart?.Invoke(ns);
            var bind = Bind(ns);
            node = new ExitNodeRuntime(ServerAddress, new UserspaceTunnelOptions { PrivateKey = WgKey.GeneratePrivate(), InterfaceName = "node", Bind = bind });
            node.Start();
            var sitePrivate = WgKey.GeneratePrivate();
            node.AddPeer(sitePrivate.PublicKey(), [IPNetwork.Parse("100.89.137.4/30")]);
            var connect = new WgConnectData
            {
                Endpoint = $"127.0.0.1:{node.ListenPort}",
                PublicKey = node.PublicKey.ToBase64(),
                ServerIp = ServerAddress.ToString(),
                TunnelIp = tunnelIp ?? TunnelAddress.ToString(),
            };
            var options = new NewtOptions
            {
                Id = "native",
                Secret = "unused",
                Endpoint = new Uri("http://127.0.0.1:9"),
                Native = true,
                InterfaceName = InterfaceName,
                Mtu = Mtu,
            };
            var session = await TunnelSession.StartAsync(
                sitePrivate, connect, options, NullLoggerFactory.Instance, TimeProvider.System, bind, ns.Name, TestContext.Current.CancellationToken);
            return new NativeSite(ns, node, session);
        }
        catch
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }
            ns.Dispose();
            throw;
        }
    }

    private static Func<int, IUdpTransport> Bind(NetworkNamespace ns) =>
        port => LinuxUdpTransport.BindInNamespace(ns.Name, new LinuxUdpTransportOptions { Port = port });

    /// <summary>The site pings the node until answered (the first ping waits for the handshake), so the node knows where the site is.</summary>
    public async Task PingUntilAnsweredAsync() =>
        Assert.True(await Session.PingAsync(20, TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken), "the exit node never answered a ping through the kernel");

    /// <summary>Connects from the exit node to the tunnel IP, as the server does for a resource.</summary>
    public async Task<TcpStream> ConnectAsync(int internalPort) =>
        (TcpStream)await Node.Stack.ConnectTcpAsync(new IPEndPoint(TunnelAddress, internalPort), TestContext.Current.CancellationToken)
            .WaitAsync(Bounds.Step, TestContext.Current.CancellationToken);

    /// <summary>`ip -n ns link show dev newt`, or null once there is no such interface.</summary>
    public string? ShowInterface() => Namespace.TryShowLink(InterfaceName);

    /// <summary>Tears newt's tunnel down (relays, device, interface); the node and namespace stay.</summary>
    public async Task StopSessionAsync()
    {
        _sessionStopped = true;
        await Session.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_sessionStopped)
        {
            await Session.DisposeAsync();
        }
        await Node.DisposeAsync();
        Namespace.Dispose();
    }
}
