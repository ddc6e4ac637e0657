using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;

namespace Pangolin.Newt.Control;

/// <summary>The server refused the newt's id and secret (HTTP 400, 401 or 403 from get-token).</summary>
internal sealed class CredentialsRefusedException(string message) : Exception(message);

/// <summary>The endpoint could not be reached, or answered something that is not a token.</summary>
internal sealed class EndpointException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// <c>POST {endpoint}/api/v1/auth/newt/get-token</c>: the id and secret for a short-lived WebSocket token. As upstream's
/// newt, the endpoint's path is kept here (it is dropped for the WebSocket).
/// </summary>
internal sealed class TokenClient(ServerConnection server, NewtOptions options)
{
    public async Task<string> GetTokenAsync(CancellationToken ct)
    {
        var url = new Uri(options.Endpoint.ToString().TrimEnd('/') + "/api/v1/auth/newt/get-token");
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = JsonContent.Create(new GetTokenRequest { NewtId = options.Id, Secret = options.Secret }, ProtocolJsonContext.Default.GetTokenRequest),
        };
        request.Headers.Add("X-CSRF-Token", "x-csrf-protection");
        HttpResponseMessage response;
        try
        {
            response = await server.Http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new EndpointException($"cannot reach {options.Endpoint}: {server.Explain(e)}", e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new EndpointException($"cannot reach {options.Endpoint}: no answer within {server.Http.Timeout.TotalSeconds:0} s", e);
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw new CredentialsRefusedException($"the server refused newt id {options.Id}: {MessageOf(body) ?? response.ReasonPhrase} (check --id and --secret)");
            }
            if (!response.IsSuccessStatusCode)
            {
                throw new EndpointException($"{url} answered {(int)response.StatusCode} {MessageOf(body) ?? response.ReasonPhrase}");
            }
            GetTokenResponse? parsed;
            try
            {
                parsed = JsonSerializer.Deserialize(body, ProtocolJsonContext.Default.GetTokenResponse);
            }
            catch (JsonException e)
            {
                throw new EndpointException($"{url} did not answer with a token; is {options.Endpoint} a Pangolin server?", e);
            }
            return parsed?.Data?.Token is { Length: > 0 } token
                ? token
                : throw new EndpointException($"{url} did not answer with a token: {parsed?.Message}");
        }
    }

    /// <summary>The message of an envelope or a problem details body, if it has one.</summary>
    private static string? MessageOf(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            foreach (var name in new[] { "message", "detail", "title" })
            {
                if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
                {
                    return value.GetString();
                }
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }
}
