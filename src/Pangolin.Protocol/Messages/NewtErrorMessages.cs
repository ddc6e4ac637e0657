namespace Pangolin.Protocol.Messages;

/// <summary>
/// Data of the server's <c>error</c> reply when a handler fails (U:ws.ts): the socket stays open and the sender gets
/// back the frame it sent.
/// </summary>
public sealed record ErrorData
{
    public string Message { get; init => field = value ?? ""; } = "";

    /// <summary>The raw text of the frame that failed.</summary>
    public string OriginalMessage { get; init => field = value ?? ""; } = "";
}

/// <summary>Data of <c>newt/error</c>: <c>{"code", "message"}</c>; newt logs it (see <see cref="MessageTypes"/> for codes).</summary>
public sealed record NewtErrorData
{
    public string Code { get; init => field = value ?? ""; } = "";

    public string Message { get; init => field = value ?? ""; } = "";
}
