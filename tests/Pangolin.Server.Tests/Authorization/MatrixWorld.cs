using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Server.Auth;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Authorization;

/// <summary>
/// What the matrix runs against, seeded once through the API: the server admin; org "acme" with its owner, a plain
/// member and a bystander member; a site, a resource granted to the member with a target and a rule, a resource not
/// granted to anyone, a custom role, an invitation, a domain of its own, a share link; org keys and root keys whose
/// actions are set per row; org "other" with its own admin and a key holding every action; org "club" (owned by the
/// bystander) for invitations.
/// </summary>
public sealed partial class MatrixWorld : IDisposable
{
    public const string Password = ServerTestBase.Password;
    public const string Acme = "acme";
    public const string OwnerEmail = "owner@example.com";
    public const string MemberEmail = "member@example.com";
    public const string OtherAdminEmail = "other@example.com";
    public const string BystanderEmail = "bystander@example.com";
    public const string JoinerEmail = "joiner@example.com";
    public const string DrifterEmail = "drifter@example.com";
    public const string ResetEmail = "resetme@example.com";

    private readonly List<HttpClient> _clients = [];
    private readonly Dictionary<Who, (HttpClient Client, string Email, string UserId)> _users = [];
    private int _counter;
    private bool _armed;
    private string? _armedAction;

    private MatrixWorld(PangolinFactory factory, SmtpTestServer mail)
    {
        Factory = factory;
        Mail = mail;
    }

    public PangolinFactory Factory { get; }

    public SmtpTestServer Mail { get; }

    public HttpClient Admin { get; private set; } = null!;

    /// <summary>Signed in as drifter@, whose account the anonymous two-factor calls use.</summary>
    public HttpClient Drifter { get; private set; } = null!;

    /// <summary>Signed in as bystander@, a member of acme and owner of the club.</summary>
    public HttpClient Bystander { get; private set; } = null!;

    public string OwnerId => _users[Who.OrgAdmin].UserId;

    public string MemberId => _users[Who.Member].UserId;

    public string BystanderId { get; private set; } = "";

    public string JoinerId { get; private set; } = "";

    /// <summary>The account that callers who must not delete users aim at.</summary>
    public string VictimId { get; private set; } = "";

    /// <summary>Two-factor secrets of callers who enrolled in one row and turn it off in the next.</summary>
    public Dictionary<Who, string> TwoFactorSecrets { get; } = [];

    public int MemberRoleId { get; private set; }

    public int CustomRoleId { get; private set; }

    public int ClubMemberRoleId { get; private set; }

    public int SiteId { get; private set; }

    public string SiteNiceId { get; private set; } = "";

    public string ConfigDomainId { get; private set; } = "";

    public string DomainId { get; private set; } = "";

    /// <summary>Granted to the member (a user grant).</summary>
    public int ResourceId { get; private set; }

    public string ResourceNiceId { get; private set; } = "";

    public string ResourceGuid { get; private set; } = "";

    /// <summary>Granted to nobody but the admin role.</summary>
    public int HiddenResourceId { get; private set; }

    public string HiddenResourceNiceId { get; private set; } = "";

    public int TargetId { get; private set; }

    public int RuleId { get; private set; }

    public string InviteId { get; private set; } = "";

    public string AccessTokenId { get; private set; } = "";

    public string ScratchOrgKeyId { get; private set; } = "";

    public string ScratchRootKeyId { get; private set; } = "";

    private (string Id, string Bearer) OrgKeyWithout { get; set; }

    private (string Id, string Bearer) OrgKeyWith { get; set; }

    private (string Id, string Bearer) OtherOrgKey { get; set; }

    private (string Id, string Bearer) RootKeyWithout { get; set; }

    private (string Id, string Bearer) RootKeyWith { get; set; }

    /// <summary>Route values a row uses unless it names others.</summary>
    public IReadOnlyDictionary<string, string> DefaultValues { get; private set; } = new Dictionary<string, string>();

