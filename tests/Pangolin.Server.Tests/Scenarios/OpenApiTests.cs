using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Scenarios;

/// <summary>The OpenAPI documents are generated from the code; a request type the generator cannot describe breaks them.</summary>
public sealed class OpenApiTests(PostgresServer postgres) : ServerTestBase(DatabaseKind.Sqlite, postgres)
{
    [Fact]
    public async Task Both_openapi_documents_generate_and_describe_every_endpoint()
    {
        var integration = (await Factory.IntegrationClient(null).GetJsonAsync("openapi.json")).Expect(200);
        var dashboard = (await Factory.DashboardClient().GetJsonAsync("openapi/dashboard.json")).Expect(200);
        var paths = integration.Body.GetProperty("paths");
        foreach (var path in new[] { "/v1/org/{orgId}/resources", "/v1/resource/{resourceId}", "/v1/target/{targetId}", "/v1/org/{orgId}/api-key" })
        {
            Assert.True(paths.TryGetProperty(path, out _), path);
        }
        Assert.False(paths.TryGetProperty("/v1/auth/login", out _), "sign-in belongs to the dashboard API only");
        Assert.True(dashboard.Body.GetProperty("paths").TryGetProperty("/api/v1/auth/login", out _));
    }
}
