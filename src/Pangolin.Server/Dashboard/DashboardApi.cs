using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Dashboard;

/// <summary>What an API call answered: the data on success, else the message and the errors by field.</summary>
public sealed record ApiAnswer<T>(HttpStatusCode Status, T? Data, string? Message, IReadOnlyDictionary<string, string[]> Errors)
{
    public bool Ok => (int)Status is >= 200 and < 300;

    public bool SignedOut => Status == HttpStatusCode.Unauthorized;
}

/// <summary>
/// The dashboard's only way to data: this server's REST API over loopback, as the signed-in browser. Every action
/// thus passes the API's validation, authorization and audit log, and its problem details become field errors.
/// </summary>
public sealed class DashboardApi(
    HttpClient http, DashboardSession session, IHttpContextAccessor accessor, SecretProtector protector, IOptions<ServerOptions> server)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly IReadOnlyDictionary<string, string[]> NoErrors = new Dictionary<string, string[]>();

    public Task<ApiAnswer<T>> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, ct);

    public async Task<ApiAnswer<T>> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        session.EnsureCaptured(accessor, server.Value.SessionCookieName);
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (session.SessionToken is { Length: > 0 } token)
        {
            request.Headers.Add("Cookie", $"{server.Value.SessionCookieName}={token}");
        }
        request.Headers.Add("X-CSRF-Token", "x-csrf-protection");
        if (session.ClientIp is { } ip)
        {
            request.Headers.Add(DashboardRelayMiddleware.Header, DashboardRelayMiddleware.Sign(protector, ip));
        }
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json);
        }
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        using var document = text.Length > 0 ? JsonDocument.Parse(text) : null;
        var root = document?.RootElement;
        string? message = null;
        var errors = NoErrors;
        T? data = default;
        if (root is { ValueKind: JsonValueKind.Object } json)
        {
            if (json.TryGetProperty("data", out var d) && d.ValueKind != JsonValueKind.Null && response.IsSuccessStatusCode)
            {
                data = d.Deserialize<T>(Json);
            }
            message = json.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String ? detail.GetString()
                : json.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            if (json.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Object)
            {
                errors = e.Deserialize<Dictionary<string, string[]>>(Json) ?? NoErrors;
            }
        }
        return new ApiAnswer<T>(response.StatusCode, data, message, errors);
    }
}
