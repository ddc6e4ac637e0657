namespace Pangolin.Protocol;

/// <summary>
/// The <c>type</c> strings of WebSocket messages, exactly as upstream newt and the upstream server spell them.
/// </summary>
public static class MessageTypes
{
    // Newt to server.

    /// <summary>Application-level keepalive of newt 1.14 and later; data <c>{}</c>, configVersion on the envelope.</summary>
    public const string NewtPing = "newt/ping";

    /// <summary>Keepalive of older newts; data <c>{configVersion}</c>. The server treats it like <see cref="NewtPing"/>.</summary>
    public const string LegacyPing = "ping";

    public const string NewtPingRequest = "newt/ping/request";
    public const string NewtWgRegister = "newt/wg/register";
    public const string NewtWgGetConfig = "newt/wg/get-config";
    public const string NewtHealthCheckStatus = "newt/healthcheck/status";
    public const string NewtDisconnecting = "newt/disconnecting";
    public const string NewtReceiveBandwidth = "newt/receive-bandwidth";

    // Newt to server, ignored by our server (docker, blueprints, logs).
    public const string NewtSocketStatus = "newt/socket/status";
    public const string NewtSocketContainers = "newt/socket/containers";
    public const string NewtBlueprintApply = "newt/blueprint/apply";
    public const string NewtAccessLog = "newt/access-log";
    public const string NewtRequestLog = "newt/request-log";
    public const string RoundTripComplete = "ws/round-trip/complete";

    // Server to newt.
    public const string Pong = "pong";
    public const string Error = "error";
    public const string NewtError = "newt/error";
    public const string NewtPingExitNodes = "newt/ping/exitNodes";
    public const string NewtWgConnect = "newt/wg/connect";
    public const string NewtWgReconnect = "newt/wg/reconnect";
    public const string NewtWgTerminate = "newt/wg/terminate";
    public const string NewtWgRestart = "newt/wg/restart";
    public const string NewtSync = "newt/sync";
    public const string NewtTcpAdd = "newt/tcp/add";
    public const string NewtTcpRemove = "newt/tcp/remove";
    public const string NewtUdpAdd = "newt/udp/add";
    public const string NewtUdpRemove = "newt/udp/remove";
    public const string NewtHealthCheckAdd = "newt/healthcheck/add";
    public const string NewtHealthCheckRemove = "newt/healthcheck/remove";
    public const string NewtHealthCheckEnable = "newt/healthcheck/enable";
    public const string NewtHealthCheckDisable = "newt/healthcheck/disable";
    public const string NewtHealthCheckStatusRequest = "newt/healthcheck/status/request";

    /// <summary><c>newt/error</c> code sent to an older socket when a newer one with the same newt id connects (ours).</summary>
    public const string ErrorCodeReplaced = "REPLACED";

    /// <summary><c>newt/error</c> code when the exit node has no free site subnet (upstream).</summary>
    public const string ErrorCodeNoAvailableSubnet = "NO_AVAILABLE_SUBNET";
}
