using System.Globalization;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Server.Auth;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Authorization;

/// <summary>
/// Runs <see cref="AuthorizationMatrix"/> against the real pipeline: every row with every kind of caller, each the way
/// that caller would call (sessions on the dashboard API with the CSRF header, keys on the integration API, anonymous on
/// both), collecting every difference before failing so that one run shows them all.
/// </summary>
public abstract class AuthorizationMatrixTests(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    private readonly SmtpTestServer _mail = new();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        // Access control is under test here, not the rate limits (they have their own tests).
        ["RateLimits:Enabled"] = "false",
        // The run creates a few dozen orgs; the default pools hold sixteen.
        ["Orgs:SubnetGroup"] = "100.64.0.0/16",
        ["Orgs:UtilitySubnetGroup"] = "100.65.0.0/16",
        ["Email:SmtpHost"] = "127.0.0.1",
        ["Email:SmtpPort"] = _mail.Port.ToString(CultureInfo.InvariantCulture),
        ["Email:SmtpSecurity"] = "none",
        ["Email:NoReply"] = "pangolin@example.com",
        // Some two thousand requests: every SQL command and routing step in the captured log would cost more than the calls.
        ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Warning",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await _mail.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void Every_api_endpoint_has_a_matrix_row_and_every_row_an_endpoint()
    {
        var endpoints = ApiEndpoints();
        var rows = AuthorizationMatrix.Rows;
        var problems = new List<string>();

        foreach (var e in endpoints)
        {
            var named = rows.Where(r => r.Endpoint == (e.Method, e.Route)).ToList();
            if (named.Count == 0)
            {
                problems.Add($"no matrix row for {e}");
                continue;
            }
            if (named.Any(r => !r.Surfaces.HasFlag(e.Surface)))
            {
                problems.Add($"{e} is served on {e.Surface}, but its row says {named[0].Surfaces}");
            }
            if (e.Rule is null && !e.IsPublic)
            {
                problems.Add($"{e} carries neither AccessRule nor PublicEndpoint metadata");
            }
            if (e.Rule is not null && e.IsPublic)
            {
                problems.Add($"{e} carries both AccessRule and PublicEndpoint metadata");
            }
            foreach (var row in named.Where(r => r.Scope != e.Rule?.Scope || r.Action != e.Rule?.Action))
            {
                problems.Add($"{e} requires {e.Rule?.ToString() ?? "nothing (public)"}, but its row says {(row.Scope is null ? "public" : $"{row.Scope}:{row.Action}")}");
            }
        }

        foreach (var row in rows)
        {
            foreach (var surface in new[] { Surfaces.Dashboard, Surfaces.Integration }.Where(s => row.Surfaces.HasFlag(s)))
            {
                if (!endpoints.Any(e => e.Surface == surface && e.Method == row.Method && e.Route == row.Route))
                {
                    problems.Add($"row {row} names no endpoint on {surface}");
                }
            }
            var callers = Enum.GetValues<Who>().Where(w => CallsOf(w, row.Surfaces).Any()).ToList();
            var missing = callers.Where(w => !row.Expected.ContainsKey(w)).ToList();
            var extra = row.Expected.Keys.Except(callers).ToList();
            if (missing.Count > 0)
            {
                problems.Add($"row {row} says nothing for {string.Join(", ", missing)}");
            }
            if (extra.Count > 0)
            {
                problems.Add($"row {row} expects {string.Join(", ", extra)}, who cannot reach {row.Surfaces}");
            }
        }
        foreach (var twin in rows.GroupBy(r => r.ToString()).Where(g => g.Count() > 1))
        {
            problems.Add($"{twin.Count()} rows for {twin.Key}: name the variants");
        }

        // A sanity floor, so that a broken endpoint lookup cannot make this test pass vacuously.
        Assert.True(endpoints.Count > 100, $"only {endpoints.Count} API endpoints found");
        Assert.True(problems.Count == 0, $"The authorization matrix and the API disagree:\n{string.Join("\n", problems)}");
    }

    [Fact]
    public async Task Every_endpoint_answers_every_kind_of_caller_as_the_matrix_says()
    {
        using var world = await MatrixWorld.SeedAsync(Factory, _mail);

        // The matrix spells out the Member role's actions; they must be what the server gives the role.
        var memberActions = (await world.Admin.GetJsonAsync($"role/{world.MemberRoleId}/actions")).Expect(200)
            .Data.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("actionId").GetString()!).Order(StringComparer.Ordinal);
        Assert.Equal(AuthorizationMatrix.MemberRoleActions.Order(StringComparer.Ordinal), memberActions);

        var mismatches = new List<string>();
        var calls = 0;
        foreach (var row in AuthorizationMatrix.Rows)
        {
            await world.ArmKeysAsync(row.Action);
            foreach (var (who, expected) in row.Expected.OrderBy(e => e.Key))
            {
                foreach (var surface in CallsOf(who, row.Surfaces))
                {
                    calls++;
                    using var call = new MatrixCall(world, who, surface, world.Next(), expected);
                    var (status, detail) = await CallAsync(row, call);
                    if (status != expected)
                    {
                        mismatches.Add($"{detail} as {who}: expected {expected}, got {status}");
                    }
                }
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{AuthorizationMatrix.Rows.Count} rows, {calls} calls, {mismatches.Count} mismatches");
        Assert.True(mismatches.Count == 0,
            $"{mismatches.Count} of {calls} calls differ from the authorization matrix:\n{string.Join("\n", mismatches)}");
    }

    /// <summary>Where a caller calls from: sessions on the dashboard API, keys on the integration API, anonymous on both.</summary>
    private static IEnumerable<Surfaces> CallsOf(Who who, Surfaces served) =>
        (who switch
        {
            Who.Anonymous => new[] { Surfaces.Dashboard, Surfaces.Integration },
            Who.Member or Who.OrgAdmin or Who.OtherOrgAdmin or Who.ServerAdmin => [Surfaces.Dashboard],
            _ => [Surfaces.Integration],
        }).Where(s => served.HasFlag(s));

    private static async Task<(int Status, string Detail)> CallAsync(MatrixRow row, MatrixCall call)
    {
        var prefix = call.Surface == Surfaces.Dashboard ? "/api/v1" : "/v1";
        var detail = $"{row} on {prefix}";
        var status = -1;
        try
        {
            if (row.Setup is not null)
            {
                await row.Setup(call);
            }
            var path = row.Path(call);
            detail = $"{row.Method} {prefix}/{path}{(row.Variant is null ? "" : $" ({row.Variant})")}";
            var reply = await call.World.ClientFor(call).SendAsync(new HttpMethod(row.Method), path, row.Body?.Invoke(call));
            status = call.Status = reply.Code;
            detail += $" — \"{reply.Message}\"";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            detail += $" — failed: {e.GetType().Name}: {e.Message}";
        }
        try
        {
            if (row.Teardown is not null)
            {
                await row.Teardown(call);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The status may be right, but what the row changed is not put back: later rows would mislead.
            status = -1;
            detail += $" — teardown failed: {e.GetType().Name}: {e.Message}";
        }
        return (status, detail);
    }

    private sealed record ApiEndpoint(Surfaces Surface, string Method, string Route, AccessRule? Rule, bool IsPublic)
    {
        public override string ToString() => $"{Method} {(Surface == Surfaces.Dashboard ? "/api/v1" : "/v1")}{Route}";
    }

    /// <summary>The endpoints the running app serves under /api/v1 and /v1, without the API documents and the health answers.</summary>
    private List<ApiEndpoint> ApiEndpoints()
    {
        var found = new List<ApiEndpoint>();
        foreach (var endpoint in Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var pattern = "/" + (endpoint.RoutePattern.RawText ?? "").TrimStart('/').Replace("//", "/", StringComparison.Ordinal);
            var (surface, route) = pattern switch
            {
                _ when pattern.StartsWith("/api/v1/", StringComparison.Ordinal) => (Surfaces.Dashboard, pattern["/api/v1".Length..]),
                _ when pattern.StartsWith("/v1/", StringComparison.Ordinal) => (Surfaces.Integration, pattern["/v1".Length..]),
                _ => (default(Surfaces), ""),
            };
            // The exit-node and Badger APIs (/api/v1/gerbil, /api/v1/badger) have no callers to authorize: they are
            // served on the internal port only, which ExitNodeApiTests and BadgerApiTests check.
            if (surface == default || route == "/" || route.StartsWith("/openapi", StringComparison.Ordinal) || route.StartsWith("/docs", StringComparison.Ordinal)
                || pattern.StartsWith("/api/v1/gerbil/", StringComparison.Ordinal) || pattern.StartsWith("/api/v1/badger/", StringComparison.Ordinal))
            {
                continue;
            }
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [];
            Assert.True(methods.Count > 0, $"{pattern} answers every method");
            foreach (var method in methods)
            {
                found.Add(new ApiEndpoint(surface, method, route, endpoint.Metadata.GetMetadata<AccessRule>(),
                    endpoint.Metadata.GetMetadata<PublicEndpoint>() is not null));
            }
        }
        return found;
    }
}

public sealed class SqliteAuthorizationMatrixTests(PostgresServer postgres) : AuthorizationMatrixTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresAuthorizationMatrixTests(PostgresServer postgres) : AuthorizationMatrixTests(DatabaseKind.Postgres, postgres);
