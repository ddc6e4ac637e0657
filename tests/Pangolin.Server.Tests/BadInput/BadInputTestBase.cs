using System.Text.Json;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>
/// Shared setup and assertions for the bad-input tests: an org with one of everything to aim bad requests at,
/// and <see cref="Problem"/>, which checks that an error is a problem details document that says what to fix.
/// </summary>
public abstract class BadInputTestBase(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    public const string OrgId = "acme";
    public const string MemberEmail = "member@example.com";

    /// <summary>Ids of the entities <see cref="SeedAsync"/> creates in org "acme".</summary>
    protected sealed record World(
        HttpClient Admin, int SiteId, string SiteNiceId, int ResourceId, string ResourceNiceId, int RawResourceId, int TargetId,
        int RuleId, int RoleId, int MemberRoleId, int AdminRoleId, string MemberId, string ApiKeyId, string ApiKey, string DomainId,
        string CustomDomainId, string AccessTokenId, string InviteId);

    /// <summary>
    /// Signs in the server admin and creates org "acme" with a site, an HTTP resource (app.example.test) with a target
    /// and a rule, a raw TCP resource on port 7000, a custom role "Ops", a member, an org API key, a custom domain,
    /// a share link and an invitation.
    /// </summary>
    protected async Task<World> SeedAsync()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, OrgId);
        var site = (await admin.PutJsonAsync($"org/{OrgId}/site", new { name = "Home Lab", type = "local" })).Expect(201).Data;
        var resource = (await admin.PutJsonAsync($"org/{OrgId}/resource", new { name = "App", http = true, domainId = "main", subdomain = "app" }))
            .Expect(201).Data;
        var resourceId = resource.GetProperty("resourceId").GetInt32();
        var raw = (await admin.PutJsonAsync($"org/{OrgId}/resource", new { name = "Raw", http = false, protocol = "tcp", proxyPort = 7000 }))
            .Expect(201).Data;
        var siteId = site.GetProperty("siteId").GetInt32();
        var target = (await admin.PutJsonAsync($"resource/{resourceId}/target", new { siteId, ip = "10.0.0.5", port = 3000 })).Expect(201).Data;
        var rule = (await admin.PutJsonAsync($"resource/{resourceId}/rule", new { action = "ACCEPT", match = "IP", value = "192.0.2.1", priority = 1 }))
            .Expect(201).Data;
        var role = (await admin.PutJsonAsync($"org/{OrgId}/role", new { name = "Ops" })).Expect(201).Data;
        var roles = (await admin.GetJsonAsync($"org/{OrgId}/roles")).Expect(200).Data.GetProperty("roles").EnumerateArray().ToList();
        int RoleNamed(string name) => roles.First(r => r.GetProperty("name").GetString() == name).GetProperty("roleId").GetInt32();
        var member = (await admin.PutJsonAsync($"org/{OrgId}/user", new { email = MemberEmail, password = Password, roleIds = new[] { RoleNamed("Member") } }))
            .Expect(201).Data;
        var key = (await admin.PutJsonAsync($"org/{OrgId}/api-key", new { name = "ci" })).Expect(201).Data;
        var domain = (await admin.PutJsonAsync($"org/{OrgId}/domain", new { type = "cname", baseDomain = "custom.example.org" })).Expect(201).Data;
        var token = (await admin.PostJsonAsync($"resource/{resourceId}/access-token", new { title = "share" })).Expect(201).Data;
        var invite = (await admin.PostJsonAsync($"org/{OrgId}/create-invite", new { email = "invited@example.com", validHours = 24, roleIds = new[] { RoleNamed("Member") } }))
            .Expect(200).Data;
        return new World(
            admin, siteId, site.GetProperty("niceId").GetString()!, resourceId, resource.GetProperty("niceId").GetString()!,
            raw.GetProperty("resourceId").GetInt32(), target.GetProperty("targetId").GetInt32(), rule.GetProperty("ruleId").GetInt32(),
            role.GetProperty("roleId").GetInt32(), RoleNamed("Member"), RoleNamed("Admin"), member.GetProperty("userId").GetString()!,
            key.GetProperty("apiKeyId").GetString()!, key.GetProperty("apiKey").GetString()!, "main", domain.GetProperty("domainId").GetString()!,
            token.GetProperty("accessTokenId").GetString()!, invite.GetProperty("inviteId").GetString()!);
    }

    /// <summary>Sends a raw body (possibly malformed) as application/json.</summary>
    protected static Task<ApiReply> RawAsync(HttpClient client, HttpMethod method, string path, string body, string contentType = "application/json") =>
        client.SendRawAsync(method, path, body, contentType);

    /// <summary>Sends a request without a body.</summary>
    protected static Task<ApiReply> EmptyAsync(HttpClient client, HttpMethod method, string path) => client.SendAsync(method, path, null);

    /// <summary>
    /// Asserts that <paramref name="reply"/> is an error with exactly <paramref name="status"/>, in problem details with
    /// Pangolin's envelope fields (data null, success false, error true, message equal to detail, status), whose message
    /// contains each of <paramref name="fragments"/> (ordinal: JSON field names are case-sensitive) and leaks nothing
    /// vague or internal.
    /// </summary>
    protected static ApiReply Problem(ApiReply reply, int status, params string[] fragments)
    {
        reply.Expect(status);
        Assert.True(reply.Response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"expected application/problem+json, got {reply.Response.Content.Headers.ContentType}: {reply}");
        var body = reply.Body;
        Assert.True(body.ValueKind == JsonValueKind.Object, $"expected a JSON object: {reply}");
        Assert.True(body.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Null, $"expected data: null: {reply}");
        Assert.True(body.TryGetProperty("success", out var success) && success.ValueKind == JsonValueKind.False, $"expected success: false: {reply}");
        Assert.True(body.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.True, $"expected error: true: {reply}");
        Assert.True(body.TryGetProperty("status", out var code) && code.ValueKind == JsonValueKind.Number && code.GetInt32() == status,
            $"expected status: {status}: {reply}");
        var message = reply.Message;
        Assert.False(string.IsNullOrWhiteSpace(message), $"expected a message: {reply}");
        Assert.True(body.TryGetProperty("detail", out var detail) && detail.GetString() == message, $"expected detail equal to message: {reply}");
        foreach (var vague in new[] { "Internal server error", "One or more validation errors", "System.", "Microsoft.", "Exception", "Did you mean" })
        {
            Assert.False(message.Contains(vague, StringComparison.Ordinal), $"message leaks or is vague ('{vague}'): {reply}");
        }
        var title = body.TryGetProperty("title", out var t) ? t.GetString() : null;
        Assert.NotEqual(title, message);
        Assert.False(title?.Contains("One or more", StringComparison.Ordinal) == true, $"vague title: {reply}");
        foreach (var fragment in fragments)
        {
            Assert.True(message.Contains(fragment, StringComparison.Ordinal), $"expected the message to contain '{fragment}': {reply}");
        }
        return reply;
    }

    /// <summary>The server logged no unhandled exception (each would have been a 500).</summary>
    protected void AssertNoUnhandledExceptions()
    {
        var unhandled = Factory.Logs.Where(l => l.Contains("Unhandled exception", StringComparison.Ordinal)).ToList();
        Assert.True(unhandled.Count == 0, "unhandled exceptions were logged:\n" + string.Join("\n", unhandled));
    }

    /// <summary>A JSON string literal for a raw body.</summary>
    protected static string Json(object value) => JsonSerializer.Serialize(value, JsonSerializerOptions.Web);
}
