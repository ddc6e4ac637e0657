using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Pangolin.Server.Tests.Infrastructure;

/// <summary>A response: status, parsed JSON body (envelope or problem details) and headers.</summary>
public sealed record ApiReply(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)
{
    public int Code => (int)Status;

    public JsonElement Data => Body.GetProperty("data");

    public string Message => Body.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";

    public override string ToString() => $"{Code} {Body}";

    /// <summary>Asserts the status, showing the body when it differs.</summary>
    public ApiReply Expect(int status)
    {
        Assert.True(Code == status, $"expected {status}, got {this}");
        return this;
    }
}

public static class ApiClientExtensions
{
    public static Task<ApiReply> GetJsonAsync(this HttpClient client, string path) => SendAsync(client, HttpMethod.Get, path, null);

    public static Task<ApiReply> PutJsonAsync(this HttpClient client, string path, object? body = null) => SendAsync(client, HttpMethod.Put, path, body);

    public static Task<ApiReply> PostJsonAsync(this HttpClient client, string path, object? body = null) => SendAsync(client, HttpMethod.Post, path, body);

    public static Task<ApiReply> PatchJsonAsync(this HttpClient client, string path, object? body = null) => SendAsync(client, HttpMethod.Patch, path, body);

    public static Task<ApiReply> DeleteJsonAsync(this HttpClient client, string path, object? body = null) => SendAsync(client, HttpMethod.Delete, path, body);

    /// <summary>Sends a raw body (possibly malformed) with a content type.</summary>
    public static async Task<ApiReply> SendRawAsync(this HttpClient client, HttpMethod method, string path, string body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        return await ReadAsync(await client.SendAsync(request));
    }

    public static async Task<ApiReply> SendAsync(this HttpClient client, HttpMethod method, string path, object? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = body is string s ? new StringContent(s, Encoding.UTF8, "application/json") : JsonContent.Create(body, options: JsonSerializerOptions.Web);
        }
        return await ReadAsync(await client.SendAsync(request));
    }

    private static async Task<ApiReply> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        var json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return new ApiReply(response.StatusCode, json, response);
    }
}
