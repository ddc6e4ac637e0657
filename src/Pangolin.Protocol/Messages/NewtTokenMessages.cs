using System.Text.Json.Serialization;

namespace Pangolin.Protocol.Messages;

/// <summary>Body of <c>POST {endpoint}/api/v1/auth/newt/get-token</c>.</summary>
public sealed record GetTokenRequest
{
    public string NewtId { get; init => field = value ?? ""; } = "";

    public string Secret { get; init => field = value ?? ""; } = "";

    /// <summary>
    /// A still-valid token a newer upstream newt may offer (an optional zod key). Our newt never sends it, so null is
    /// not written.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Token { get; init; }
}

/// <summary>
/// The get-token response envelope (upstream's <c>response()</c> helper). Newt reads <c>success</c>, <c>message</c>,
/// <c>data.token</c> and <c>data.serverVersion</c> (U:newt websocket/types.go <c>TokenResponse</c>).
/// </summary>
public sealed record GetTokenResponse
{
    /// <summary>Null when upstream answers "Token session already valid".</summary>
    public GetTokenData? Data { get; init; }

    public bool Success { get; init; }

    public bool Error { get; init; }

    public string Message { get; init => field = value ?? ""; } = "";

    public int Status { get; init; }
}

/// <summary>The <c>data</c> of <see cref="GetTokenResponse"/>.</summary>
public sealed record GetTokenData
{
    public string Token { get; init => field = value ?? ""; } = "";

    /// <summary>Must be non-empty: newt only starts its get-config loop when it is.</summary>
    public string ServerVersion { get; init => field = value ?? ""; } = "";
}
