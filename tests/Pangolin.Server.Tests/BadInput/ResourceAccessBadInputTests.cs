using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to a resource's access settings: role and user grants, password, PIN code, header auth, whitelist.</summary>
public abstract class ResourceAccessBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Role_and_user_grants_refuse_bad_input()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var resource = $"resource/{w.ResourceId}";

        Problem(await admin.PostJsonAsync($"{resource}/roles", new { }), 400, "is required at \"roleIds\"");
        Problem(await admin.PostJsonAsync($"{resource}/roles", new { roleIds = (int[]?)null }), 400, "is required at \"roleIds\"");
        Problem(await admin.PostJsonAsync($"{resource}/roles", new { roleIds = new[] { w.RoleId, 999999 } }), 400, "role 999999 is not a role of this organization");
        Problem(await admin.PostJsonAsync($"{resource}/roles", new { roleIds = new object?[] { null } }), 400, "expected an integer at \"roleIds.0\"");
        Problem(await admin.PostJsonAsync($"{resource}/roles/add", new { }), 400, "is required at \"roleId\"");
        Problem(await admin.PostJsonAsync($"{resource}/roles/add", new { roleId = 0 }), 400, "\"roleId\"");
        Problem(await admin.PostJsonAsync($"{resource}/roles/add", new { roleId = "1" }), 400, "expected an integer at \"roleId\"");
        Problem(await admin.PostJsonAsync($"{resource}/roles/add", new { roleId = 999999 }), 400, "role 999999 is not a role of this organization");
        Problem(await admin.PostJsonAsync($"{resource}/roles/remove", new { roleId = w.AdminRoleId }), 400, "The admin role cannot be removed");

        Problem(await admin.PostJsonAsync($"{resource}/users", new { userIds = new[] { "nope" } }), 400, "user nope is not a member of this organization");
        Problem(await admin.PostJsonAsync($"{resource}/users", new { userIds = new string?[] { null } }), 400, "must not contain null at \"userIds\"");
        Problem(await admin.PostJsonAsync($"{resource}/users", new { userIds = w.MemberId }), 400, "expected an array at \"userIds\"");
        Problem(await admin.PostJsonAsync($"{resource}/users/add", new { userId = "" }), 400, "\"userId\"");
        Problem(await admin.PostJsonAsync($"{resource}/users/add", new { userId = "nope" }), 400, "user nope is not a member of this organization");
        Problem(await admin.PostJsonAsync($"{resource}/users/remove", new { }), 400, "is required at \"userId\"");

        Problem(await admin.PostJsonAsync("resource/999999/roles", new { roleIds = new[] { w.RoleId } }), 404, "Resource not found");
        Problem(await admin.PostJsonAsync("resource/abc/users", new { userIds = Array.Empty<string>() }), 400, "\"resourceId\" must be a positive integer");
        // The grants are as seeded: the admin role only.
        var roles = (await admin.GetJsonAsync($"{resource}/roles")).Expect(200).Data.GetProperty("roles");
        Assert.Equal(w.AdminRoleId, Assert.Single(roles.EnumerateArray()).GetProperty("roleId").GetInt32());
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task Password_pin_code_header_auth_and_whitelist_refuse_bad_input()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var resource = $"resource/{w.ResourceId}";

        Problem(await admin.PostJsonAsync($"{resource}/password", new { }), 400, "is required (it may be null) at \"password\"");
        Problem(await admin.PostJsonAsync($"{resource}/password", new { password = "abc" }), 400, "4–100 characters", "\"password\"");
        Problem(await admin.PostJsonAsync($"{resource}/password", new { password = new string('p', 101) }), 400, "4–100 characters", "\"password\"");
        Problem(await admin.PostJsonAsync($"{resource}/password", new { password = 123456 }), 400, "expected a string at \"password\"");
        Problem(await admin.PostJsonAsync($"{resource}/password", new { password = "open-sesame", hint = "x" }), 400, "unknown field \"hint\"");

        Problem(await admin.PostJsonAsync($"{resource}/pincode", new { }), 400, "is required (it may be null) at \"pincode\"");
        Problem(await admin.PostJsonAsync($"{resource}/pincode", new { pincode = "1234567" }), 400, "exactly 6 digits", "\"pincode\"");
        Problem(await admin.PostJsonAsync($"{resource}/pincode", new { pincode = "12a456" }), 400, "exactly 6 digits", "\"pincode\"");
        Problem(await admin.PostJsonAsync($"{resource}/pincode", new { pincode = 123456 }), 400, "expected a string at \"pincode\"");

        Problem(await admin.PostJsonAsync($"{resource}/header-auth", new { user = "abcd" }), 400,
            "is required (it may be null) at \"password\"", "at \"extendedCompatibility\"");
        Problem(await admin.PostJsonAsync($"{resource}/header-auth", new { user = "ab", password = "abcd", extendedCompatibility = true }),
            400, "4–100 characters", "\"user\"");
        Problem(await admin.PostJsonAsync($"{resource}/header-auth", new { user = "ab:cd", password = "abcd", extendedCompatibility = true }),
            400, "user must not contain ':'");
        Problem(await admin.PostJsonAsync($"{resource}/header-auth", new { user = "abcd", password = "abcd", extendedCompatibility = "yes" }),
            400, "expected true or false at \"extendedCompatibility\"");

        Problem(await admin.PostJsonAsync($"{resource}/whitelist", new { emails = new[] { "a@example.com" } }), 400,
            "Email whitelist is not enabled for this resource; set emailWhitelistEnabled first");
        (await admin.PostJsonAsync(resource, new { emailWhitelistEnabled = true })).Expect(200);
        Problem(await admin.PostJsonAsync($"{resource}/whitelist", new { }), 400, "is required at \"emails\"");
        Problem(await admin.PostJsonAsync($"{resource}/whitelist", new { emails = new[] { "a@example.com", "not-an-email" } }), 400,
            "must be an e-mail address or *@domain.tld at \"emails.1\"");
        Problem(await admin.PostJsonAsync($"{resource}/whitelist", new { emails = new string?[] { null } }), 400, "at \"emails.0\"");
        Problem(await admin.PostJsonAsync($"{resource}/whitelist", new { emails = Enumerable.Range(0, 51).Select(i => $"u{i}@example.com").ToArray() }),
            400, "at most 50", "\"emails\"");

        Problem(await admin.PostJsonAsync("resource/999999/password", new { password = "open-sesame" }), 404, "Resource not found");
        Problem(await admin.PostJsonAsync("resource/abc/pincode", new { pincode = "123456" }), 400, "\"resourceId\" must be a positive integer");
        // Nothing was set by the refused requests.
        var listed = (await admin.GetJsonAsync($"org/{OrgId}/resources")).Expect(200).Data.GetProperty("resources").EnumerateArray()
            .First(r => r.GetProperty("resourceId").GetInt32() == w.ResourceId);
        Assert.False(listed.GetProperty("password").GetBoolean());
        Assert.False(listed.GetProperty("pincode").GetBoolean());
        Assert.False(listed.GetProperty("headerAuth").GetBoolean());
        Assert.Equal(0, (await admin.GetJsonAsync($"{resource}/whitelist")).Expect(200).Data.GetProperty("whitelist").GetArrayLength());
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteResourceAccessBadInputTests(PostgresServer postgres) : ResourceAccessBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresResourceAccessBadInputTests(PostgresServer postgres) : ResourceAccessBadInputTests(DatabaseKind.Postgres, postgres);
