using System.Net;
using System.Net.Sockets;
using Pangolin.WireGuard.Net;
using UdpReceiveResult = Pangolin.Netstack.Udp.UdpReceiveResult;

namespace Pangolin.Newt.Proxy;

/// <summary>
/// The relays listen on kernel sockets bound to the tunnel IP of a TUN interface (<c>--native</c>, upstream's
/// <c>NewProxyManagerNative</c>).
/// </summary>
/// <param name="networkNamespace">
/// The `ip netns` name the sockets are made in (a socket belongs to the namespace it is created in); null: newt's own.
/// </param>
internal sealed class KernelRelayNetwork(string? networkNamespace = null) : IRelayNetwork
{
    public IRelayListener ListenTcp(IPEndPoint local, int backlog)
    {
        var socket = Create(local, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A replacing relay binds the port while the replaced one's connections still use it.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(local);
            socket.Listen(backlog);
            return new Listener(socket, local);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public IRelayDatagramSocket BindUdp(IPEndPoint local)
    {
        var socket = Create(local, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(local);
            return new DatagramSocket(socket, local);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private Socket Create(IPEndPoint local, SocketType type, ProtocolType protocol) => networkNamespace is null
        ? new Socket(local.AddressFamily, type, protocol)
        : NetNamespace.Run(networkNamespace, () => new Socket(local.AddressFamily, type, protocol));

    /// <summary>What a closed socket's pending operation throws, as the relays expect it.</summary>
    private static bool IsClosed(SocketException e) =>
        e.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted or SocketError.Shutdown;

    private sealed class Listener(Socket socket, IPEndPoint local) : IRelayListener
    {
        public IPEndPoint LocalEndPoint => local;

        public async ValueTask<Stream> AcceptAsync()
        {
            Socket accepted;
            while (true)
            {
                try
                {
                    accepted = await socket.AcceptAsync();
                    break;
                }
                catch (SocketException e) when (IsClosed(e))
                {
                    throw new ObjectDisposedException(nameof(Listener), e);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
                {
                    // The client gave up before its connection was taken (ECONNABORTED): take the next one.
                }
            }
            accepted.NoDelay = true;
            return new NetworkStream(accepted, ownsSocket: true);
        }

        public void Dispose() => socket.Dispose();
    }

    private sealed class DatagramSocket(Socket socket, IPEndPoint local) : IRelayDatagramSocket
    {
        private readonly EndPoint _anySource = new IPEndPoint(local.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);

        public IPEndPoint LocalEndPoint => local;

        public async ValueTask<UdpReceiveResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            try
            {
                var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, _anySource, cancellationToken);
                return new UdpReceiveResult(received.ReceivedBytes, (IPEndPoint)received.RemoteEndPoint);
            }
            catch (SocketException e) when (IsClosed(e))
            {
                throw new ObjectDisposedException(nameof(DatagramSocket), e);
            }
        }

        public void SendTo(ReadOnlySpan<byte> payload, IPEndPoint remote) => socket.SendTo(payload, SocketFlags.None, remote);

        public void Dispose() => socket.Dispose();
    }
}