    public static async Task<MatrixWorld> SeedAsync(PangolinFactory factory, SmtpTestServer mail)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var w = new MatrixWorld(factory, mail);
        try
        {
            await w.SeedCoreAsync();
        }
        catch
        {
            w.Dispose();
            throw;
        }
        return w;
    }

    private async Task SeedCoreAsync()
    {
        Admin = Track(Factory.DashboardClient());
        (await Admin.PutJsonAsync("auth/set-server-admin", new { email = ServerTestBase.AdminEmail, password = Password, setupToken = Factory.SetupToken }))
            .Expect(200);
        (await Admin.PostJsonAsync("auth/login", new { email = ServerTestBase.AdminEmail, password = Password })).Expect(200);
        _users[Who.ServerAdmin] = (Admin, ServerTestBase.AdminEmail, await UserIdAsync(Admin));
        foreach (var (who, email) in new[] { (Who.OrgAdmin, OwnerEmail), (Who.Member, MemberEmail), (Who.OtherOrgAdmin, OtherAdminEmail) })
        {
            var client = await SignUpAsync(email);
            _users[who] = (client, email, await UserIdAsync(client));
        }
        Bystander = await SignUpAsync(BystanderEmail);
        BystanderId = await UserIdAsync(Bystander);
        JoinerId = await UserIdAsync(await SignUpAsync(JoinerEmail));
        Drifter = await SignUpAsync(DrifterEmail);
        await SignUpAsync(ResetEmail);
        VictimId = await UserIdAsync(await SignUpAsync("victim@example.com"));

        (await SessionOf(Who.OrgAdmin).PutJsonAsync("org", new { orgId = Acme, name = "Acme" })).Expect(201);
        (await SessionOf(Who.OtherOrgAdmin).PutJsonAsync("org", new { orgId = "other", name = "Other" })).Expect(201);
        (await Bystander.PutJsonAsync("org", new { orgId = "club", name = "Club" })).Expect(201);
        (_, MemberRoleId) = await BuiltInRolesAsync(Acme);
        (_, ClubMemberRoleId) = await BuiltInRolesAsync("club");
        foreach (var email in new[] { MemberEmail, BystanderEmail })
        {
            (await Admin.PutJsonAsync("org/acme/user", new { email, roleIds = new[] { MemberRoleId } })).Expect(201);
        }

        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Home Lab", type = "newt" })).Expect(201).Data;
        SiteId = site.GetProperty("siteId").GetInt32();
        SiteNiceId = site.GetProperty("niceId").GetString()!;
        var domains = (await Admin.GetJsonAsync("org/acme/domains")).Expect(200).Data.GetProperty("domains");
        ConfigDomainId = domains.EnumerateArray().First(d => d.GetProperty("configManaged").GetBoolean()).GetProperty("domainId").GetString()!;
        DomainId = await NewDomainAsync();
        BaseDomain = (await Admin.GetJsonAsync($"org/acme/domain/{DomainId}")).Expect(200).Data.GetProperty("baseDomain").GetString()!;
        CertDomain = "www." + BaseDomain;
        await NewUploadedCertificateAsync(CertDomain);
        AcmeCertId = await NewAcmeCertificateAsync("*." + BaseDomain);

        var resource = (await Admin.PutJsonAsync("org/acme/resource", new { name = "Grafana", http = true, domainId = ConfigDomainId, subdomain = "grafana" }))
            .Expect(201).Data;
        ResourceId = resource.GetProperty("resourceId").GetInt32();
        ResourceNiceId = resource.GetProperty("niceId").GetString()!;
        ResourceGuid = (await Admin.GetJsonAsync($"resource/{ResourceId}")).Expect(200).Data.GetProperty("resourceGuid").GetString()!;
        var hidden = (await Admin.PutJsonAsync("org/acme/resource", new { name = "Vault", http = true, domainId = ConfigDomainId, subdomain = "vault" }))
            .Expect(201).Data;
        HiddenResourceId = hidden.GetProperty("resourceId").GetInt32();
        HiddenResourceNiceId = hidden.GetProperty("niceId").GetString()!;
        (await Admin.PostJsonAsync($"resource/{ResourceId}", new { emailWhitelistEnabled = true })).Expect(200);
        (await Admin.PostJsonAsync($"resource/{ResourceId}/users/add", new { userId = MemberId })).Expect(201);
        TargetId = await NewTargetAsync();
        RuleId = await NewRuleAsync();
        AccessTokenId = await NewAccessTokenAsync();
        CustomRoleId = (await Admin.PutJsonAsync("org/acme/role", new { name = "Auditors", actionIds = Array.Empty<string>() }))
            .Expect(201).Data.GetProperty("roleId").GetInt32();
        InviteId = (await NewInviteAsync(Acme, "invitee@example.com", MemberRoleId)).InviteId;

        OrgKeyWithout = await NewKeyAsync(Acme, []);
        OrgKeyWith = await NewKeyAsync(Acme, []);
        ScratchOrgKeyId = (await NewKeyAsync(Acme, [])).Id;
        OtherOrgKey = await NewKeyAsync("other", [.. ActionIds.All]);
        RootKeyWithout = await NewKeyAsync(null, []);
        RootKeyWith = await NewKeyAsync(null, []);
        ScratchRootKeyId = (await NewKeyAsync(null, [])).Id;

        DefaultValues = new Dictionary<string, string>
        {
            ["orgId"] = Acme,
            ["siteId"] = Str(SiteId),
            ["resourceId"] = Str(ResourceId),
            ["targetId"] = Str(TargetId),
            ["ruleId"] = Str(RuleId),
            ["roleId"] = Str(CustomRoleId),
            ["userId"] = MemberId,
            ["domainId"] = DomainId,
            ["accessTokenId"] = AccessTokenId,
            ["inviteId"] = InviteId,
            ["certId"] = Str(AcmeCertId),
            ["domain"] = CertDomain,
        };
    }

    public int Next() => Interlocked.Increment(ref _counter);

    public HttpClient SessionOf(Who who) => _users[who].Client;

    public string EmailOf(Who who) => _users[who].Email;

    public string UserIdOf(Who who) => _users[who].UserId;

    /// <summary>The client a call goes out on: the caller's session or key, or a fresh anonymous client.</summary>
    public HttpClient ClientFor(MatrixCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (call.Client is not null)
        {
            return call.Client;
        }
        return call.Who switch
        {
            Who.Anonymous => call.Own(call.Surface == Surfaces.Dashboard ? Factory.DashboardClient() : Factory.IntegrationClient(null)),
            Who.Member or Who.OrgAdmin or Who.OtherOrgAdmin or Who.ServerAdmin => SessionOf(call.Who),
            _ => call.Own(Factory.IntegrationClient(call.ApiKey ?? call.Who switch
            {
                Who.OrgKeyWithout => OrgKeyWithout.Bearer,
                Who.OrgKeyWith => OrgKeyWith.Bearer,
                Who.OtherOrgKey => OtherOrgKey.Bearer,
                Who.RootKeyWithout => RootKeyWithout.Bearer,
                _ => RootKeyWith.Bearer,
            })),
        };
    }

    /// <summary>Gives the shared keys their actions for a row: "without" every action but this one, "with" only this one.</summary>
    public async Task ArmKeysAsync(string? action)
    {
        if (_armed && action == _armedAction)
        {
            return;
        }
        var (without, with) = ActionsFor(action);
        (await Admin.PostJsonAsync($"org/acme/api-key/{OrgKeyWithout.Id}/actions", new { actionIds = without })).Expect(200);
        (await Admin.PostJsonAsync($"org/acme/api-key/{OrgKeyWith.Id}/actions", new { actionIds = with })).Expect(200);
        (await Admin.PostJsonAsync($"api-key/{RootKeyWithout.Id}/actions", new { actionIds = without })).Expect(200);
        (await Admin.PostJsonAsync($"api-key/{RootKeyWith.Id}/actions", new { actionIds = with })).Expect(200);
        _armed = true;
        _armedAction = action;
    }

    /// <summary>Without an action (routes any signed-in user may call) "without" holds nothing and "with" everything.</summary>
    public static (string[] Without, string[] With) ActionsFor(string? action) => action is null
        ? ([], [.. ActionIds.All])
        : ([.. ActionIds.All.Where(a => a != action)], [action]);

    // ---- Fresh entities, made by the server admin ----

    public async Task<int> NewSiteAsync(string type = "local") =>
        (await Admin.PutJsonAsync("org/acme/site", new { name = $"Site {Next()}", type })).Expect(201).Data.GetProperty("siteId").GetInt32();

    public async Task<int> NewResourceAsync() =>
        (await Admin.PutJsonAsync("org/acme/resource", new { name = "Scratch", http = true, domainId = ConfigDomainId, subdomain = $"scratch-{Next()}" }))
            .Expect(201).Data.GetProperty("resourceId").GetInt32();

    public async Task<int> NewTargetAsync() =>
        (await Admin.PutJsonAsync($"resource/{ResourceId}/target", new { siteId = SiteId, ip = "10.0.0.5", port = 3000 }))
            .Expect(201).Data.GetProperty("targetId").GetInt32();

    public async Task<int> NewRuleAsync() =>
        (await Admin.PutJsonAsync($"resource/{ResourceId}/rule", new { action = "ACCEPT", match = "CIDR", value = "10.0.0.0/8", priority = Next() }))
            .Expect(201).Data.GetProperty("ruleId").GetInt32();

    public async Task<int> NewRoleAsync() =>
        (await Admin.PutJsonAsync("org/acme/role", new { name = $"Role {Next()}", actionIds = Array.Empty<string>() }))
            .Expect(201).Data.GetProperty("roleId").GetInt32();

    public async Task<string> NewDomainAsync() =>
        (await Admin.PutJsonAsync("org/acme/domain", new { type = "cname", baseDomain = $"d{Next()}.acme.test" }))
            .Expect(201).Data.GetProperty("domainId").GetString()!;

    /// <summary>The base domain of <see cref="DomainId"/>, acme's own.</summary>
    public string BaseDomain { get; private set; } = "";

    /// <summary>A name under <see cref="BaseDomain"/> with an uploaded certificate.</summary>
    public string CertDomain { get; private set; } = "";

    /// <summary>An ACME certificate (pending: ACME is off here) for acme's own domain.</summary>
    public int AcmeCertId { get; private set; }

    public async Task<int> NewUploadedCertificateAsync(string name)
    {
        var now = Factory.Clock.GetUtcNow();
        var (chain, key, root) = TestCertificates.Create([name], now.AddDays(-1), now.AddDays(90));
        root.Dispose();
        return (await Admin.PutJsonAsync("org/acme/certificate", new { domainId = DomainId, domain = name, certificate = chain, privateKey = key }))
            .Expect(201).Data.GetProperty("certId").GetInt32();
    }

    public async Task<int> NewAcmeCertificateAsync(string name)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Pangolin.Data.PangolinDbContext>();
        var now = Factory.Clock.GetUtcNow().UtcDateTime;
        var row = new Pangolin.Data.Entities.Certificate
        {
            Domain = name,
            DomainId = DomainId,
            Wildcard = name.StartsWith("*.", StringComparison.Ordinal),
            Status = Pangolin.Data.Entities.CertificateStatus.Pending,
            Source = Pangolin.Data.Entities.CertificateSource.Acme,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Certificates.Add(row);
        await db.SaveChangesAsync();
        return row.CertId;
    }

    public async Task<string> NewAccessTokenAsync() =>
        (await Admin.PostJsonAsync($"resource/{ResourceId}/access-token", new { title = "Share" }))
            .Expect(201).Data.GetProperty("accessTokenId").GetString()!;

    public async Task<(string InviteId, string Token)> NewInviteAsync(string orgId, string email, int roleId)
    {
        var data = (await Admin.PostJsonAsync($"org/{orgId}/create-invite", new { email, validHours = 24, roleIds = new[] { roleId } })).Expect(200).Data;
        var link = data.GetProperty("inviteLink").GetString()!;
        var token = Uri.UnescapeDataString(InviteTokenRegex().Match(link).Groups[1].Value);
        return (data.GetProperty("inviteId").GetString()!, token);
    }

    /// <summary>An org key (orgId) or a root key (null) holding the given actions.</summary>
    public async Task<(string Id, string Bearer)> NewKeyAsync(string? orgId, string[] actions)
    {
        var path = orgId is null ? "api-key" : $"org/{orgId}/api-key";
        var key = (await Admin.PutJsonAsync(path, new { name = $"key {Next()}", actionIds = actions })).Expect(201).Data;
        var id = key.GetProperty("apiKeyId").GetString()!;
        return (id, $"{id}.{key.GetProperty("apiKey").GetString()}");
    }

    public async Task<string> NewUserAsync()
    {
        using var client = Factory.DashboardClient();
        (await client.PutJsonAsync("auth/signup", new { email = $"user-{Next()}@example.com", password = Password })).Expect(200);
        return await UserIdAsync(client);
    }

    /// <summary>
    /// An org for DELETE /org/{orgId}, so that each kind of caller stands to it as to acme: acme's owner owns it (or,
    /// when <paramref name="ownedByOrgAdmin"/> is false, the bystander owns it and acme's owner is only an admin), the
    /// member joins it with its Member role, and acme's keys are replaced by keys of that org.
    /// </summary>
    public async Task DoomedOrgAsync(MatrixCall call, string action, bool ownedByOrgAdmin = true)
    {
        ArgumentNullException.ThrowIfNull(call);
        var orgId = $"doomed-{call.N}";
        var creator = ownedByOrgAdmin ? SessionOf(Who.OrgAdmin) : Bystander;
        (await creator.PutJsonAsync("org", new { orgId, name = "Doomed" })).Expect(201);
        call.Set("orgId", orgId);
        var (adminRole, memberRole) = await BuiltInRolesAsync(orgId);
        if (call.Who == Who.Member)
        {
            (await Admin.PutJsonAsync($"org/{orgId}/user", new { email = MemberEmail, roleIds = new[] { memberRole } })).Expect(201);
        }
        else if (call.Who == Who.OrgAdmin && !ownedByOrgAdmin)
        {
            (await Admin.PutJsonAsync($"org/{orgId}/user", new { email = OwnerEmail, roleIds = new[] { adminRole } })).Expect(201);
        }
        else if (call.Who is Who.OrgKeyWithout or Who.OrgKeyWith)
        {
            var (without, with) = ActionsFor(action);
            call.ApiKey = (await NewKeyAsync(orgId, call.Who == Who.OrgKeyWith ? with : without)).Bearer;
        }
    }

    /// <summary>Invites a signed-in caller to the club (leaving it first), for POST /invite/accept.</summary>
    public async Task InviteToClubAsync(MatrixCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (!call.IsUser)
        {
            call.State["token"] = "nothing-here";
            return;
        }
        var left = await Admin.DeleteJsonAsync($"org/club/user/{UserIdOf(call.Who)}");
        Assert.True(left.Code is 200 or 404, $"leaving the club: {left}");
        call.State["token"] = (await NewInviteAsync("club", EmailOf(call.Who), ClubMemberRoleId)).Token;
    }

    /// <summary>Makes joiner@ a member of acme (true) or not (false), whichever it was.</summary>
    public async Task JoinerInAcmeAsync(bool member)
    {
        var reply = member
            ? await Admin.PutJsonAsync("org/acme/user", new { email = JoinerEmail, roleIds = new[] { MemberRoleId } })
            : await Admin.DeleteJsonAsync($"org/acme/user/{JoinerId}");
        Assert.True(reply.Code is 200 or 201 or 404 or 409, $"moving joiner: {reply}");
    }

    /// <summary>A new session of a caller's account, which the call may end or replace.</summary>
    public async Task<HttpClient> SignInAsync(string email)
    {
        var client = Factory.DashboardClient();
        (await client.PostJsonAsync("auth/login", new { email, password = Password })).Expect(200);
        return client;
    }

    // ---- Two-factor and e-mail helpers for the account routes ----

    public string TotpNow(string secret) => TwoFactor.Code(secret, Factory.Clock.GetUtcNow().UtcDateTime);

    /// <summary>Moves to the next 30-second step, so that a new code is accepted (codes cannot be replayed).</summary>
    public void NextStep() => Factory.Clock.Advance(TimeSpan.FromSeconds(30));

    /// <summary>Starts two-factor enrolment for a signed-in client (email null) or by e-mail and password; returns the secret.</summary>
    public static async Task<string> RequestTwoFactorAsync(HttpClient client, string? email)
    {
        ArgumentNullException.ThrowIfNull(client);
        object body = email is null ? new { password = Password } : new { email, password = Password };
        return (await client.PostJsonAsync("auth/2fa/request", body)).Expect(200).Data.GetProperty("secret").GetString()!;
    }

    public async Task<string> EnableTwoFactorAsync(HttpClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        var secret = await RequestTwoFactorAsync(client, null);
        (await client.PostJsonAsync("auth/2fa/enable", new { code = TotpNow(secret) })).Expect(200);
        return secret;
    }

    /// <summary>Turns two-factor off again if it is on (a teardown: the outcome is not checked).</summary>
    public async Task DisableTwoFactorAsync(HttpClient client, string secret)
    {
        ArgumentNullException.ThrowIfNull(client);
        NextStep();
        await client.PostJsonAsync("auth/2fa/disable", new { password = Password, code = TotpNow(secret) });
    }

    /// <summary>Runs <paramref name="trigger"/> and returns the text of the new e-mail it sent to <paramref name="to"/>.</summary>
    public async Task<string> MailAsync(string to, string subject, Func<Task> trigger)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        // E-mails leave after the response: let earlier ones arrive first, so they are not taken for this one.
        var outbox = Factory.Services.GetRequiredService<Pangolin.Server.Email.EmailOutbox>();
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (outbox.Pending > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        var before = Mail.Messages.ToHashSet();
        await trigger();
        var message = await Mail.WaitForMessageAsync(to, m => !before.Contains(m) && m.Subject?.Contains(subject, StringComparison.Ordinal) == true);
        return message.TextBody ?? "";
    }

    public async Task<string> VerificationCodeAsync(MatrixCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var text = await MailAsync(EmailOf(call.Who), "verification code",
            async () => (await SessionOf(call.Who).PostJsonAsync("auth/verify-email/request")).Expect(200));
        return VerificationCodeRegex().Match(text).Groups[1].Value;
    }

    public async Task<string> ResetTokenAsync()
    {
        using var anonymous = Factory.DashboardClient();
        var text = await MailAsync(ResetEmail, "Reset your Pangolin password",
            async () => (await anonymous.PostJsonAsync("auth/reset-password/request", new { email = ResetEmail })).Expect(200));
        return ResetTokenRegex().Match(text).Groups[1].Value;
    }

    public void Dispose()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }
    }

    private HttpClient Track(HttpClient client)
    {
        _clients.Add(client);
        return client;
    }

    private async Task<HttpClient> SignUpAsync(string email)
    {
        var client = Track(Factory.DashboardClient());
        (await client.PutJsonAsync("auth/signup", new { email, password = Password })).Expect(200);
        return client;
    }

    private static async Task<string> UserIdAsync(HttpClient client) =>
        (await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("userId").GetString()!;

    private async Task<(int Admin, int Member)> BuiltInRolesAsync(string orgId)
    {
        var roles = (await Admin.GetJsonAsync($"org/{orgId}/roles")).Expect(200).Data.GetProperty("roles").EnumerateArray().ToList();
        int Find(Func<JsonElement, bool> match) => roles.First(match).GetProperty("roleId").GetInt32();
        return (Find(r => r.GetProperty("isAdmin").GetBoolean()), Find(r => r.GetProperty("name").GetString() == "Member"));
    }

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"[?&]token=([^&]+)")]
    private static partial Regex InviteTokenRegex();

    [GeneratedRegex(@"verification code is (\d+)")]
    private static partial Regex VerificationCodeRegex();

    [GeneratedRegex(@"Or enter this token: (\S+)")]
    private static partial Regex ResetTokenRegex();
}
