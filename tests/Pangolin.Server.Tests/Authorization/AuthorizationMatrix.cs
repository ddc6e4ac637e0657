using Pangolin.Server.Auth;
using Pangolin.Server.Tests.Infrastructure;
using static Pangolin.Server.Tests.Authorization.Who;

namespace Pangolin.Server.Tests.Authorization;

/// <summary>
/// The authorization matrix: every API endpoint × every kind of caller → the status it must get. Routes are written
/// without the surface prefix (/api/v1 or /v1). An endpoint of the running app without a row fails
/// <see cref="AuthorizationMatrixTests.Every_api_endpoint_has_a_matrix_row_and_every_row_an_endpoint"/>, so no
/// endpoint can be added unchecked. The rules (Auth/Access.cs): anonymous callers get 401; org admins and server admins
/// may do everything; members need the action in a role (the Member role's defaults below) and, for a single site or
/// resource, a grant, else 404; outsiders (users and keys of another org) get 403 on /org/{orgId}/... and 404 on
/// entity routes; API keys need the action, org keys only reach their org, and server-wide routes need a root key.
/// </summary>
public static class AuthorizationMatrix
{
    /// <summary>What the built-in Member role may do (upstream's defaults), spelled out rather than read from the server.</summary>
    public static readonly IReadOnlyList<string> MemberRoleActions =
        ["getOrg", "getResource", "listResources", "getSiteResource", "listSiteResources"];

    private const string Get = "GET";
    private const string Put = "PUT";
    private const string Post = "POST";
    private const string Patch = "PATCH";
    private const string Delete = "DELETE";

    private static readonly Who[] Users = [Member, OrgAdmin, OtherOrgAdmin, ServerAdmin];

