using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Pangolin.Edge.L4;

public sealed partial class RawResourceListeners
{
    /// <summary>The largest UDP payload (65535 − 8 UDP − 20 IPv4 header bytes).</summary>
    private const int MaxDatagram = 65_507;

    /// <summary>Datagrams waiting for a session's target (while its flow opens, or a slow send); more are dropped.</summary>
    private const int SessionQueue = 256;

    /// <summary>
    /// One UDP resource port: one session per client address, each with its own flow to a target; replies go back
    /// from this socket to that client. Rules apply to a client's first datagram (when its session is made).
    /// </summary>
    private sealed class UdpPort : IPortListener
    {
        private readonly RawResourceListeners _owner;
        private readonly Socket _socket;
        private readonly CancellationTokenSource _closed = new();
        private readonly ConcurrentDictionary<SocketAddress, UdpSession> _sessions = new();
        private readonly int _port;
        private volatile ResourceState _state;

        public UdpPort(RawResourceListeners owner, IPEndPoint endpoint, ResourceState state)
        {
            _owner = owner;
            _state = state;
            _port = endpoint.Port;
            _socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                if (endpoint.Address.Equals(IPAddress.IPv6Any))
                {
                    _socket.DualMode = true;
                }

                _socket.Bind(endpoint);
            }
            catch
            {
                _socket.Dispose();
                _closed.Dispose();
                throw;
            }

            owner.Track(ReceiveLoopAsync());
        }

        public ResourceState State
        {
            get => _state;
            set => _state = value;
        }

        public void Dispose()
        {
            _closed.Cancel();
            _socket.Dispose();
            L4Log.Closed(_owner._logger, "UDP", _port);
        }

        private async Task ReceiveLoopAsync()
        {
            var token = _closed.Token;
            var buffer = GC.AllocateUninitializedArray<byte>(MaxDatagram, pinned: true);
            var from = new SocketAddress(_socket.AddressFamily);
            try
            {
                while (true)
                {
                    int length;
                    try
                    {
                        length = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, token);
                    }
                    catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused
                        or SocketError.MessageSize or SocketError.HostUnreachable or SocketError.NetworkUnreachable)
                    {
                        // An ICMP error for an earlier reply to some client, or an oversized datagram: not this socket's end.
                        continue;
                    }

                    // A lookup with the receive buffer's address allocates nothing; only a new client is copied.
                    if (!_sessions.TryGetValue(from, out var session))
                    {
                        session = StartSession(from);
                        if (session is null)
                        {
                            continue;
                        }
                    }

                    session.Enqueue(buffer.AsSpan(0, length));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || token.IsCancellationRequested)
            {
                // Closed.
            }
            catch (SocketException e)
            {
                L4Log.LoopFailed(_owner._logger, "UDP", _port, e);
            }
        }

        private UdpSession? StartSession(SocketAddress from)
        {
            var owner = _owner;
            var client = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(from);
            var state = _state;
            if (!owner.Admit(state, "UDP", client))
            {
                return null;
            }

            if (Interlocked.Increment(ref owner._udpSessions) > owner._options.MaxUdpSessions)
            {
                Interlocked.Decrement(ref owner._udpSessions);
                owner.Refuse("UDP", _port, client, "session limit reached");
                return null;
            }

            var key = new SocketAddress(from.Family, from.Size);
            from.Buffer.Span[..from.Size].CopyTo(key.Buffer.Span);
            var session = new UdpSession(this, key, client, state);
            _sessions[key] = session;
            owner.Track(session.RunAsync());
            return session;
        }

        /// <summary>One client of a UDP port, with its flow to a target.</summary>
        private sealed class UdpSession(UdpPort port, SocketAddress key, IPEndPoint client, ResourceState state)
        {
            private readonly Channel<(byte[] Buffer, int Length)> _toTarget = Channel.CreateBounded<(byte[], int)>(
                new BoundedChannelOptions(SessionQueue) { SingleReader = true, SingleWriter = true });

            private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(port._closed.Token);

            /// <summary>Copies the datagram for the session's sender; drops it when the queue is full.</summary>
            public void Enqueue(ReadOnlySpan<byte> datagram)
            {
                var copy = ArrayPool<byte>.Shared.Rent(datagram.Length);
                datagram.CopyTo(copy);
                if (!_toTarget.Writer.TryWrite((copy, datagram.Length)))
                {
                    ArrayPool<byte>.Shared.Return(copy);
                }
            }

            public async Task RunAsync()
            {
                var owner = port._owner;
                var token = _stop.Token;
                IEdgeUdpFlow? flow = null;
                try
                {
                    flow = await owner.DialAsync(state, "UDP", client, static (d, id, ct) => d.OpenUdpAsync(id, ct), token);
                    if (flow is null)
                    {
                        return;
                    }

                    using var idle = new IdleTimer(owner._time, owner._options.UdpSessionIdleTimeout, _stop.Cancel);
                    var replies = RepliesAsync(flow, idle, token);
                    try
                    {
                        while (await _toTarget.Reader.WaitToReadAsync(token))
                        {
                            while (_toTarget.Reader.TryRead(out var datagram))
                            {
                                try
                                {
                                    idle.Touch();
                                    await flow.SendAsync(datagram.Buffer.AsMemory(0, datagram.Length), token);
                                }
                                finally
                                {
                                    ArrayPool<byte>.Shared.Return(datagram.Buffer);
                                }
                            }
                        }
                    }
                    finally
                    {
                        await _stop.CancelAsync();
                        await replies;
                    }
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    // Idle, closed, or the flow failed: the session ends; the client's next datagram starts a new one.
                }
                catch (Exception e)
                {
                    L4Log.RelayFailed(owner._logger, "UDP", port._port, client, e);
                }
                finally
                {
                    // Leave first, so that the client's next datagram makes a new session rather than queue here.
                    port._sessions.TryRemove(new KeyValuePair<SocketAddress, UdpSession>(key, this));
                    _toTarget.Writer.TryComplete();
                    while (_toTarget.Reader.TryRead(out var left))
                    {
                        ArrayPool<byte>.Shared.Return(left.Buffer);
                    }

                    flow?.Dispose();
                    _stop.Dispose();
                    Interlocked.Decrement(ref owner._udpSessions);
                }
            }

            private async Task RepliesAsync(IEdgeUdpFlow flow, IdleTimer idle, CancellationToken token)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(MaxDatagram);
                try
                {
                    while (true)
                    {
                        var length = await flow.ReceiveAsync(buffer, token);
                        idle.Touch();
                        await port._socket.SendToAsync(buffer.AsMemory(0, length), SocketFlags.None, key, token);
                    }
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    // The session ends: tell the sender loop.
                    await _stop.CancelAsync();
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
    }
}
