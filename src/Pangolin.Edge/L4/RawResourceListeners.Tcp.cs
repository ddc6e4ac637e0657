using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace Pangolin.Edge.L4;

public sealed partial class RawResourceListeners
{
    private const int TcpBufferSize = 32 * 1024;

    /// <summary>One TCP resource port: accepts, admits, connects a target, relays.</summary>
    private sealed class TcpPort : IPortListener
    {
        private readonly RawResourceListeners _owner;
        private readonly Socket _listener;
        private readonly CancellationTokenSource _closed = new();
        private readonly int _port;
        private volatile ResourceState _state;

        public TcpPort(RawResourceListeners owner, IPEndPoint endpoint, ResourceState state)
        {
            _owner = owner;
            _state = state;
            _port = endpoint.Port;
            _listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (endpoint.Address.Equals(IPAddress.IPv6Any))
                {
                    _listener.DualMode = true;
                }

                _listener.Bind(endpoint);
                _listener.Listen(owner._options.Backlog);
            }
            catch
            {
                _listener.Dispose();
                _closed.Dispose();
                throw;
            }

            owner.Track(AcceptLoopAsync());
        }

        public ResourceState State
        {
            get => _state;
            set => _state = value;
        }

        public void Dispose()
        {
            _closed.Cancel();
            _listener.Dispose();
            L4Log.Closed(_owner._logger, "TCP", _port);
        }

        private async Task AcceptLoopAsync()
        {
            var token = _closed.Token;
            try
            {
                while (true)
                {
                    Socket client;
                    try
                    {
                        client = await _listener.AcceptAsync(token);
                    }
                    catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
                    {
                        continue; // the client gave up before it was accepted
                    }

                    _owner.Track(RelayAsync(client, _state, token));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || token.IsCancellationRequested)
            {
                // Closed.
            }
            catch (SocketException e)
            {
                L4Log.LoopFailed(_owner._logger, "TCP", _port, e);
            }
        }

        private async Task RelayAsync(Socket client, ResourceState state, CancellationToken closed)
        {
            var owner = _owner;
            var remote = (IPEndPoint)client.RemoteEndPoint!;
            Stream? target = null;
            var clean = false;
            var counted = Interlocked.Increment(ref owner._tcpConnections) <= owner._options.MaxTcpConnections;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(closed);
            try
            {
                if (!counted)
                {
                    owner.Refuse("TCP", _port, remote, "connection limit reached");
                    return;
                }

                if (!owner.Admit(state, "TCP", remote))
                {
                    return;
                }

                client.NoDelay = true;
                target = await owner.DialAsync(state, "TCP", remote, static (d, id, ct) => d.ConnectTcpAsync(id, ct), stop.Token);
                if (target is null)
                {
                    return;
                }

                var local = (IPEndPoint)client.LocalEndPoint!;
                if (state.Resource.ProxyProtocolVersion is 1 or 2)
                {
                    await WriteProxyHeaderAsync(target, state.Resource.ProxyProtocolVersion.Value, remote, local, stop.Token);
                }

                using var idle = new IdleTimer(owner._time, owner._options.TcpIdleTimeout, stop.Cancel);
                await using var clientStream = new NetworkStream(client, ownsSocket: false);
                var upstream = CopyAsync(clientStream, target, idle, target, stop);
                var downstream = CopyAsync(target, clientStream, idle, client, stop);
                var upstreamEnded = await upstream;
                var downstreamEnded = await downstream;
                clean = upstreamEnded && downstreamEnded;
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client, the target or the port went away while connecting; both sides are closed below.
            }
            catch (Exception e)
            {
                L4Log.RelayFailed(owner._logger, "TCP", _port, remote, e);
            }
            finally
            {
                if (!clean)
                {
                    // A refusal or an error reaches the client as a reset, not as a clean end of stream.
                    Reset(client);
                    if (target is NetworkStream network)
                    {
                        Reset(network.Socket);
                    }
                }

                client.Dispose();
                if (target is not null)
                {
                    await target.DisposeAsync();
                }

                Interlocked.Decrement(ref owner._tcpConnections);
            }
        }

        private static async Task WriteProxyHeaderAsync(Stream target, int version, IPEndPoint client, IPEndPoint local, CancellationToken cancellationToken)
        {
            var header = ArrayPool<byte>.Shared.Rent(Math.Max(ProxyProtocol.MaxV1Length, ProxyProtocol.MaxV2Length));
            try
            {
                var length = version == 1
                    ? ProxyProtocol.WriteV1(header, client, local)
                    : ProxyProtocol.WriteV2(header, client, local);
                await target.WriteAsync(header.AsMemory(0, length), cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(header);
            }
        }

        /// <summary>
        /// Copies until the source ends, then half-closes the destination. Returns false after an error, having
        /// cancelled <paramref name="stop"/> so that the other direction ends too.
        /// </summary>
        private static async Task<bool> CopyAsync(Stream source, Stream destination, IdleTimer idle, object destinationEnd, CancellationTokenSource stop)
        {
            var token = stop.Token;
            try
            {
                while (true)
                {
                    // Wait for data without a buffer (YARP's StreamCopier), so idle connections hold no memory.
                    _ = await source.ReadAsync(Memory<byte>.Empty, token);
                    var buffer = ArrayPool<byte>.Shared.Rent(TcpBufferSize);
                    try
                    {
                        int read;
                        do
                        {
                            read = await source.ReadAsync(buffer, token);
                            if (read == 0)
                            {
                                ShutdownSend(destinationEnd);
                                return true;
                            }

                            idle.Touch();
                            await destination.WriteAsync(buffer.AsMemory(0, read), token);
                        }
                        while (read == buffer.Length); // a full read: more is likely waiting, keep the buffer
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                await stop.CancelAsync();
                return false;
            }
        }

        /// <summary>The end of one direction: a FIN to whoever was receiving it.</summary>
        private static void ShutdownSend(object end)
        {
            switch (end)
            {
                case Socket socket:
                    socket.Shutdown(SocketShutdown.Send);
                    break;
                case NetworkStream network:
                    network.Socket.Shutdown(SocketShutdown.Send);
                    break;
                case IHalfClosable halfClosable:
                    halfClosable.ShutdownSend();
                    break;
                default:
                    // No way to half-close this stream: the target learns of the end when the connection ends.
                    break;
            }
        }

        private static void Reset(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already gone.
            }
        }
    }
}