    // Declared after the fields the builders read: static fields initialize in textual order.
    public static readonly IReadOnlyList<MatrixRow> Rows =
    [
        // ---- Sign-in and account (dashboard only) ----
        Public(Post, "/auth/login", 200).Send(new { email = MatrixWorld.DrifterEmail, password = MatrixWorld.Password }),
        Public(Post, "/auth/logout", 200).Before(FreshSession),
        Public(Put, "/auth/signup", 200).Before(FreshSession)
            .Send(c => new { email = $"signup-{c.N}@example.com", password = MatrixWorld.Password }),
        // Setup is done: everyone, signed in or not, gets the same refusal.
        Public(Put, "/auth/set-server-admin", 400).Send(new { email = "late@example.com", password = MatrixWorld.Password, setupToken = "not-the-token" }),
        Public(Get, "/auth/initial-setup-complete", 200),
        // Newts authenticate with their id and secret, never with a session or key: every caller is refused alike.
        Public(Post, "/auth/newt/get-token", 401).Send(new { newtId = "nosuchnewt00000", secret = "not-the-secret" }),
        Public(Get, "/ws", 401),
        Public(Post, "/auth/2fa/request", 200)
            .Send(c => c.IsUser ? new { password = MatrixWorld.Password } : (object)new { email = MatrixWorld.DrifterEmail, password = MatrixWorld.Password }),
        // Signed-in callers keep two-factor on for the /auth/2fa/disable row (enrolment hashes ten backup codes: costly).
        Public(Post, "/auth/2fa/enable", 200).Before(StartTwoFactor).After(KeepTwoFactor)
            .Send(c => c.IsUser
                ? new { code = c.State["code"] }
                : (object)new { code = c.State["code"], email = MatrixWorld.DrifterEmail, password = MatrixWorld.Password }),
        Public(Post, "/auth/reset-password/request", 200).Send(new { email = MatrixWorld.ResetEmail }),
        Public(Post, "/auth/reset-password", 200).Before(async c => c.State["token"] = await c.World.ResetTokenAsync())
            .Send(c => new { email = MatrixWorld.ResetEmail, token = c.State["token"], newPassword = MatrixWorld.Password }),
        SignedIn(Post, "/auth/2fa/disable", 200).Before(EnableTwoFactor).After(StopTwoFactor)
            .Send(c => new { password = MatrixWorld.Password, code = c.State.GetValueOrDefault("code", "000000") }),
        SignedIn(Post, "/auth/change-password", 200).Send(new { oldPassword = MatrixWorld.Password, newPassword = MatrixWorld.Password }),
        // Before /auth/verify-email, which verifies the addresses; the server admin's was verified at setup.
        SignedIn(Post, "/auth/verify-email/request", 200).Expect(ServerAdmin, 400),
        SignedIn(Post, "/auth/verify-email", 200)
            .Before(async c => c.State["code"] = c.IsUser && c.Who != ServerAdmin ? await c.World.VerificationCodeAsync(c) : "00000000")
            .Send(c => new { code = c.State["code"] }),
        SignedIn(Get, "/user", 200),

        // ---- Organizations ----
        AnyUser(Put, "/org", ActionIds.CreateOrg, 201).Send(c => new { orgId = $"new-{c.N}", name = "New" }),
        ServerAction(Get, "/orgs", ActionIds.ListOrgs, 200),
        SelfAction(Get, "/user/{userId}/orgs", ActionIds.ListUserOrgs, 200).With("userId", w => w.OwnerId),
        OrgAction(Get, "/org/{orgId}", ActionIds.GetOrg, 200),
        OrgAction(Post, "/org/{orgId}", ActionIds.UpdateOrg, 200).Send(new { name = "Acme" }),
        // Only the owner deletes an org, or a server admin or root key: an org key is refused whatever it holds.
        OrgAction(Delete, "/org/{orgId}", ActionIds.DeleteOrg, 200).Expect(OrgKeyWith, 403)
            .Before(c => c.World.DoomedOrgAsync(c, ActionIds.DeleteOrg)),
        OrgAction(Delete, "/org/{orgId}", ActionIds.DeleteOrg, 200).Expect(403, OrgAdmin, OrgKeyWith).Named("an admin who is not the owner")
            .Before(c => c.World.DoomedOrgAsync(c, ActionIds.DeleteOrg, ownedByOrgAdmin: false)),

        // ---- Sites ----
        OrgAction(Get, "/org/{orgId}/pick-site-defaults", ActionIds.CreateSite, 200),
        OrgAction(Put, "/org/{orgId}/site", ActionIds.CreateSite, 201).Send(c => new { name = $"Site {c.N}", type = "local" }),
        OrgAction(Get, "/org/{orgId}/sites", ActionIds.ListSites, 200),
        OrgAction(Get, "/org/{orgId}/site/{niceId}", ActionIds.GetSite, 200).With("niceId", w => w.SiteNiceId),
        EntityAction(Get, "/site/{siteId}", ActionIds.GetSite, 200),
        EntityAction(Post, "/site/{siteId}", ActionIds.UpdateSite, 200).Send(new { name = "Home Lab" }),
        EntityAction(Delete, "/site/{siteId}", ActionIds.DeleteSite, 200).Before(async c => c.Set("siteId", await c.World.NewSiteAsync())),
        EntityAction(Post, "/site/{siteId}/regenerate-secret", ActionIds.ReGenerateSecret, 200)
            .Before(async c => c.Set("siteId", await c.World.NewSiteAsync("newt"))),
        EntityAction(Get, "/site/{siteId}/roles", ActionIds.ListSiteRoles, 200),
        EntityAction(Post, "/site/{siteId}/roles", ActionIds.UpdateSite, 201).Send(new { roleIds = Array.Empty<int>() }),
        EntityAction(Get, "/site/{siteId}/users", ActionIds.ListSiteRoles, 200),
        EntityAction(Post, "/site/{siteId}/users", ActionIds.UpdateSite, 201).Send(new { userIds = Array.Empty<string>() }),

        // ---- Resources ----
        OrgAction(Put, "/org/{orgId}/resource", ActionIds.CreateResource, 201)
            .Send(c => new { name = "New", http = true, domainId = c.World.ConfigDomainId, subdomain = $"new-{c.N}" }),
        OrgAction(Get, "/org/{orgId}/resources", ActionIds.ListResources, 200),
        OrgAction(Get, "/org/{orgId}/resource/{niceId}", ActionIds.GetResource, 200).With("niceId", w => w.ResourceNiceId),
        OrgAction(Get, "/org/{orgId}/resource/{niceId}", ActionIds.GetResource, 200).With("niceId", w => w.HiddenResourceNiceId)
            .Named("not granted to the member").Expect(Member, 404),
        // The member holds listResources, but the site is not granted to them.
        EntityAction(Get, "/site/{siteId}/resources", ActionIds.ListResources, 200, member: 404),
        EntityAction(Get, "/resource/{resourceId}", ActionIds.GetResource, 200, member: 200),
        EntityAction(Get, "/resource/{resourceId}", ActionIds.GetResource, 200, member: 404).With("resourceId", w => w.HiddenResourceId)
            .Named("not granted to the member"),
        EntityAction(Post, "/resource/{resourceId}", ActionIds.UpdateResource, 200).Send(new { name = "Grafana" }),
        EntityAction(Delete, "/resource/{resourceId}", ActionIds.DeleteResource, 200)
            .Before(async c => c.Set("resourceId", await c.World.NewResourceAsync())),
        EntityAction(Get, "/resource/{resourceId}/roles", ActionIds.ListResourceRoles, 200),
        EntityAction(Post, "/resource/{resourceId}/roles", ActionIds.SetResourceRoles, 201).Send(new { roleIds = Array.Empty<int>() }),
        EntityAction(Post, "/resource/{resourceId}/roles/add", ActionIds.SetResourceRoles, 201).Send(c => new { roleId = c.World.CustomRoleId }),
        EntityAction(Post, "/resource/{resourceId}/roles/remove", ActionIds.SetResourceRoles, 200).Send(c => new { roleId = c.World.CustomRoleId }),
        EntityAction(Get, "/resource/{resourceId}/users", ActionIds.ListResourceUsers, 200),
        // The member keeps the grant the other rows rely on.
        EntityAction(Post, "/resource/{resourceId}/users", ActionIds.SetResourceUsers, 201).Send(c => new { userIds = new[] { c.World.MemberId } }),
        EntityAction(Post, "/resource/{resourceId}/users/add", ActionIds.SetResourceUsers, 201).Send(c => new { userId = c.World.MemberId }),
        EntityAction(Post, "/resource/{resourceId}/users/remove", ActionIds.SetResourceUsers, 200).Send(c => new { userId = c.World.BystanderId }),
        // Removing (null) rather than setting: the same access check without an Argon2 hash per call.
        EntityAction(Post, "/resource/{resourceId}/password", ActionIds.SetResourcePassword, 201).Send(new { password = (string?)null }),
        EntityAction(Post, "/resource/{resourceId}/pincode", ActionIds.SetResourcePincode, 201).Send(new { pincode = (string?)null }),
        EntityAction(Post, "/resource/{resourceId}/header-auth", ActionIds.SetResourceHeaderAuth, 201)
            .Send(new { user = (string?)null, password = (string?)null, extendedCompatibility = (bool?)null }),
        EntityAction(Post, "/resource/{resourceId}/whitelist", ActionIds.SetResourceWhitelist, 200).Send(new { emails = new[] { "friend@example.com" } }),
        EntityAction(Get, "/resource/{resourceId}/whitelist", ActionIds.GetResourceWhitelist, 200),

        // ---- Targets ----
        EntityAction(Put, "/resource/{resourceId}/target", ActionIds.CreateTarget, 201).Send(c => new { siteId = c.World.SiteId, ip = "10.0.0.7", port = 8080 }),
        EntityAction(Get, "/resource/{resourceId}/targets", ActionIds.ListTargets, 200),
        EntityAction(Get, "/target/{targetId}", ActionIds.GetTarget, 200),
        EntityAction(Post, "/target/{targetId}", ActionIds.UpdateTarget, 200).Send(new { port = 3000 }),
        EntityAction(Delete, "/target/{targetId}", ActionIds.DeleteTarget, 200).Before(async c => c.Set("targetId", await c.World.NewTargetAsync())),

        // ---- Rules ----
        EntityAction(Put, "/resource/{resourceId}/rule", ActionIds.CreateResourceRule, 201)
            .Send(c => new { action = "DROP", match = "IP", value = "192.0.2.1", priority = c.N }),
        EntityAction(Get, "/resource/{resourceId}/rules", ActionIds.ListResourceRules, 200),
        EntityAction(Post, "/resource/{resourceId}/rule/{ruleId}", ActionIds.UpdateResourceRule, 200).Send(new { enabled = true }),
        EntityAction(Delete, "/resource/{resourceId}/rule/{ruleId}", ActionIds.DeleteResourceRule, 200)
            .Before(async c => c.Set("ruleId", await c.World.NewRuleAsync())),

        // ---- Roles ----
        OrgAction(Put, "/org/{orgId}/role", ActionIds.CreateRole, 201).Send(c => new { name = $"Role {c.N}", actionIds = Array.Empty<string>() }),
        OrgAction(Get, "/org/{orgId}/roles", ActionIds.ListRoles, 200),
        EntityAction(Get, "/role/{roleId}", ActionIds.GetRole, 200),
        EntityAction(Post, "/role/{roleId}", ActionIds.UpdateRole, 200).Send(new { description = "Read-only auditors" }),
        EntityAction(Delete, "/role/{roleId}", ActionIds.DeleteRole, 200).Before(async c => c.Set("roleId", await c.World.NewRoleAsync())),
        EntityAction(Get, "/role/{roleId}/actions", ActionIds.GetRole, 200),
        EntityAction(Post, "/role/{roleId}/actions", ActionIds.UpdateRole, 200).Send(new { actionIds = Array.Empty<string>() }),
        EntityAction(Get, "/role/{roleId}/resources", ActionIds.ListRoleResources, 200),
        EntityAction(Post, "/role/{roleId}/add/{userId}", ActionIds.AddUserRole, 200).With("userId", w => w.BystanderId),
        EntityAction(Post, "/role/{roleId}/remove/{userId}", ActionIds.RemoveUserRole, 200).With("userId", w => w.BystanderId)
            .Before(async c => (await c.World.Admin.PostJsonAsync($"role/{c.World.CustomRoleId}/add/{c.World.BystanderId}")).Expect(200)),

        // ---- Org members and invitations ----
        OrgAction(Get, "/org/{orgId}/users", ActionIds.ListUsers, 200),
        OrgAction(Put, "/org/{orgId}/user", ActionIds.CreateOrgUser, 201).Before(c => c.World.JoinerInAcmeAsync(false))
            // A role without actions: assigning a role hands on its actions (RoleEscalationTests checks that rule).
            .Send(c => new { email = MatrixWorld.JoinerEmail, roleIds = new[] { c.World.CustomRoleId } }),
        OrgAction(Get, "/org/{orgId}/user/{userId}", ActionIds.GetOrgUser, 200),
        OrgAction(Post, "/org/{orgId}/user/{userId}", ActionIds.SetUserOrgRoles, 200).With("userId", w => w.BystanderId)
            .Send(c => new { roleIds = new[] { c.World.MemberRoleId } }),
        OrgAction(Delete, "/org/{orgId}/user/{userId}", ActionIds.RemoveUser, 200).With("userId", w => w.JoinerId)
            .Before(c => c.World.JoinerInAcmeAsync(true)),
        OrgAction(Post, "/org/{orgId}/create-invite", ActionIds.InviteUser, 200)
            .Send(c => new { email = $"invitee-{c.N}@example.com", validHours = 24, roleIds = new[] { c.World.CustomRoleId } }),
        OrgAction(Get, "/org/{orgId}/invitations", ActionIds.ListInvitations, 200),
        OrgAction(Delete, "/org/{orgId}/invitations/{inviteId}", ActionIds.RemoveInvitation, 200)
            .Before(async c => c.Set("inviteId", (await c.World.NewInviteAsync(MatrixWorld.Acme, $"gone-{c.N}@example.com", c.World.MemberRoleId)).InviteId)),
        // Any signed-in user accepts an invitation sent to them; a root key passes the access check but has no user (400).
        AnyUser(Post, "/invite/accept", null, 200).Expect(400, RootKeyWithout, RootKeyWith)
            .Before(c => c.World.InviteToClubAsync(c)).Send(c => new { token = c.State["token"] }),

        // ---- Server users ----
        ServerAction(Get, "/users", ActionIds.ListUsers, 200),
        ServerAction(Get, "/user/{userId}", ActionIds.GetUser, 200),
        // A new account (an Argon2 hash) for each caller that should succeed; the others aim at one seeded account.
        ServerAction(Delete, "/user/{userId}", ActionIds.RemoveUser, 200)
            .Before(async c => c.Set("userId", c.Expected == 200 ? await c.World.NewUserAsync() : c.World.VictimId)),
        ServerAction(Post, "/user/{userId}/2fa", ActionIds.UpdateUser, 200).With("userId", w => w.BystanderId)
            .Send(new { twoFactorSetupRequested = false }),

        // ---- Server settings (read-only; nothing secret): server admins and any root key ----
        new MatrixRow(Get, "/server/settings", AccessScope.Server, null)
            .Expect(401, Anonymous)
            .Expect(403, Member, OrgAdmin, OtherOrgAdmin, OrgKeyWithout, OrgKeyWith, OtherOrgKey)
            .Expect(200, ServerAdmin, RootKeyWithout, RootKeyWith),

        // ---- API keys of an org ----
        OrgAction(Put, "/org/{orgId}/api-key", ActionIds.CreateApiKey, 201).Send(c => new { name = $"key {c.N}", actionIds = Array.Empty<string>() }),
        OrgAction(Get, "/org/{orgId}/api-keys", ActionIds.ListApiKeys, 200),
        OrgAction(Get, "/org/{orgId}/api-key/{apiKeyId}", ActionIds.GetApiKey, 200).With("apiKeyId", w => w.ScratchOrgKeyId),
        OrgAction(Delete, "/org/{orgId}/api-key/{apiKeyId}", ActionIds.DeleteApiKey, 200)
            .Before(async c => c.Set("apiKeyId", (await c.World.NewKeyAsync(MatrixWorld.Acme, [])).Id)),
        OrgAction(Get, "/org/{orgId}/api-key/{apiKeyId}/actions", ActionIds.ListApiKeyActions, 200).With("apiKeyId", w => w.ScratchOrgKeyId),
        OrgAction(Post, "/org/{orgId}/api-key/{apiKeyId}/actions", ActionIds.SetApiKeyActions, 200).With("apiKeyId", w => w.ScratchOrgKeyId)
            .Send(new { actionIds = Array.Empty<string>() }),

        // ---- Root API keys ----
        ServerAction(Put, "/api-key", ActionIds.CreateApiKey, 201).Send(c => new { name = $"root {c.N}", actionIds = Array.Empty<string>() }),
        ServerAction(Get, "/api-keys", ActionIds.ListApiKeys, 200),
        ServerAction(Get, "/api-key/{apiKeyId}", ActionIds.GetApiKey, 200).With("apiKeyId", w => w.ScratchRootKeyId),
        ServerAction(Delete, "/api-key/{apiKeyId}", ActionIds.DeleteApiKey, 200)
            .Before(async c => c.Set("apiKeyId", (await c.World.NewKeyAsync(null, [])).Id)),
        ServerAction(Get, "/api-key/{apiKeyId}/actions", ActionIds.ListApiKeyActions, 200).With("apiKeyId", w => w.ScratchRootKeyId),
        ServerAction(Post, "/api-key/{apiKeyId}/actions", ActionIds.SetApiKeyActions, 200).With("apiKeyId", w => w.ScratchRootKeyId)
            .Send(new { actionIds = Array.Empty<string>() }),

        // ---- Domains ----
        OrgAction(Get, "/org/{orgId}/domains", ActionIds.ListOrgDomains, 200),
        OrgAction(Put, "/org/{orgId}/domain", ActionIds.CreateOrgDomain, 201).Send(c => new { type = "cname", baseDomain = $"new{c.N}.acme.test" }),
        OrgAction(Get, "/org/{orgId}/domain/{domainId}", ActionIds.GetDomain, 200),
        OrgAction(Post, "/org/{orgId}/domain/{domainId}", ActionIds.UpdateOrgDomain, 200).Send(new { preferWildcardCert = false }),
        OrgAction(Patch, "/org/{orgId}/domain/{domainId}", ActionIds.UpdateOrgDomain, 200).Send(new { certResolver = "letsencrypt" }),
        OrgAction(Delete, "/org/{orgId}/domain/{domainId}", ActionIds.DeleteOrgDomain, 200)
            .Before(async c => c.Set("domainId", await c.World.NewDomainAsync())),
        OrgAction(Get, "/org/{orgId}/domain/{domainId}/dns-records", ActionIds.GetDnsRecords, 200),
        OrgAction(Post, "/org/{orgId}/domain/{domainId}/restart", ActionIds.RestartOrgDomain, 200),

        // ---- Signing in to a resource: anyone may try; the resource has no password or PIN, and a code is "sent" ----
        Public(Post, "/auth/resource/{resourceId}/password", 400).Send(new { password = "not-set" }),
        Public(Post, "/auth/resource/{resourceId}/pincode", 400).Send(new { pincode = "123456" }),
        Public(Post, "/auth/resource/{resourceId}/whitelist", 202).Send(new { email = "nobody@example.com" }),
        Public(Post, "/auth/resource/{resourceId}/access-token", 401).Send(new { accessToken = "nosuchtoken.secret" }),
        Public(Post, "/auth/access-token", 401).Send(new { accessToken = "nosuchtoken.secret" }),
        Public(Get, "/resource/{resourceGuid}/auth", 200).With("resourceGuid", w => w.ResourceGuid),
        // A platform user's way in: only users the resource is granted to (the member by a user grant, the org's admins).
        new MatrixRow(Post, "/resource/{resourceId}/get-exchange-token", AccessScope.AnyUser, null) { Surfaces = Surfaces.Dashboard }
            .Expect(401, Anonymous).Expect(200, Member, OrgAdmin).Expect(403, OtherOrgAdmin, ServerAdmin),

        // ---- Share links ----
        EntityAction(Post, "/resource/{resourceId}/access-token", ActionIds.GenerateAccessToken, 201).Send(new { title = "Share" }),
        EntityAction(Get, "/resource/{resourceId}/access-tokens", ActionIds.ListAccessTokens, 200),
        OrgAction(Get, "/org/{orgId}/access-tokens", ActionIds.ListAccessTokens, 200),
        EntityAction(Delete, "/access-token/{accessTokenId}", ActionIds.DeleteAccessToken, 200)
            .Before(async c => c.Set("accessTokenId", await c.World.NewAccessTokenAsync())),

        // ---- Certificates (acme's own domain: other orgs do not share it) ----
        OrgAction(Get, "/org/{orgId}/certificate/{domainId}/{domain}", ActionIds.GetCertificate, 200),
        OrgAction(Get, "/org/{orgId}/certificates", ActionIds.GetCertificate, 200),
        EntityAction(Post, "/certificate/{certId}/restart", ActionIds.RestartCertificate, 200),
        OrgAction(Put, "/org/{orgId}/certificate", ActionIds.UpdateOrgDomain, 201).Send(c =>
        {
            var now = c.World.Factory.Clock.GetUtcNow();
            var (chain, key, root) = TestCertificates.Create([c.World.CertDomain], now.AddDays(-1), now.AddDays(90));
            root.Dispose();
            return new { domainId = c.World.DomainId, domain = c.World.CertDomain, certificate = chain, privateKey = key };
        }),
        OrgAction(Delete, "/org/{orgId}/certificate/{certId}", ActionIds.UpdateOrgDomain, 200)
            .Before(async c => c.Set("certId", await c.World.NewUploadedCertificateAsync($"up-{c.World.Next()}.{c.World.BaseDomain}"))),

        // ---- Logs ----
        OrgAction(Get, "/org/{orgId}/logs/action", ActionIds.ViewLogs, 200),
        OrgAction(Get, "/org/{orgId}/logs/request", ActionIds.ViewLogs, 200),
    ];

