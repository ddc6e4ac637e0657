using Microsoft.EntityFrameworkCore;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>Open sign-up: the password policy, duplicate addresses, and joining an org through an invitation.</summary>
public abstract class SignUpTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    [Fact]
    public async Task The_password_policy_names_every_missing_class()
    {
        var client = CookieClient(null);
        var cases = new (string Password, string[] Missing)[]
        {
            ("short1!A", []),
            ("Sh0rt!", ["at least 8 characters"]),
            ("lowercase-only-1", ["an uppercase letter"]),
            ("UPPERCASE-ONLY-1", ["a lowercase letter"]),
            ("No-Digits-Here", ["a digit"]),
            ("NoSymbols123", ["a special character"]),
            ("abc", ["at least 8 characters", "an uppercase letter", "a digit", "a special character"]),
            (new string('a', 126) + "A1!", ["at most 128 characters"]),
        };
        var i = 0;
        foreach (var (password, missing) in cases)
        {
            var email = $"user{i++}@example.com";
            var reply = await client.PutJsonAsync("auth/signup", new { email, password });
            if (missing.Length == 0)
            {
                reply.Expect(200);
                continue;
            }
            reply.Expect(400);
            foreach (var part in missing)
            {
                Assert.Contains(part, reply.Message, StringComparison.Ordinal);
            }
            foreach (var other in new[] { "at least 8", "an uppercase", "a lowercase", "a digit", "a special" }.Where(o => !missing.Any(m => m.StartsWith(o, StringComparison.Ordinal))))
            {
                Assert.DoesNotContain(other, reply.Message, StringComparison.Ordinal);
            }
            Assert.False(await DbAsync(db => db.Users.AnyAsync(u => u.Email == email)));
        }
    }

    [Fact]
    public async Task Signing_up_signs_in_and_a_taken_address_is_409_in_any_case()
    {
        var token = await SignUpTokenAsync("new@example.com");
        var me = (await CookieClient(token).GetJsonAsync("user")).Expect(200).Data;
        Assert.Equal("new@example.com", me.GetProperty("email").GetString());
        Assert.False(me.GetProperty("serverAdmin").GetBoolean());
        Assert.False(me.GetProperty("twoFactorEnabled").GetBoolean());

        var duplicate = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "New@Example.COM", password = Password })).Expect(409);
        Assert.Contains("already exists", duplicate.Message, StringComparison.Ordinal);
        Assert.Equal(1, await DbAsync(db => db.Users.CountAsync(u => u.Email == "new@example.com")));

        // The password is stored as Argon2id, not as given.
        var hash = await DbAsync(db => db.Users.Where(u => u.Email == "new@example.com").Select(u => u.PasswordHash).SingleAsync());
        Assert.StartsWith("$argon2id$", hash, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, hash!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invitation_link_signs_up_into_the_org_with_the_invited_roles()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var member = await RoleIdAsync(admin, "acme", "Member");
        var invite = (await admin.PostJsonAsync("org/acme/create-invite", new { email = "joiner@example.com", validHours = 24, roleIds = new[] { member } })).Expect(200).Data;
        var link = invite.GetProperty("inviteLink").GetString()!;
        var inviteId = invite.GetProperty("inviteId").GetString()!;
        var linkToken = LinkQuery(link)["token"];
        Assert.StartsWith(inviteId + "-", linkToken, StringComparison.Ordinal);

        var reply = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "joiner@example.com", password = Password, inviteToken = linkToken })).Expect(200);
        Assert.Equal("acme", reply.Data.GetProperty("orgId").GetString());
        var joiner = CookieClient(SessionCookie(reply)!.Value.ToString());
        var userId = await UserIdAsync(joiner);

        var roles = await DbAsync(db => db.UserOrgRoles.Where(r => r.UserId == userId && r.OrgId == "acme").Select(r => r.RoleId).ToListAsync());
        Assert.Equal([member], roles);
        (await joiner.GetJsonAsync("org/acme")).Expect(200);
        var users = (await admin.GetJsonAsync("org/acme/users")).Expect(200).Data.GetProperty("users");
        var listed = users.EnumerateArray().Single(u => u.GetProperty("userId").GetString() == userId);
        Assert.Equal("Member", listed.GetProperty("roleName").GetString());
        // The invitation proved the address, and it is used up.
        Assert.True((await joiner.GetJsonAsync("user")).Expect(200).Data.GetProperty("emailVerified").GetBoolean());
        Assert.False(await DbAsync(db => db.UserInvites.AnyAsync()));
    }

    [Fact]
    public async Task An_invitation_with_a_wrong_token_is_400_and_creates_no_user()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var member = await RoleIdAsync(admin, "acme", "Member");
        var invite = (await admin.PostJsonAsync("org/acme/create-invite", new { email = "joiner@example.com", validHours = 24, roleIds = new[] { member } })).Expect(200).Data;
        var inviteId = invite.GetProperty("inviteId").GetString()!;

        var bad = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "joiner@example.com", password = Password, inviteToken = inviteId + "-" + new string('A', 32) }))
            .Expect(400);
        Assert.Equal("The invitation is invalid or has expired", bad.Message);
        Assert.False(await DbAsync(db => db.Users.AnyAsync(u => u.Email == "joiner@example.com")));
    }
}

