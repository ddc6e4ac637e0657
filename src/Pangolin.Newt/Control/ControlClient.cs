using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;
using Pangolin.Newt.Metrics;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;

namespace Pangolin.Newt.Control;

/// <summary>
/// The WebSocket to the server: <c>ws[s]://host[:port]/api/v1/ws?token=…&amp;clientType=newt</c> (the endpoint's path
/// is dropped, as upstream's newt does). Messages are read in order and handed to the caller; sends go through one
/// writer so that they never overlap.
/// </summary>
internal sealed class ControlClient(NewtMetrics? metrics = null) : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly Channel<byte[]> _outgoing = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(256) { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private Task? _writer;

    /// <summary>True once <see cref="ConnectAsync"/> has opened the socket.</summary>
    public bool Connected => _writer is not null;

    public static Uri WebSocketUri(Uri endpoint, string token)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var scheme = endpoint.Scheme == Uri.UriSchemeHttp ? "ws" : "wss";
        return new UriBuilder(scheme, endpoint.Host, endpoint.Port, "/api/v1/ws", $"?token={Uri.EscapeDataString(token)}&clientType=newt").Uri;
    }

    /// <summary>Opens the socket through <paramref name="server"/>'s handler, so with get-token's TLS settings.</summary>
    public async Task ConnectAsync(Uri endpoint, string token, ServerConnection server, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(server);
        _socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(30);
        using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        connectTimeout.CancelAfter(timeout);
        try
        {
            await _socket.ConnectAsync(WebSocketUri(endpoint, token), server.WebSocketInvoker, connectTimeout.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new EndpointException($"the WebSocket to {endpoint.Host} did not open within {timeout.TotalSeconds:0} s", e);
        }
        catch (WebSocketException e)
        {
            throw new EndpointException($"the WebSocket to {endpoint.Host} failed: {server.Explain(e)}", e);
        }
        _writer = WriteLoopAsync(_stop.Token);
    }

    /// <summary>Queues a message; false when the connection is gone or hopelessly behind.</summary>
    public bool TrySend(WsMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!_outgoing.Writer.TryWrite(Frames.EncodeText(message)))
        {
            return false;
        }
        metrics?.WebSocketMessage("out", message.Type);
        return true;
    }

    /// <summary>Reads messages until the server closes the socket or it breaks; returns the close status.</summary>
    public async Task<WebSocketCloseStatus?> ReadAllAsync(Func<WsMessage, Task> onMessage, Action<string> onBadMessage, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= Frames.DefaultMaxMessageBytes)
                        {
                            throw new WebSocketException("The server sent a message larger than 1 MiB.");
                        }
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), ct);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return _socket.CloseStatus;
                }
                WsMessage message;
                try
                {
                    message = Frames.Decode(buffer.AsSpan(0, length), result.MessageType == WebSocketMessageType.Binary);
                }
                catch (ProtocolException e)
                {
                    metrics?.WebSocketMessage("in", "unreadable");
                    onBadMessage(e.Message);
                    continue;
                }
                metrics?.WebSocketMessage("in", message.Type);
                await onMessage(message);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException)
        {
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Sends what is queued, then a normal close; bounded, since the server may already be gone.</summary>
    public async Task CloseAsync(TimeSpan timeout)
    {
        _outgoing.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer.WaitAsync(timeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "newt is shutting down", cts.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        }
    }

    private async Task WriteLoopAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var payload in _outgoing.Reader.ReadAllAsync(ct))
            {
                await _socket.SendAsync(payload, WebSocketMessageType.Text, endOfMessage: true, ct);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            _outgoing.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _outgoing.Writer.TryComplete();
        await _stop.CancelAsync();
        if (_writer is not null)
        {
            await _writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _socket.Abort();
        _socket.Dispose();
        _stop.Dispose();
    }
}