    /// <summary>An /org/{orgId}/... route: outsiders are refused with 403, members pass only with one of the Member role's actions.</summary>
    private static MatrixRow OrgAction(string method, string route, string action, int ok) =>
        new MatrixRow(method, route, AccessScope.Org, action)
            .Expect(401, Anonymous)
            .Expect(MemberRoleActions.Contains(action) ? ok : 403, Member)
            .Expect(ok, OrgAdmin, ServerAdmin, OrgKeyWith, RootKeyWith)
            .Expect(403, OtherOrgAdmin, OtherOrgKey, OrgKeyWithout, RootKeyWithout);

    /// <summary>
    /// A route that names an entity (/site/{siteId}, /resource/{resourceId}, ...): outsiders get 404. A member holding
    /// the action still needs a grant on the site or resource; <paramref name="member"/> says what they get.
    /// </summary>
    private static MatrixRow EntityAction(string method, string route, string action, int ok, int? member = null)
    {
        var row = OrgAction(method, route, action, ok).Expect(404, OtherOrgAdmin, OtherOrgKey);
        if (MemberRoleActions.Contains(action))
        {
            return row.Expect(member ?? throw new InvalidOperationException($"{method} {route}: say what a member holding '{action}' gets"), Member);
        }
        return member is null ? row : throw new InvalidOperationException($"{method} {route}: members do not hold '{action}'");
    }