/// <summary>Sign-up by invitation only (Flags:DisableSignupWithoutInvite).</summary>
public abstract class InviteOnlySignUpTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Flags:DisableSignupWithoutInvite"] = "true",
    };

    private async Task<(HttpClient Admin, int Member)> OrgAsync()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        return (admin, await RoleIdAsync(admin, "acme", "Member"));
    }

    private static async Task<string> InviteTokenAsync(HttpClient admin, string email, int roleId, double validHours = 24)
    {
        var invite = (await admin.PostJsonAsync("org/acme/create-invite", new { email, validHours, roleIds = new[] { roleId } })).Expect(200).Data;
        return LinkQuery(invite.GetProperty("inviteLink").GetString()!)["token"];
    }

    [Fact]
    public async Task Without_an_invitation_sign_up_is_403()
    {
        await OrgAsync();
        var reply = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "stranger@example.com", password = Password })).Expect(403);
        Assert.Contains("invitation", reply.Message, StringComparison.Ordinal);
        Assert.Null(SessionCookie(reply));
        Assert.False(await DbAsync(db => db.Users.AnyAsync(u => u.Email == "stranger@example.com")));
    }

    [Fact]
    public async Task With_a_valid_invitation_sign_up_succeeds_and_joins_with_the_invited_roles()
    {
        var (admin, member) = await OrgAsync();
        var token = await InviteTokenAsync(admin, "joiner@example.com", member);

        // The separate form (inviteId + token) works as the combined link token does.
        var dash = token.IndexOf('-', StringComparison.Ordinal);
        var reply = (await CookieClient(null).PutJsonAsync("auth/signup",
            new { email = "Joiner@Example.com", password = Password, inviteId = token[..dash], inviteToken = token[(dash + 1)..] })).Expect(200);
        Assert.Equal("acme", reply.Data.GetProperty("orgId").GetString());
        var joiner = CookieClient(SessionCookie(reply)!.Value.ToString());
        var userId = await UserIdAsync(joiner);
        Assert.Equal([member], await DbAsync(db => db.UserOrgRoles.Where(r => r.UserId == userId && r.OrgId == "acme").Select(r => r.RoleId).ToListAsync()));
        (await joiner.GetJsonAsync("org/acme")).Expect(200);

        // Used once: the same link does not sign up a second account.
        (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "joiner@example.com", password = Password, inviteToken = token })).Expect(400);
    }

    [Fact]
    public async Task An_invitation_for_another_address_is_403()
    {
        var (admin, member) = await OrgAsync();
        var token = await InviteTokenAsync(admin, "invited@example.com", member);
        var reply = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "someone-else@example.com", password = Password, inviteToken = token })).Expect(403);
        Assert.Contains("another email", reply.Message, StringComparison.Ordinal);
        Assert.False(await DbAsync(db => db.Users.AnyAsync(u => u.Email == "someone-else@example.com")));
        // The invitation is still good for the invited address.
        (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "invited@example.com", password = Password, inviteToken = token })).Expect(200);
    }

    [Fact]
    public async Task An_expired_invitation_is_400()
    {
        var (admin, member) = await OrgAsync();
        var token = await InviteTokenAsync(admin, "late@example.com", member, validHours: 1);
        Factory.Clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        var reply = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "late@example.com", password = Password, inviteToken = token })).Expect(400);
        Assert.Equal("The invitation is invalid or has expired", reply.Message);
        Assert.False(await DbAsync(db => db.Users.AnyAsync(u => u.Email == "late@example.com")));
    }

    [Fact]
    public async Task A_weak_password_with_a_valid_invitation_is_400_and_keeps_the_invitation()
    {
        var (admin, member) = await OrgAsync();
        var token = await InviteTokenAsync(admin, "joiner@example.com", member);
        (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "joiner@example.com", password = "weak", inviteToken = token })).Expect(400);
        (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "joiner@example.com", password = Password, inviteToken = token })).Expect(200);
    }
}

public sealed class SqliteSignUpTests(PostgresServer postgres) : SignUpTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresSignUpTests(PostgresServer postgres) : SignUpTests(DatabaseKind.Postgres, postgres);

public sealed class SqliteInviteOnlySignUpTests(PostgresServer postgres) : InviteOnlySignUpTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresInviteOnlySignUpTests(PostgresServer postgres) : InviteOnlySignUpTests(DatabaseKind.Postgres, postgres);
