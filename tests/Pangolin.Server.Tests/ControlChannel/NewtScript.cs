using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.TestHost;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;

namespace Pangolin.Server.Tests.ControlChannel;

/// <summary>
/// Plays a newt over a raw WebSocket, message by message, exactly as upstream's newt puts them on the wire: the
/// tests write what an upstream newt sends and check what it would read.
/// </summary>
public sealed class NewtScript : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly WebSocket _socket;
    private readonly Channel<WsMessage> _incoming = Channel.CreateUnbounded<WsMessage>();
    private readonly Task _reader;

    private NewtScript(WebSocket socket)
    {
        _socket = socket;
        _reader = ReadLoopAsync();
    }

    /// <summary>Completes when the server has closed the socket (or it broke).</summary>
    public Task Closed => _reader;

    public WebSocketState State => _socket.State;

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    public static async Task<NewtScript> ConnectAsync(TestServer server, string token, string? query = null)
    {
        var client = server.CreateWebSocketClient();
        var uri = new Uri($"ws://localhost:3000/api/v1/ws?token={Uri.EscapeDataString(token)}&clientType=newt{query}");
        var socket = await client.ConnectAsync(uri, TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        return new NewtScript(socket);
    }

    public Task SendAsync(string json) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, TestContext.Current.CancellationToken);

    public Task SendGzipAsync(WsMessage message) =>
        _socket.SendAsync(Frames.EncodeGzip(message), WebSocketMessageType.Binary, true, TestContext.Current.CancellationToken);

    /// <summary>What newt 1.14+ sends every 30 s: data {} and the version it holds, omitted when 0.</summary>
    public Task PingAsync(long version = 0) =>
        SendAsync(version == 0 ? "{\"type\":\"newt/ping\",\"data\":{}}" : $"{{\"type\":\"newt/ping\",\"data\":{{}},\"configVersion\":{version}}}");

    /// <summary>The next message; null once the server has closed the socket.</summary>
    public async Task<WsMessage?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? Deadline);
        try
        {
            return await _incoming.Reader.ReadAsync(cts.Token);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException("No message within the deadline");
        }
    }

    /// <summary>One reader for the socket's lifetime: a timed-out wait must not leave a receive pending on it.</summary>
    private async Task ReadLoopAsync()
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                    }
                    return;
                }
                _incoming.Writer.TryWrite(Frames.Decode(buffer.AsSpan(0, length), result.MessageType == WebSocketMessageType.Binary));
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            _incoming.Writer.TryComplete();
        }
    }

    /// <summary>Reads until a message of <paramref name="type"/> arrives; fails on close or after the deadline.</summary>
    public async Task<WsMessage> ExpectAsync(string type, TimeSpan? timeout = null)
    {
        var seen = new List<string>();
        using var deadline = new CancellationTokenSource(timeout ?? Deadline);
        while (true)
        {
            var message = await ReceiveAsync(timeout ?? Deadline)
                ?? throw new InvalidOperationException($"The server closed the socket while waiting for {type} (saw: {string.Join(", ", seen)})");
            if (message.Type == type)
            {
                return message;
            }
            seen.Add(message.Type);
            if (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"No {type} within the deadline (saw: {string.Join(", ", seen)})");
            }
        }
    }

    /// <summary>Everything that arrives until the server has been quiet for <paramref name="quiet"/>.</summary>
    public async Task<IReadOnlyList<WsMessage>> DrainAsync(TimeSpan quiet)
    {
        var all = new List<WsMessage>();
        while (true)
        {
            try
            {
                var message = await ReceiveAsync(quiet);
                if (message is null)
                {
                    return all;
                }
                all.Add(message);
            }
            catch (TimeoutException)
            {
                return all;
            }
        }
    }

    public static T Data<T>(WsMessage message, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        message.GetData(info) ?? throw new JsonException($"{message.Type} has no data");

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                // Send-only close: the reader loop is the one receive allowed, and it reads the server's answer.
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException)
            {
            }
        }
        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _socket.Dispose();
    }
}