    /// <summary>A server-wide route: server admins and root keys with the action only.</summary>
    private static MatrixRow ServerAction(string method, string route, string action, int ok) =>
        new MatrixRow(method, route, AccessScope.Server, action)
            .Expect(401, Anonymous)
            .Expect(403, Member, OrgAdmin, OtherOrgAdmin, OrgKeyWithout, OrgKeyWith, OtherOrgKey, RootKeyWithout)
            .Expect(ok, ServerAdmin, RootKeyWith);

    /// <summary>A route about the user in {userId} (acme's owner here): that user, server admins, and root keys with the action.</summary>
    private static MatrixRow SelfAction(string method, string route, string action, int ok) =>
        new MatrixRow(method, route, AccessScope.Self, action)
            .Expect(401, Anonymous)
            .Expect(403, Member, OtherOrgAdmin, OrgKeyWithout, OrgKeyWith, OtherOrgKey, RootKeyWithout)
            .Expect(ok, OrgAdmin, ServerAdmin, RootKeyWith);

    /// <summary>A route any signed-in user may call; of the API keys only a root key (with the action, if there is one).</summary>
    private static MatrixRow AnyUser(string method, string route, string? action, int ok) =>
        new MatrixRow(method, route, AccessScope.AnyUser, action)
            .Expect(401, Anonymous)
            .Expect(ok, Users)
            .Expect(403, OrgKeyWithout, OrgKeyWith, OtherOrgKey)
            .Expect(action is null ? ok : 403, RootKeyWithout)
            .Expect(ok, RootKeyWith);

