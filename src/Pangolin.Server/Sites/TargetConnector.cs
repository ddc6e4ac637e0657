using System.Net;
using System.Net.Sockets;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Edge;
using Pangolin.Netstack.Udp;

namespace Pangolin.Server.Sites;

/// <summary>
/// Opens connections to targets: through the embedded exit node's userspace stack to
/// <c>&lt;site tunnel IP&gt;:&lt;internal port&gt;</c> for newt sites (the site's newt forwards to the target), and
/// straight to the target's address for local sites. The edge builds on this; nothing here needs a TUN device.
/// </summary>
public sealed class TargetConnector(IServiceScopeFactory scopes, EmbeddedExitNode embedded) : ITargetDialer
{
    public async ValueTask<Stream> ConnectTcpAsync(int targetId, CancellationToken ct)
    {
        var route = await RouteAsync(targetId, ct);
        if (route.Direct is { } direct)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(direct.Host, direct.Port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                throw new TargetUnreachableException($"{direct.Host}:{direct.Port}: {e.Message}", e);
            }
        }
        try
        {
            var stream = await route.Node!.ConnectTcpAsync(route.Tunnel!, ct);
            return stream is Netstack.Tcp.TcpStream tcp ? new HalfClosableStream(tcp) : stream;
        }
        catch (Exception e) when (e is IOException or SocketException or TimeoutException)
        {
            throw new TargetUnreachableException($"{route.Tunnel} through the tunnel: {e.Message}", e);
        }
    }

    public async ValueTask<IEdgeUdpFlow> OpenUdpAsync(int targetId, CancellationToken ct)
    {
        var route = await RouteAsync(targetId, ct);
        if (route.Direct is { } direct)
        {
            var socket = new Socket(SocketType.Dgram, ProtocolType.Udp);
            try
            {
                await socket.ConnectAsync(direct.Host, direct.Port, ct);
                return new SocketFlow(socket);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                throw new TargetUnreachableException($"{direct.Host}:{direct.Port}: {e.Message}", e);
            }
        }
        return new TunnelFlow(route.Node!.BindUdp(new IPEndPoint(route.Node.Address, 0)), route.Tunnel!);
    }

    private sealed record Route(Tunnel.ExitNodeRuntime? Node, IPEndPoint? Tunnel, (string Host, int Port)? Direct);

    private async Task<Route> RouteAsync(int targetId, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var row = await (
            from t in db.Targets.AsNoTracking()
            join s in db.Sites.AsNoTracking() on t.SiteId equals s.SiteId
            where t.TargetId == targetId
            select new { t.Ip, t.Port, t.InternalPort, t.Enabled, s.Name, s.Type, s.ExitNodeId, s.Subnet, s.Online })
            .FirstOrDefaultAsync(ct) ?? throw new TargetUnreachableException($"Target {targetId} does not exist");
        if (!row.Enabled)
        {
            throw new TargetUnreachableException($"Target {targetId} is disabled");
        }
        switch (row.Type)
        {
            case "local":
                return new Route(null, null, (row.Ip, row.Port));
            case "newt":
                if (row.Subnet is null || row.InternalPort is null)
                {
                    throw new TargetUnreachableException($"Site {row.Name} has not connected yet: its newt has no tunnel");
                }
                if (row.ExitNodeId != embedded.ExitNodeId || embedded.Runtime is not { } node)
                {
                    throw new TargetUnreachableException($"Site {row.Name} is served by exit node {row.ExitNodeId}, not by this server's");
                }
                return new Route(node, new IPEndPoint(IPAddress.Parse(row.Subnet.Split('/')[0]), row.InternalPort.Value), null);
            default:
                throw new TargetUnreachableException($"Site {row.Name} is a {row.Type} site, which this server does not reach yet");
        }
    }

    private sealed class SocketFlow(Socket socket) : IEdgeUdpFlow
    {
        public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken ct) => DiscardCount(socket.SendAsync(datagram, SocketFlags.None, ct));

        public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken ct) => socket.ReceiveAsync(buffer, SocketFlags.None, ct);

        public void Dispose() => socket.Dispose();

        private static async ValueTask DiscardCount(ValueTask<int> send) => await send;
    }

    private sealed class TunnelFlow(UdpSocket socket, IPEndPoint target) : IEdgeUdpFlow
    {
        public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken ct) => socket.SendToAsync(datagram, target, ct);

        public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken ct)
        {
            while (true)
            {
                var result = await socket.ReceiveFromAsync(buffer, ct);
                if (result.RemoteEndPoint.Equals(target))
                {
                    return result.Length;
                }
            }
        }

        public void Dispose() => socket.Dispose();
    }
}
