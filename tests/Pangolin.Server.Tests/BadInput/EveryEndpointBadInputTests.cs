using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Server.Auth;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>
/// Sweeps every mapped endpoint of both API surfaces (read from the server's endpoint data source, so a new
/// endpoint is covered without a new test): malformed bodies and missing or malformed ids each get the right 4xx
/// with a message that says what to fix, the same on the dashboard and the integration API, and nothing is logged
/// as an unhandled exception.
/// </summary>
public abstract partial class EveryEndpointBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    private const string Dashboard = "/api/v1/";
    private const string Integration = "/v1/";

    private static readonly string[] IntIds = ["siteId", "resourceId", "targetId", "roleId", "ruleId", "certId"];

    [Fact]
    public async Task Every_endpoint_that_takes_a_json_body_refuses_malformed_bodies_alike_on_both_surfaces()
    {
        var w = await SeedAsync();
        var (rootKeyId, integration) = await RootKeyClientAsync(w.Admin);
        // get-token reads its body by newt's lenient contract (unknown fields are upstream newts' extras, not errors);
        // ControlChannelTests covers its bad bodies.
        var endpoints = Endpoints().Where(e => e.Body is not null && e.Pattern != Dashboard + "auth/newt/get-token").ToList();
        Assert.True(endpoints.Count(e => e.Pattern.StartsWith(Dashboard, StringComparison.Ordinal)) >= 40,
            $"expected the dashboard's body endpoints, found {endpoints.Count}");

        var cases = new (string Name, string Body, string ContentType, int Status, string Fragment)[]
        {
            ("truncated", "{", "application/json", 400, "not valid JSON"),
            ("trailing garbage", "{} x", "application/json", 400, "not valid JSON"),
            ("not JSON", "name=x", "application/json", 400, "not valid JSON"),
            ("an array", "[]", "application/json", 400, "the request body must be a JSON object"),
            ("a string", "\"x\"", "application/json", 400, "the request body must be a JSON object"),
            ("an unknown field", "{\"unknownField\":1}", "application/json", 400, "unknown field \"unknownField\""),
            ("a wrong content type", "{}", "text/plain", 415, "Content-Type: application/json"),
            ("a form", "name=x", "application/x-www-form-urlencoded", 415, "Content-Type: application/json"),
        };
        var messages = new Dictionary<string, string>(StringComparer.Ordinal);
        var checkedCount = 0;
        foreach (var endpoint in endpoints)
        {
            var integrationSide = endpoint.Pattern.StartsWith(Integration, StringComparison.Ordinal);
            var client = integrationSide ? integration : w.Admin;
            var path = Fill(endpoint.Pattern, w, rootKeyId, integrationSide);
            var all = endpoint.Body!.IsOptional ? cases : [.. cases, ("empty", "", "application/json", 400, "A JSON request body is required")];
            foreach (var (name, body, contentType, status, fragment) in all)
            {
                var reply = await RawAsync(client, endpoint.Method, path, body, contentType);
                Problem(reply, status, fragment);
                // The same mistake gets the same answer on both surfaces.
                var key = $"{endpoint.Method} {endpoint.Pattern[(integrationSide ? Integration : Dashboard).Length..]} {name}";
                if (messages.TryGetValue(key, out var other))
                {
                    Assert.Equal(other, reply.Message);
                }
                else
                {
                    messages[key] = reply.Message;
                }
                checkedCount++;
            }
        }
        Assert.True(checkedCount > 400, $"only {checkedCount} requests were checked");
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task Every_route_answers_404_for_a_missing_id_and_400_for_a_malformed_one_on_both_surfaces()
    {
        var w = await SeedAsync();
        var (rootKeyId, integration) = await RootKeyClientAsync(w.Admin);
        // Reads and deletes, and actions without a body: with one id missing, nothing is changed.
        var endpoints = Endpoints().Where(e => e.Body is null && e.Parameters.Count > 0).ToList();
        Assert.True(endpoints.Count >= 40, $"expected the routes with ids, found {endpoints.Count}");
        var checkedCount = 0;
        foreach (var endpoint in endpoints)
        {
            var integrationSide = endpoint.Pattern.StartsWith(Integration, StringComparison.Ordinal);
            var client = integrationSide ? integration : w.Admin;
            foreach (var parameter in endpoint.Parameters)
            {
                var isInt = IntIds.Contains(parameter, StringComparer.Ordinal);
                var missing = Fill(endpoint.Pattern, w, rootKeyId, integrationSide, parameter, isInt ? "999999" : "missing-id");
                var reply = await EmptyAsync(client, endpoint.Method, missing);
                var expected = MissingIdStatus(endpoint, parameter);
                Problem(reply, expected, expected == 404 ? "not found" : "is not a member of this organization");
                checkedCount++;
                if (isInt)
                {
                    foreach (var malformed in new[] { "abc", "0", "-1", "1.5", "99999999999" })
                    {
                        var bad = Fill(endpoint.Pattern, w, rootKeyId, integrationSide, parameter, malformed);
                        Problem(await EmptyAsync(client, endpoint.Method, bad), 400, $"\"{parameter}\" must be a positive integer");
                        checkedCount++;
                    }
                }
            }
        }
        Assert.True(checkedCount > 200, $"only {checkedCount} requests were checked");
        AssertNoUnhandledExceptions();
    }

    /// <summary>A missing user in /role/{roleId}/add|remove/{userId} is a bad reference (400), like one in a body.</summary>
    private static int MissingIdStatus(EndpointInfo endpoint, string parameter) =>
        parameter == "userId" && endpoint.Pattern.Contains("/role/{roleId}/", StringComparison.Ordinal) ? 400 : 404;

    private async Task<(string RootKeyId, HttpClient Client)> RootKeyClientAsync(HttpClient admin)
    {
        var key = (await admin.PutJsonAsync("api-key", new { name = "root", actionIds = ActionIds.All })).Expect(201).Data;
        var id = key.GetProperty("apiKeyId").GetString()!;
        return (id, Factory.IntegrationClient($"{id}.{key.GetProperty("apiKey").GetString()}"));
    }

    private sealed record EndpointInfo(HttpMethod Method, string Pattern, IReadOnlyList<string> Parameters, IAcceptsMetadata? Body);

    /// <summary>Every API route and method of both surfaces (those with access metadata), with its route parameters and JSON body.</summary>
    private List<EndpointInfo> Endpoints()
    {
        var source = Factory.Services.GetRequiredService<EndpointDataSource>();
        return source.Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw
                && (raw.StartsWith(Dashboard, StringComparison.Ordinal) || raw.StartsWith(Integration, StringComparison.Ordinal))
                && (e.Metadata.GetMetadata<AccessRule>() is not null || e.Metadata.GetMetadata<PublicEndpoint>() is not null))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Select(m => new EndpointInfo(
                new HttpMethod(m),
                e.RoutePattern.RawText!,
                e.RoutePattern.Parameters.Select(p => p.Name).ToList(),
                e.Metadata.GetMetadata<IAcceptsMetadata>() is { RequestType: not null } accepts ? accepts : null)))
            .Where(e => e.Method != HttpMethod.Head && e.Method != HttpMethod.Options)
            .OrderBy(e => e.Pattern, StringComparer.Ordinal).ThenBy(e => e.Method.Method, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>The request path for a route pattern, with the seeded entities' ids (and one id replaced, if asked).</summary>
    private static string Fill(string pattern, BadInputTestBase.World w, string rootKeyId, bool integrationSide, string? replace = null, string? with = null)
    {
        var relative = pattern[(integrationSide ? Integration : Dashboard).Length..];
        return ParameterRegex().Replace(relative, m =>
        {
            var name = m.Groups[1].Value;
            if (name == replace)
            {
                return with!;
            }
            return name switch
            {
                "orgId" => OrgId,
                "siteId" => w.SiteId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "resourceId" => w.ResourceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "targetId" => w.TargetId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "roleId" => w.RoleId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "ruleId" => w.RuleId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "userId" => w.MemberId,
                "inviteId" => w.InviteId,
                "domainId" => w.CustomDomainId,
                "accessTokenId" => w.AccessTokenId,
                "certId" => "1",
                "domain" => "www.custom.example.org",
                "apiKeyId" => relative.StartsWith("org/", StringComparison.Ordinal) ? w.ApiKeyId : rootKeyId,
                "niceId" => relative.Contains("/site/", StringComparison.Ordinal) ? w.SiteNiceId : w.ResourceNiceId,
                _ => throw new InvalidOperationException($"no value for route parameter {{{name}}} in {pattern}; add one to Fill"),
            };
        });
    }

    [GeneratedRegex(@"\{([A-Za-z]+)(:[^}]*)?\}")]
    private static partial Regex ParameterRegex();
}

public sealed class SqliteEveryEndpointBadInputTests(PostgresServer postgres) : EveryEndpointBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresEveryEndpointBadInputTests(PostgresServer postgres) : EveryEndpointBadInputTests(DatabaseKind.Postgres, postgres);