    /// <summary>An account route of the dashboard that needs a session.</summary>
    private static MatrixRow SignedIn(string method, string route, int ok) =>
        new MatrixRow(method, route, AccessScope.AnyUser, null) { Surfaces = Surfaces.Dashboard }
            .Expect(401, Anonymous)
            .Expect(ok, Users);

    /// <summary>A sign-in route of the dashboard that anyone may call, signed in or not.</summary>
    private static MatrixRow Public(string method, string route, int ok) =>
        new MatrixRow(method, route, null, null) { Surfaces = Surfaces.Dashboard }
            .Expect(ok, [Anonymous, .. Users]);

    /// <summary>Signed-in callers use a new session of their account, which the call may end or replace.</summary>
    private static async Task FreshSession(MatrixCall c)
    {
        if (c.IsUser)
        {
            c.Use(await c.World.SignInAsync(c.World.EmailOf(c.Who)));
        }
    }

    /// <summary>Requests a two-factor secret for the caller (anonymous: drifter@, by e-mail and password) and the current code.</summary>
    private static async Task StartTwoFactor(MatrixCall c)
    {
        var secret = c.IsUser
            ? await MatrixWorld.RequestTwoFactorAsync(c.World.SessionOf(c.Who), null)
            : await MatrixWorld.RequestTwoFactorAsync(c.Own(c.World.Factory.DashboardClient()), MatrixWorld.DrifterEmail);
        c.State["secret"] = secret;
        c.State["code"] = c.World.TotpNow(secret);
    }

