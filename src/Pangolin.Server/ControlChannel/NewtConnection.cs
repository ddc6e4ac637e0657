using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;

namespace Pangolin.Server.ControlChannel;

/// <summary>
/// One newt's WebSocket: a receive loop that hands each message to the router in order, and a single writer that
/// drains a queue, so that any thread may send without two sends ever overlapping on the socket.
/// </summary>
public sealed class NewtConnection : IDisposable
{
    /// <summary>Messages waiting for a newt that does not read; beyond this the newt is too slow and is dropped.</summary>
    public const int MaxQueuedMessages = 1024;

    /// <summary>Close status sent to a socket replaced by a newer one with the same newt id (ours; 4000–4999 are private use).</summary>
    public const WebSocketCloseStatus Replaced = (WebSocketCloseStatus)4001;

    /// <summary>Close status sent when the newt's credentials are revoked (site deleted, secret rotated).</summary>
    public const WebSocketCloseStatus Revoked = (WebSocketCloseStatus)4003;

    private static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(5);
    private static long _nextId;

    private readonly WebSocket _socket;
    private readonly Channel<byte[]> _outgoing = Channel.CreateBounded<byte[]>(
        new BoundedChannelOptions(MaxQueuedMessages) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly CancellationTokenSource _abort = new();
    private readonly int _maxMessageBytes;
    private WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string _closeDescription = "";
    private int _pingsSeen;

    public NewtConnection(WebSocket socket, NewtIdentity identity, int maxMessageBytes = Frames.DefaultMaxMessageBytes)
    {
        _socket = socket;
        Identity = identity;
        _maxMessageBytes = maxMessageBytes;
        Id = Interlocked.Increment(ref _nextId);
    }

    public long Id { get; }

    public NewtIdentity Identity { get; }

    public string NewtId => Identity.NewtId;

    public int SiteId => Identity.SiteId;

    /// <summary>True exactly once: for the first ping this socket delivers.</summary>
    public bool TakeFirstPing() => Interlocked.Exchange(ref _pingsSeen, 1) == 0;

    /// <summary>Queues a message; false when the connection is closing or its queue is full (it is then aborted).</summary>
    public bool TrySend(WsMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_outgoing.Writer.TryWrite(Frames.EncodeText(message)))
        {
            return true;
        }
        if (_outgoing.Reader.Count >= MaxQueuedMessages)
        {
            Abort();
        }
        return false;
    }

    /// <summary>Sends what is queued, then a close frame with this status; later sends are refused.</summary>
    public void Close(WebSocketCloseStatus status, string description)
    {
        _closeStatus = status;
        _closeDescription = description;
        _outgoing.Writer.TryComplete();
    }

    /// <summary>Runs until the socket is closed from either side or aborted.</summary>
    public async Task RunAsync(Func<NewtConnection, WsMessage, Task> onMessage, Func<NewtConnection, Exception, string, Task> onBadMessage, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(onMessage);
        ArgumentNullException.ThrowIfNull(onBadMessage);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _abort.Token);
        var writer = WriteLoopAsync(linked.Token);
        try
        {
            await ReadLoopAsync(onMessage, onBadMessage, linked.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // Aborted, or the peer vanished without a close frame: both just end the connection.
        }
        finally
        {
            _outgoing.Writer.TryComplete();
            // The writer ends by sending our close frame; give it a bounded time, then cut the socket.
            if (await Task.WhenAny(writer, Task.Delay(CloseHandshakeTimeout, CancellationToken.None)) != writer)
            {
                Abort();
            }
            await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (_socket.State != WebSocketState.Closed)
            {
                _socket.Abort();
            }
        }
    }

    public void Dispose() => _abort.Dispose();

    private void Abort()
    {
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The connection has already ended.
        }
    }

    private async Task ReadLoopAsync(Func<NewtConnection, WsMessage, Task> onMessage, Func<NewtConnection, Exception, string, Task> onBadMessage, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                var tooLarge = false;
                do
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= _maxMessageBytes)
                        {
                            tooLarge = true;
                            length = 0; // keep reading to the end of the frame, discarding it
                        }
                        else
                        {
                            var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _maxMessageBytes));
                            buffer.AsSpan(0, length).CopyTo(bigger);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = bigger;
                        }
                    }
                    // A closing connection may still deliver frames; the close handshake ends the loop.
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), ct);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                if (tooLarge)
                {
                    await onBadMessage(this, new ProtocolException($"Message exceeds the limit of {_maxMessageBytes} bytes."), "");
                    continue;
                }
                WsMessage message;
                try
                {
                    message = Frames.Decode(buffer.AsSpan(0, length), result.MessageType == WebSocketMessageType.Binary, _maxMessageBytes);
                }
                catch (ProtocolException e)
                {
                    var original = result.MessageType == WebSocketMessageType.Text ? System.Text.Encoding.UTF8.GetString(buffer, 0, Math.Min(length, 4096)) : "";
                    await onBadMessage(this, e, original);
                    continue;
                }
                await onMessage(this, message);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
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
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync(_closeStatus, _closeDescription, ct);
                // The read loop ends when the newt answers our close frame; one that never does is cut off.
                _abort.CancelAfter(CloseHandshakeTimeout);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // The read side ends the connection; nothing more can be written.
        }
    }
}
