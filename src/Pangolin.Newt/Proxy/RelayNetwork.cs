using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack;
using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Udp;
using TcpListener = Pangolin.Netstack.Tcp.TcpListener;
using UdpReceiveResult = Pangolin.Netstack.Udp.UdpReceiveResult;

namespace Pangolin.Newt.Proxy;

/// <summary>
/// Where the relays listen on the tunnel IP: the userspace netstack (<see cref="NetstackRelayNetwork"/>) or kernel
/// sockets on a TUN interface's address (<see cref="KernelRelayNetwork"/>, <c>--native</c>). The relays themselves
/// are the same code for both.
/// </summary>
internal interface IRelayNetwork
{
    /// <exception cref="SocketException">The address and port cannot be listened on.</exception>
    IRelayListener ListenTcp(IPEndPoint local, int backlog);

    /// <exception cref="SocketException">The address and port cannot be bound.</exception>
    IRelayDatagramSocket BindUdp(IPEndPoint local);
}

/// <summary>A TCP listener on the tunnel IP.</summary>
internal interface IRelayListener : IDisposable
{
    IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// The next connection, Nagle off: a netstack <see cref="TcpStream"/> or a <see cref="NetworkStream"/> that owns
    /// its socket (see <see cref="RelayConnection"/>).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    ValueTask<Stream> AcceptAsync();
}

/// <summary>A UDP socket on the tunnel IP; one reader at a time.</summary>
internal interface IRelayDatagramSocket : IDisposable
{
    IPEndPoint LocalEndPoint { get; }

    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    ValueTask<UdpReceiveResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <exception cref="SocketException">The datagram cannot be sent.</exception>
    void SendTo(ReadOnlySpan<byte> payload, IPEndPoint remote);
}

/// <summary>Half-close and reset for the two kinds of connection a <see cref="IRelayListener"/> accepts.</summary>
internal static class RelayConnection
{
    /// <summary>Sends a FIN after what was written; the peer's data can still be read.</summary>
    public static void ShutdownSend(Stream connection)
    {
        switch (connection)
        {
            case TcpStream tcp:
                tcp.ShutdownSend();
                break;
            case NetworkStream network:
                network.Socket.Shutdown(SocketShutdown.Send);
                break;
            default:
                throw new ArgumentException($"Not a relay connection: {connection.GetType().Name}.", nameof(connection));
        }
    }

    /// <summary>Closes with a reset, so that an error is not passed on as a clean end of stream.</summary>
    public static void Abort(Stream connection)
    {
        switch (connection)
        {
            case TcpStream tcp:
                tcp.Abort();
                break;
            case NetworkStream network:
                Reset(network.Socket);
                network.Dispose();
                break;
            default:
                throw new ArgumentException($"Not a relay connection: {connection.GetType().Name}.", nameof(connection));
        }
    }

    /// <summary>Makes the socket's close a reset (SO_LINGER 0) rather than a FIN.</summary>
    public static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            // Already closed, or already reset by the peer: nothing to pass on.
        }
    }
}

/// <summary>The relays listen inside the userspace stack (the default tunnel).</summary>
internal sealed class NetstackRelayNetwork(NetworkStack stack) : IRelayNetwork
{
    public IRelayListener ListenTcp(IPEndPoint local, int backlog) => new Listener(stack.ListenTcp(local, backlog));

    public IRelayDatagramSocket BindUdp(IPEndPoint local) => new DatagramSocket(stack.BindUdp(local));

    /// <summary>A netstack socket as the relays see it; nothing in between on the datagram path.</summary>
    internal sealed class DatagramSocket(UdpSocket socket) : IRelayDatagramSocket
    {
        public IPEndPoint LocalEndPoint => socket.LocalEndPoint;

        public ValueTask<UdpReceiveResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
            socket.ReceiveFromAsync(buffer, cancellationToken);

        public void SendTo(ReadOnlySpan<byte> payload, IPEndPoint remote) => socket.SendTo(payload, remote);

        public void Dispose() => socket.Dispose();
    }

    private sealed class Listener(TcpListener listener) : IRelayListener
    {
        public IPEndPoint LocalEndPoint => listener.LocalEndPoint;

        public async ValueTask<Stream> AcceptAsync()
        {
            var connection = (TcpStream)await listener.AcceptAsync();
            connection.NoDelay = true;
            return connection;
        }

        public void Dispose() => listener.Dispose();
    }
}
