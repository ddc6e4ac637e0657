using System.Globalization;
using Pangolin.Data;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Sites;

namespace Pangolin.Server.ControlChannel.Handlers;

/// <summary>
/// <c>newt/ping</c> (and the older <c>ping</c>): keeps the site online, answers <c>pong</c>, and sends <c>newt/sync</c>
/// when the newt's configuration version differs from ours — and always on the first ping of a new socket, since a
/// newt back from a gap holding version 0 sends no version at all (upstream misses changes made during the gap).
/// </summary>
internal sealed class PingHandler(PangolinDbContext db, ConnectionRegistry registry, SitePresence presence, TimeProvider time) : INewtMessageHandler
{
    public async Task HandleAsync(NewtConnection connection, WsMessage message, CancellationToken ct)
    {
        presence.RecordPing(connection.SiteId);
        var reported = message.ConfigVersion;
        if (reported is null && message.Type == MessageTypes.LegacyPing && message.Data.ValueKind == System.Text.Json.JsonValueKind.Object)
        {
            reported = message.GetData(ProtocolJsonContext.Default.PingData)?.ConfigVersion;
        }
        var first = connection.TakeFirstPing();
        if (first || (reported is not null && reported != registry.ConfigVersion(connection.NewtId)))
        {
            await NewtSync.SendAsync(db, registry, connection, ct);
        }
        registry.Reply(connection, MessageTypes.Pong,
            new PongData { Timestamp = time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture) }, ProtocolJsonContext.Default.PongData);
    }
}
