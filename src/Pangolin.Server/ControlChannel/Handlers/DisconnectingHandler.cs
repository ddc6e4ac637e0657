using Pangolin.Protocol.Messages;
using Pangolin.Server.Sites;

namespace Pangolin.Server.ControlChannel.Handlers;

/// <summary><c>newt/disconnecting</c>: a newt shutting down says so first, and its site is shown offline at once.</summary>
internal sealed class DisconnectingHandler(SitePresence presence) : INewtMessageHandler
{
    public Task HandleAsync(NewtConnection connection, WsMessage message, CancellationToken ct) =>
        presence.DisconnectedAsync(connection.SiteId, ct);
}
