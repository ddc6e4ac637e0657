using System.Net;
using Microsoft.Extensions.Logging;

namespace Pangolin.Edge.L4;

internal static partial class L4Log
{
    [LoggerMessage(Level = LogLevel.Error, Message = "{Protocol} port {Port}: cannot listen ({Reason}); retried when the configuration changes")]
    public static partial void BindFailed(ILogger logger, string protocol, int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Protocol} port {Port}: listening for resource {ResourceId}")]
    public static partial void Listening(ILogger logger, string protocol, int port, int resourceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Protocol} port {Port}: closed")]
    public static partial void Closed(ILogger logger, string protocol, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Raw resource {ResourceId}: {Problem}; skipped")]
    public static partial void InvalidResource(ILogger logger, int resourceId, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Raw resource {ResourceId}: {Protocol} port {Port} is taken by resource {OtherResourceId}; skipped")]
    public static partial void PortTaken(ILogger logger, int resourceId, string protocol, int port, int otherResourceId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Protocol} port {Port}: {Client} refused ({Reason})")]
    public static partial void Refused(ILogger logger, string protocol, int port, IPEndPoint client, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Protocol} port {Port}: target {TargetId} unreachable ({Reason})")]
    public static partial void TargetUnreachable(ILogger logger, string protocol, int port, int targetId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Protocol} port {Port}: no target reachable for {Client}")]
    public static partial void NoTarget(ILogger logger, string protocol, int port, IPEndPoint client);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Protocol} port {Port}: relay for {Client} failed")]
    public static partial void RelayFailed(ILogger logger, string protocol, int port, IPEndPoint client, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Protocol} port {Port}: stopped accepting")]
    public static partial void LoopFailed(ILogger logger, string protocol, int port, Exception exception);
}
