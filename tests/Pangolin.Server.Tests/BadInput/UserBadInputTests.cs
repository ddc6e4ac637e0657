using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to org members, invitations and the server's users.</summary>
public abstract class UserBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Org_members_refuse_bad_input_duplicates_and_missing_users()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var ownerId = await UserIdAsync(admin);
        var path = $"org/{OrgId}/user";
        var member = w.MemberRoleId;

        Problem(await RawAsync(admin, HttpMethod.Put, path, "{\"email\":\"a@example.com\" \"roleIds\":[1]}"), 400, "not valid JSON");
        Problem(await admin.PutJsonAsync(path, new { email = "a@example.com", roleIds = new[] { member }, role = "x" }), 400, "unknown field \"role\"");
        Problem(await admin.PutJsonAsync(path, new { roleIds = new[] { member } }), 400, "is required at \"email\"");
        Problem(await admin.PutJsonAsync(path, new { email = "bad", roleIds = new[] { member } }), 400, "e-mail address at \"email\"");
        Problem(await admin.PutJsonAsync(path, new { email = "a@example.com" }), 400, "roleIds (or roleId) is required at \"roleIds\"");
        Problem(await admin.PutJsonAsync(path, new { email = "a@example.com", roleIds = member }), 400, "expected an array at \"roleIds\"");
        Problem(await admin.PutJsonAsync(path, new { email = "a@example.com", roleId = 0 }), 400, "\"roleId\"");
        Problem(await admin.PutJsonAsync(path, new { email = "a@example.com", roleIds = new[] { member }, type = "oidc" }), 400, "must be one of: internal at \"type\"");
        Problem(await admin.PutJsonAsync(path, new { email = "a@example.com", roleIds = new[] { 999999 }, password = Password }), 400,
            "role 999999 is not a role of this organization");
        Problem(await admin.PutJsonAsync(path, new { email = "a@example.com", roleIds = new[] { member } }), 400, "password is required to create a new user");
        Problem(await admin.PutJsonAsync(path, new { email = MemberEmail, roleIds = new[] { member } }), 409, "already a member of this organization");

        Problem(await admin.GetJsonAsync($"{path}/nope"), 404, "User not found in this organization");
        Problem(await admin.PostJsonAsync($"{path}/nope", new { roleIds = new[] { member } }), 404, "User not found in this organization");
        Problem(await admin.DeleteJsonAsync($"{path}/nope"), 404, "User not found in this organization");
        Problem(await admin.PostJsonAsync($"{path}/{w.MemberId}", new { roleIds = Array.Empty<int>() }), 400, "at least 1", "\"roleIds\"");
        Problem(await admin.PostJsonAsync($"{path}/{w.MemberId}", new { roleIds = new[] { 999999 } }), 400, "role 999999 is not a role of this organization");
        Problem(await admin.PostJsonAsync($"{path}/{ownerId}", new { roleIds = new[] { member } }), 400, "The organization's owner keeps the Admin role");
        Problem(await admin.DeleteJsonAsync($"{path}/{ownerId}"), 400, "The organization's owner cannot be removed");
        Problem(await admin.GetJsonAsync($"org/{OrgId}/users?pageSize=10001"), 400, "\"pageSize\"");

        Problem(await admin.GetJsonAsync("user/nope"), 404, "User not found");
        Problem(await admin.DeleteJsonAsync("user/nope"), 404, "User not found");
        Problem(await admin.DeleteJsonAsync($"user/{ownerId}"), 400, "You cannot delete your own account here");
        Problem(await admin.PostJsonAsync($"user/{w.MemberId}/2fa", new { }), 400, "is required at \"twoFactorSetupRequested\"");
        Problem(await admin.PostJsonAsync($"user/{w.MemberId}/2fa", new { twoFactorEnabled = "no" }), 400, "expected true or false at \"twoFactorEnabled\"");
        Problem(await admin.PostJsonAsync($"user/{w.MemberId}/2fa", new { twoFactorSetupRequested = "yes" }), 400,
            "expected true or false at \"twoFactorSetupRequested\"");
        Problem(await admin.PostJsonAsync("user/nope/2fa", new { twoFactorSetupRequested = true }), 404, "User not found");
        Assert.Equal(2, (await admin.GetJsonAsync($"org/{OrgId}/users")).Expect(200).Data.GetProperty("users").GetArrayLength());
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task Invitations_refuse_bad_input_duplicates_and_missing_invitations()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"org/{OrgId}/create-invite";
        var roleIds = new[] { w.MemberRoleId };

        Problem(await EmptyAsync(admin, HttpMethod.Post, path), 400, "A JSON request body is required");
        Problem(await admin.PostJsonAsync(path, new { email = "x", validHours = 1, roleIds }), 400, "e-mail address at \"email\"");
        Problem(await admin.PostJsonAsync(path, new { email = "new@example.com", roleIds }), 400, "is required at \"validHours\"");
        Problem(await admin.PostJsonAsync(path, new { email = "new@example.com", validHours = 1000, roleIds }), 400, "between 0.0001 and 168", "\"validHours\"");
        Problem(await admin.PostJsonAsync(path, new { email = "new@example.com", validHours = 0, roleIds }), 400, "\"validHours\"");
        Problem(await admin.PostJsonAsync(path, new { email = "new@example.com", validHours = "24", roleIds }), 400, "expected a number at \"validHours\"");
        Problem(await admin.PostJsonAsync(path, new { email = "new@example.com", validHours = 24 }), 400, "roleIds (or roleId) is required at \"roleIds\"");
        Problem(await admin.PostJsonAsync(path, new { email = "new@example.com", validHours = 24, roleIds, sendEmail = "no" }), 400,
            "expected true or false at \"sendEmail\"");
        Problem(await admin.PostJsonAsync(path, new { email = "new@example.com", validHours = 24, roleIds = new[] { 999999 } }), 400,
            "role 999999 is not a role of this organization");
        Problem(await admin.PostJsonAsync(path, new { email = "invited@example.com", validHours = 24, roleIds }), 409,
            "An invitation for invited@example.com already exists", "regenerate");
        Problem(await admin.PostJsonAsync(path, new { email = MemberEmail, validHours = 24, roleIds }), 409, "already a member of this organization");

        Problem(await admin.DeleteJsonAsync($"org/{OrgId}/invitations/nope"), 404, "Invitation not found");
        Problem(await admin.DeleteJsonAsync($"org/nope/invitations/{w.InviteId}"), 404, "Organization not found");
        Problem(await admin.PostJsonAsync("invite/accept", new { }), 400, "is required at \"token\"");
        Problem(await admin.PostJsonAsync("invite/accept", new { token = "" }), 400, "\"token\"");
        Problem(await admin.PostJsonAsync("invite/accept", new { token = 5 }), 400, "expected a string at \"token\"");
        Problem(await admin.PostJsonAsync("invite/accept", new { token = "abc-def" }), 400, "The invitation is invalid or has expired");
        Problem(await admin.PostJsonAsync("invite/accept", new { token = "nodash" }), 400, "The invitation is invalid or has expired");
        var invitations = (await admin.GetJsonAsync($"org/{OrgId}/invitations")).Expect(200).Data.GetProperty("invitations");
        Assert.Equal(w.InviteId, Assert.Single(invitations.EnumerateArray()).GetProperty("inviteId").GetString());
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteUserBadInputTests(PostgresServer postgres) : UserBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresUserBadInputTests(PostgresServer postgres) : UserBadInputTests(DatabaseKind.Postgres, postgres);
