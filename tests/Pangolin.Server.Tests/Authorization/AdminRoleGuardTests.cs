using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Authorization;

/// <summary>
/// Holding an action to manage roles does not make one an admin: only admins grant the Admin role or take it away,
/// whichever endpoint is used. The matrix cannot show this (its member holds no role actions), so it is checked here.
/// </summary>
public abstract class AdminRoleGuardTests(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    [Fact]
    public async Task Only_admins_take_the_admin_role_away_even_from_callers_allowed_to_remove_roles()
    {
        var admin = await AdminAsync();
        var owner = await SignUpAsync("owner@example.com");
        await CreateOrgAsync(owner, "acme");
        var helper = await SignUpAsync("helper@example.com");
        var deputyId = await UserIdAsync(await SignUpAsync("deputy@example.com"));
        var roles = (await owner.GetJsonAsync("org/acme/roles")).Expect(200).Data.GetProperty("roles").EnumerateArray().ToList();
        var adminRole = roles.Single(r => r.GetProperty("isAdmin").GetBoolean()).GetProperty("roleId").GetInt32();
        var memberRole = roles.Single(r => r.GetProperty("name").GetString() == "Member").GetProperty("roleId").GetInt32();
        var helpersRole = (await owner.PutJsonAsync("org/acme/role", new { name = "Helpers", actionIds = new[] { "removeUserRole" } }))
            .Expect(201).Data.GetProperty("roleId").GetInt32();
        (await admin.PutJsonAsync("org/acme/user", new { email = "helper@example.com", roleIds = new[] { memberRole, helpersRole } })).Expect(201);
        (await admin.PutJsonAsync("org/acme/user", new { email = "deputy@example.com", roleIds = new[] { adminRole, memberRole } })).Expect(201);
        var key = (await owner.PutJsonAsync("org/acme/api-key", new { name = "helper", actionIds = new[] { "removeUserRole" } })).Expect(201).Data;
        using var keyClient = Factory.IntegrationClient($"{key.GetProperty("apiKeyId").GetString()}.{key.GetProperty("apiKey").GetString()}");

        var refused = (await helper.PostJsonAsync($"role/{adminRole}/remove/{deputyId}")).Expect(403);
        Assert.Contains("Admin role", refused.Message, StringComparison.Ordinal);
        (await keyClient.PostJsonAsync($"role/{adminRole}/remove/{deputyId}")).Expect(403);
        var deputy = (await owner.GetJsonAsync($"org/acme/user/{deputyId}")).Expect(200).Data;
        Assert.True(deputy.GetProperty("isAdmin").GetBoolean());

        // An ordinary role is what the action is for; an admin may take the Admin role away.
        (await helper.PostJsonAsync($"role/{memberRole}/remove/{deputyId}")).Expect(200);
        (await owner.PostJsonAsync($"role/{memberRole}/add/{deputyId}")).Expect(200);
        (await owner.PostJsonAsync($"role/{adminRole}/remove/{deputyId}")).Expect(200);
        Assert.False((await owner.GetJsonAsync($"org/acme/user/{deputyId}")).Expect(200).Data.GetProperty("isAdmin").GetBoolean());
    }
}

public sealed class SqliteAdminRoleGuardTests(PostgresServer postgres) : AdminRoleGuardTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresAdminRoleGuardTests(PostgresServer postgres) : AdminRoleGuardTests(DatabaseKind.Postgres, postgres);
