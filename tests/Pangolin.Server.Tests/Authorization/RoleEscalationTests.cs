using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Authorization;

/// <summary>
/// Assigning a role hands on its actions: a member allowed to assign roles may only assign roles whose actions they
/// hold, so nobody promotes themselves. Root API keys act as admins of every org.
/// </summary>
public abstract class RoleEscalationTests(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    [Fact]
    public async Task A_member_who_may_assign_roles_cannot_take_a_stronger_role_but_a_root_key_may_make_an_admin()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var clerk = await SignUpAsync("clerk@example.com");
        var clerkId = await UserIdAsync(clerk);
        var roles = (await admin.GetJsonAsync("org/acme/roles")).Expect(200).Data.GetProperty("roles").EnumerateArray().ToList();
        var adminRole = roles.Single(r => r.GetProperty("isAdmin").GetBoolean()).GetProperty("roleId").GetInt32();
        var clerks = (await admin.PutJsonAsync("org/acme/role", new { name = "Clerks", actionIds = new[] { "getOrg", "addUserRole", "setUserOrgRoles", "inviteUser" } }))
            .Expect(201).Data.GetProperty("roleId").GetInt32();
        var operators = (await admin.PutJsonAsync("org/acme/role", new { name = "Operators", actionIds = new[] { "getOrg", "createSite", "deleteSite" } }))
            .Expect(201).Data.GetProperty("roleId").GetInt32();
        var readers = (await admin.PutJsonAsync("org/acme/role", new { name = "Readers", actionIds = new[] { "getOrg" } }))
            .Expect(201).Data.GetProperty("roleId").GetInt32();
        (await admin.PutJsonAsync("org/acme/user", new { email = "clerk@example.com", roleIds = new[] { clerks } })).Expect(201);

        var viaAdd = (await clerk.PostJsonAsync($"role/{operators}/add/{clerkId}")).Expect(403);
        Assert.Contains("createSite", viaAdd.Message, StringComparison.Ordinal);
        (await clerk.PostJsonAsync($"org/acme/user/{clerkId}", new { roleIds = new[] { clerks, operators } })).Expect(403);
        (await clerk.PostJsonAsync("org/acme/create-invite", new { email = "friend@example.com", roleIds = new[] { operators }, validHours = 1 })).Expect(403);
        (await clerk.PutJsonAsync("org/acme/site", new { name = "Still not allowed", type = "local" })).Expect(403);

        // A role within the clerk's own rights is what the action is for.
        (await clerk.PostJsonAsync($"role/{readers}/add/{clerkId}")).Expect(200);

        var root = (await admin.PutJsonAsync("api-key", new { name = "root", actionIds = new[] { "addUserRole" } })).Expect(201).Data;
        using var rootClient = Factory.IntegrationClient($"{root.GetProperty("apiKeyId").GetString()}.{root.GetProperty("apiKey").GetString()}");
        (await rootClient.PostJsonAsync($"role/{adminRole}/add/{clerkId}")).Expect(200);
        Assert.True((await admin.GetJsonAsync($"org/acme/user/{clerkId}")).Expect(200).Data.GetProperty("isAdmin").GetBoolean());
    }
}

public sealed class SqliteRoleEscalationTests(PostgresServer postgres) : RoleEscalationTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresRoleEscalationTests(PostgresServer postgres) : RoleEscalationTests(DatabaseKind.Postgres, postgres);