    /// <summary>A signed-in caller that enrolled keeps two-factor for the next row; drifter@ (anonymous) turns it off again.</summary>
    private static async Task KeepTwoFactor(MatrixCall c)
    {
        if (c.IsUser && c.Status == 200)
        {
            c.World.TwoFactorSecrets[c.Who] = c.State["secret"];
        }
        else if (c.Status == 200)
        {
            await c.World.DisableTwoFactorAsync(c.World.Drifter, c.State["secret"]);
        }
    }

    /// <summary>For /auth/2fa/disable: two-factor on (kept from /auth/2fa/enable, else turned on now) and the next code.</summary>
    private static async Task EnableTwoFactor(MatrixCall c)
    {
        if (!c.IsUser)
        {
            return;
        }
        if (!c.World.TwoFactorSecrets.Remove(c.Who, out var secret))
        {
            secret = await c.World.EnableTwoFactorAsync(c.World.SessionOf(c.Who));
        }
        c.World.NextStep();
        c.State["secret"] = secret;
        c.State["code"] = c.World.TotpNow(secret);
    }

    /// <summary>Turns two-factor off if the call under test did not.</summary>
    private static async Task StopTwoFactor(MatrixCall c)
    {
        if (c.IsUser && c.Status != 200 && c.State.TryGetValue("secret", out var secret))
        {
            await c.World.DisableTwoFactorAsync(c.World.SessionOf(c.Who), secret);
        }
    }
}
