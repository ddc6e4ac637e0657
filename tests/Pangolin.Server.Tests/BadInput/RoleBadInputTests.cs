using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to roles: PUT /org/{orgId}/role, GET|POST|DELETE /role/{roleId}, its actions and members.</summary>
public abstract class RoleBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Roles_name_each_bad_field_and_refuse_a_taken_name()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"org/{OrgId}/role";

        Problem(await RawAsync(admin, HttpMethod.Put, path, "{name:\"Ops\"}"), 400, "not valid JSON");
        Problem(await admin.PutJsonAsync(path, new { }), 400, "is required at \"name\"");
        Problem(await admin.PutJsonAsync(path, new { name = "Dev", isAdmin = true }), 400, "unknown field \"isAdmin\"");
        Problem(await admin.PutJsonAsync(path, new { name = new string('r', 256) }), 400, "\"name\"");
        Problem(await admin.PutJsonAsync(path, new { name = "Dev", description = new string('d', 1025) }), 400, "\"description\"");
        Problem(await admin.PutJsonAsync(path, new { name = "Dev", requireDeviceApproval = "no" }), 400, "expected true or false at \"requireDeviceApproval\"");
        Problem(await admin.PutJsonAsync(path, new { name = "Dev", actionIds = "getOrg" }), 400, "expected an array at \"actionIds\"");
        Problem(await admin.PutJsonAsync(path, new { name = "Dev", actionIds = new string?[] { null } }), 400, "must not contain null at \"actionIds\"");
        Problem(await admin.PutJsonAsync(path, new { name = "Dev", actionIds = new[] { "getOrg", "fly" } }), 400, "unknown action 'fly'");
        // Upstream's literal message, with 409 for the duplicate.
        Problem(await admin.PutJsonAsync(path, new { name = "Ops" }), 409, "Role with that name already exists");
        Problem(await admin.PutJsonAsync(path, new { name = "Member" }), 409, "Role with that name already exists");

        var ops = $"role/{w.RoleId}";
        Problem(await admin.PostJsonAsync(ops, new { }), 400, "at least one field is required");
        Problem(await admin.PostJsonAsync(ops, new { name = (string?)null }), 400, "must not be null at \"name\"");
        Problem(await admin.PostJsonAsync(ops, new { name = "" }), 400, "\"name\"");
        Problem(await admin.PostJsonAsync(ops, new { name = "Member" }), 409, "Role with that name already exists");
        Problem(await admin.PostJsonAsync($"role/{w.AdminRoleId}", new { name = "Boss" }), 400, "The Admin role cannot be renamed");
        Problem(await admin.DeleteJsonAsync($"role/{w.AdminRoleId}"), 400, "The Admin role cannot be deleted");
        Problem(await admin.DeleteJsonAsync(ops, new { roleId = 999999 }), 400, "roleId must be another role of this organization");
        Problem(await admin.DeleteJsonAsync(ops, new { roleId = "x" }), 400, "expected an integer at \"roleId\"");
        Problem(await admin.DeleteJsonAsync(ops, new { roleId = w.RoleId }), 400, "the replacement role must differ");

        Problem(await admin.PostJsonAsync($"{ops}/actions", new { }), 400, "is required at \"actionIds\"");
        Problem(await admin.PostJsonAsync($"{ops}/actions", new { actionIds = new[] { "fly" } }), 400, "unknown action 'fly'");
        Problem(await admin.PostJsonAsync($"role/{w.AdminRoleId}/actions", new { actionIds = Array.Empty<string>() }), 400, "holds every action");
        Problem(await EmptyAsync(admin, HttpMethod.Post, $"{ops}/add/nope"), 400, "user nope is not a member of this organization");
        Problem(await EmptyAsync(admin, HttpMethod.Post, $"role/999999/add/{w.MemberId}"), 404, "Role not found");
        Problem(await EmptyAsync(admin, HttpMethod.Post, $"role/{w.MemberRoleId}/remove/{w.MemberId}"), 400, "A member needs at least one role");

        Problem(await admin.GetJsonAsync("role/abc"), 400, "\"roleId\" must be a positive integer");
        Problem(await admin.GetJsonAsync("role/999999"), 404, "Role not found");
        Problem(await admin.DeleteJsonAsync("role/999999"), 404, "Role not found");
        Problem(await admin.PostJsonAsync("role/999999/actions", new { actionIds = Array.Empty<string>() }), 404, "Role not found");

        var roles = (await admin.GetJsonAsync($"org/{OrgId}/roles")).Expect(200).Data.GetProperty("roles");
        Assert.Equal(["Admin", "Member", "Ops"], roles.EnumerateArray().Select(r => r.GetProperty("name").GetString()!).Order(StringComparer.Ordinal));
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteRoleBadInputTests(PostgresServer postgres) : RoleBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresRoleBadInputTests(PostgresServer postgres) : RoleBadInputTests(DatabaseKind.Postgres, postgres);
