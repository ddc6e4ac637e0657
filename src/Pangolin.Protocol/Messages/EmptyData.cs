namespace Pangolin.Protocol.Messages;

/// <summary>
/// The data <c>{}</c>: newt's <c>newt/ping</c> and <c>newt/disconnecting</c>, the server's <c>newt/wg/reconnect</c>
/// and <c>newt/healthcheck/status/request</c>. Reading it skips whatever fields a sender adds.
/// </summary>
public sealed record EmptyData;
