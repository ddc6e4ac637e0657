using System.Text.Json;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;

namespace Pangolin.Server.ControlChannel;

/// <summary>Handles one message type from newts; resolved per message in its own scope (keyed by the type string).</summary>
public interface INewtMessageHandler
{
    Task HandleAsync(NewtConnection connection, WsMessage message, CancellationToken ct);
}

/// <summary>
/// Hands each newt message to the handler registered for its type, in a scope of its own. A handler that fails gets
/// the newt an <c>error</c> message quoting what it sent, as upstream does, and the connection stays open.
/// </summary>
public sealed partial class MessageRouter(IServiceScopeFactory scopes, ConnectionRegistry registry, ILogger<MessageRouter> logger)
{
    public async Task DispatchAsync(NewtConnection connection, WsMessage message)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(message);
        await using var scope = scopes.CreateAsyncScope();
        var handler = scope.ServiceProvider.GetKeyedService<INewtMessageHandler>(message.Type);
        if (handler is null)
        {
            LogIgnored(logger, message.Type, connection.NewtId);
            return;
        }
        try
        {
            await handler.HandleAsync(connection, message, CancellationToken.None);
        }
        catch (Exception e) when (e is JsonException or ProtocolException)
        {
            LogBadMessage(logger, message.Type, connection.NewtId, e.Message);
            SendError(connection, $"{message.Type}: {e.Message}", message);
        }
        catch (Exception e)
        {
            LogHandlerFailed(logger, e, message.Type, connection.NewtId);
            SendError(connection, $"Failed to handle {message.Type}", message);
        }
    }

    public Task BadFrameAsync(NewtConnection connection, Exception error, string original)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(error);
        LogBadMessage(logger, "(unreadable)", connection.NewtId, error.Message);
        registry.Reply(connection, MessageTypes.Error, new ErrorData { Message = error.Message, OriginalMessage = original },
            ProtocolJsonContext.Default.ErrorData);
        return Task.CompletedTask;
    }

    private void SendError(NewtConnection connection, string text, WsMessage original) =>
        registry.Reply(connection, MessageTypes.Error,
            new ErrorData { Message = text, OriginalMessage = System.Text.Encoding.UTF8.GetString(Frames.EncodeText(original)) },
            ProtocolJsonContext.Default.ErrorData);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignored message {Type} from newt {NewtId}")]
    private static partial void LogIgnored(ILogger logger, string type, string newtId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Newt {NewtId} sent a malformed {Type}: {Problem}")]
    private static partial void LogBadMessage(ILogger logger, string type, string newtId, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling {Type} from newt {NewtId} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string type, string newtId);
}
