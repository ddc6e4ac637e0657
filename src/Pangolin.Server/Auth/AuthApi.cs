using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Server.Apis;
using Pangolin.Server.Configuration;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Auth;

/// <summary>Sign-in, sign-up, two-factor, e-mail verification and password endpoints under /api/v1/auth (upstream's paths).</summary>
public static class AuthApi
{
    public sealed record LoginRequest(
        [property: Required, Email, MaxLength(254)] string? Email,
        [property: Required, MaxLength(1024)] string? Password,
        [property: MaxLength(64)] string? Code = null,
        [property: MaxLength(64)] string? ResourceGuid = null);

    public sealed record LoginResponse(bool? CodeRequested = null, bool? EmailVerificationRequired = null, bool? TwoFactorSetupRequired = null);

    public sealed record SignupRequest(
        [property: Required, Email, MaxLength(254)] string? Email,
        [property: Required, MaxLength(1024)] string? Password,
        [property: MaxLength(256)] string? InviteToken = null,
        [property: MaxLength(64)] string? InviteId = null,
        string? TermsAcceptedTimestamp = null,
        bool? MarketingEmailConsent = null);

    public sealed record SignupResponse(bool? EmailVerificationRequired, string? OrgId);

    public sealed record SetServerAdminRequest(
        [property: Required, Email, MaxLength(254)] string? Email,
        [property: Required, MaxLength(1024)] string? Password,
        [property: Required, MinLength(1), MaxLength(256)] string? SetupToken);

    public sealed record InitialSetupResponse(bool Complete);

    public sealed record TwoFactorRequest(
        [property: Required, MaxLength(1024)] string? Password,
        [property: Email, MaxLength(254)] string? Email = null);

    public sealed record TwoFactorSecretResponse(string Secret, string Uri);

    public sealed record TwoFactorEnableRequest(
        [property: Required, MaxLength(64)] string? Code,
        [property: Email, MaxLength(254)] string? Email = null,
        [property: MaxLength(1024)] string? Password = null);

    public sealed record TwoFactorEnableResponse(bool Valid, IReadOnlyList<string>? BackupCodes);

    public sealed record TwoFactorDisableRequest(
        [property: Required, MaxLength(1024)] string? Password,
        [property: MaxLength(64)] string? Code = null);

    public sealed record CodeRequestedResponse(bool CodeRequested);

    public sealed record ResetRequest([property: Required, Email, MaxLength(254)] string? Email);

    public sealed record ResetPasswordRequest(
        [property: Required, Email, MaxLength(254)] string? Email,
        [property: Required, MaxLength(256)] string? Token,
        [property: Required, MaxLength(1024)] string? NewPassword,
        [property: MaxLength(64)] string? Code = null);

    public sealed record ChangePasswordRequest(
        [property: Required, MaxLength(1024)] string? OldPassword,
        [property: Required, MaxLength(1024)] string? NewPassword,
        [property: MaxLength(64)] string? Code = null);

    public sealed record VerifyEmailRequest([property: Required, MaxLength(64)] string? Code);

    public sealed record VerifyEmailResponse(bool Valid);

    public sealed record UserResponse(
        string UserId, string Email, string? Username, string? Name, string Type, bool TwoFactorEnabled,
        bool EmailVerified, bool ServerAdmin, int? IdpId, string? IdpName, DateTime DateCreated);

    internal const string BadCredentials = "Username or password is incorrect";

    public static RouteGroupBuilder MapAuthApi(this RouteGroupBuilder api)
    {
        var auth = api.MapGroup("/auth").WithTags("Auth").AllowAnonymous();
        auth.MapPost("/login", LoginAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/logout", LogoutAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPut("/signup", SignupAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPut("/set-server-admin", SetServerAdminAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapGet("/initial-setup-complete", InitialSetupCompleteAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/2fa/request", RequestTwoFactorAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/2fa/enable", EnableTwoFactorAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/reset-password/request", RequestPasswordResetAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/reset-password", ResetPasswordAsync).WithMetadata(PublicEndpoint.Instance);

        var signedIn = api.MapGroup("/auth").WithTags("Auth");
        signedIn.MapPost("/2fa/disable", DisableTwoFactorAsync).RequireAccess(new AccessRule(AccessScope.AnyUser, null));
        signedIn.MapPost("/change-password", ChangePasswordAsync).RequireAccess(new AccessRule(AccessScope.AnyUser, null));
        signedIn.MapPost("/verify-email", VerifyEmailAsync).RequireAccess(new AccessRule(AccessScope.AnyUser, null));
        signedIn.MapPost("/verify-email/request", RequestEmailVerificationAsync).RequireAccess(new AccessRule(AccessScope.AnyUser, null));
        api.MapGet("/user", GetCurrentUserAsync).WithTags("Auth").RequireAccess(new AccessRule(AccessScope.AnyUser, null));
        return api;
    }

    private static async Task<IResult> LoginAsync(
        LoginRequest request, bool? forceLogin, HttpContext http, PangolinDbContext db, AccountService accounts,
        PasswordHasher hasher, SessionService sessions, IRateLimiter limiter, IOptions<RateLimitOptions> limits,
        IOptions<FlagsOptions> flags, CancellationToken ct)
    {
        var existing = http.Features.Get<Caller>();
        if (existing is not null && forceLogin != true)
        {
            return Api.Done("Already logged in");
        }
        if (request.ResourceGuid is not null && !await db.Resources.AnyAsync(r => r.ResourceGuid == request.ResourceGuid, ct))
        {
            throw ApiException.NotFound("Resource not found");
        }
        var outcome = await SignInAsync(request.Email!, request.Password!, request.Code, http, db, accounts, hasher, sessions, limiter, limits.Value, flags.Value, ct);
        return outcome.Step switch
        {
            LoginStep.TwoFactorSetupRequired => Api.Accepted(new LoginResponse(TwoFactorSetupRequired: true), "Two-factor authentication setup required"),
            LoginStep.CodeRequested => Api.Accepted(new LoginResponse(CodeRequested: true), "Two-factor authentication required"),
            _ when outcome.EmailVerificationRequired => Api.Ok(new LoginResponse(EmailVerificationRequired: true), "Logged in successfully; verify your email address"),
            _ => Api.Done("Logged in successfully"),
        };
    }

    internal enum LoginStep
    {
        SignedIn,
        CodeRequested,
        TwoFactorSetupRequired,
    }

    /// <summary>Where a sign-in got to; <c>SessionId</c> is the new dashboard session (its cookie is already on the response).</summary>
    /// <remarks>SecondStepTicket, with CodeRequested or TwoFactorSetupRequired: proof that the password was right, which a
    /// form carries to its second step instead of the password (so no page ever holds a typed password).</remarks>
    internal sealed record LoginOutcome(LoginStep Step, string? UserId = null, string? SessionId = null, bool EmailVerificationRequired = false,
        string? SecondStepTicket = null);

    private const string SecondStepPurpose = "login-second-step";

    /// <summary>The refusal of an expired or forged ticket: the form goes back to asking for the password.</summary>
    internal const string SecondStepExpired = "The sign-in took too long. Enter your password again.";

    /// <summary>Long enough to open an authenticator app; a password change ends it at once (the MAC covers the hash).</summary>
    internal static readonly TimeSpan SecondStepLifetime = TimeSpan.FromMinutes(5);

    private static string SecondStepTicket(SecretProtector protector, Pangolin.Data.Entities.User user, DateTimeOffset now)
    {
        var expires = now.Add(SecondStepLifetime).ToUnixTimeSeconds();
        return $"{expires}.{protector.Mac(SecondStepPurpose, $"{user.UserId}|{expires}|{user.PasswordHash}")}";
    }

    private static bool IsValidSecondStepTicket(SecretProtector protector, Pangolin.Data.Entities.User user, string ticket, DateTimeOffset now)
    {
        var dot = ticket.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || !long.TryParse(ticket.AsSpan(0, dot), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var expires)
            || expires < now.ToUnixTimeSeconds())
        {
            return false;
        }
        var expected = protector.Mac(SecondStepPurpose, $"{user.UserId}|{expires}|{user.PasswordHash}");
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.ASCII.GetBytes(expected), System.Text.Encoding.ASCII.GetBytes(ticket[(dot + 1)..]));
    }

    /// <summary>
    /// Signs a person in with e-mail, password and (when they have one) a second factor, with every rate limit of the
    /// login endpoint: the API's login and the resource sign-in page's both come here. Failures throw
    /// <see cref="ApiException"/> (401, 429) with the message to show. A form's second step sends the
    /// <paramref name="secondStepTicket"/> of its first instead of the password.
    /// </summary>
    internal static async Task<LoginOutcome> SignInAsync(
        string rawEmail, string password, string? code, HttpContext http, PangolinDbContext db, AccountService accounts,
        PasswordHasher hasher, SessionService sessions, IRateLimiter limiter, RateLimitOptions limits, FlagsOptions flags, CancellationToken ct,
        string? secondStepTicket = null)
    {
        var protector = http.RequestServices.GetRequiredService<SecretProtector>();
        var now = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
        var existing = http.Features.Get<Caller>();
        var email = AccountService.NormalizeEmail(rawEmail);
        var ip = EnforceLoginLimits(http, limiter, limits, email);
        var user = await accounts.FindInternalUserAsync(email, ct);
        if (user?.PasswordHash is null)
        {
            await hasher.DummyVerifyAsync(password, ct);
            throw FailedLogin(limiter, limits, ip);
        }
        if (secondStepTicket is not null)
        {
            if (!IsValidSecondStepTicket(protector, user, secondStepTicket, now))
            {
                _ = FailedLogin(limiter, limits, ip);
                throw ApiException.Unauthorized(SecondStepExpired);
            }
        }
        else if (!await hasher.VerifyAsync(password, user.PasswordHash, ct))
        {
            throw FailedLogin(limiter, limits, ip);
        }
        else if (PasswordHasher.NeedsRehash(user.PasswordHash, hasher.Cost))
        {
            user.PasswordHash = await hasher.HashAsync(password, ct);
        }
        if (user.TwoFactorSetupRequested && !user.TwoFactorEnabled)
        {
            await db.SaveChangesAsync(ct);
            return new LoginOutcome(LoginStep.TwoFactorSetupRequired, SecondStepTicket: SecondStepTicket(protector, user, now));
        }
        if (!await PassesSecondFactorAsync(user, code, http, db, accounts, limiter, limits, ct))
        {
            await db.SaveChangesAsync(ct);
            return new LoginOutcome(LoginStep.CodeRequested, SecondStepTicket: SecondStepTicket(protector, user, now));
        }
        return await StartSessionAsync(user, email, existing, http, db, sessions, limiter, flags, ct);
    }

    private static async Task<LoginOutcome> StartSessionAsync(Pangolin.Data.Entities.User user, string email, Caller? existing, HttpContext http,
        PangolinDbContext db, SessionService sessions, IRateLimiter limiter, FlagsOptions flags, CancellationToken ct)
    {
        if (existing?.SessionId is { } previous)
        {
            await sessions.InvalidateAsync(previous, ct);
        }
        await db.SaveChangesAsync(ct);
        var (token, session) = await sessions.CreateAsync(user.UserId, http, ct);
        sessions.WriteCookie(http, token, session.ExpiresAt);
        limiter.Reset("login", email);
        return new LoginOutcome(LoginStep.SignedIn, user.UserId, session.SessionId, flags.RequireEmailVerification && !user.EmailVerified);
    }

    /// <summary>
    /// The account behind a second-step ticket, with the login's limits: a form's second step (a code, or enrolling in
    /// two-factor authentication that an administrator requires) proves the password with it.
    /// </summary>
    private static async Task<Pangolin.Data.Entities.User> TicketUserAsync(string email, string ticket, HttpContext http, AccountService accounts,
        IRateLimiter limiter, RateLimitOptions limits, CancellationToken ct)
    {
        var ip = EnforceLoginLimits(http, limiter, limits, email);
        var user = await accounts.FindInternalUserAsync(email, ct);
        var now = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
        if (user is null || !IsValidSecondStepTicket(http.RequestServices.GetRequiredService<SecretProtector>(), user, ticket, now))
        {
            _ = FailedLogin(limiter, limits, ip);
            throw ApiException.Unauthorized(SecondStepExpired);
        }
        return user;
    }

    /// <summary>
    /// The authenticator secret for a sign-in that must enrol first (LoginStep.TwoFactorSetupRequired): a new one, or
    /// with <paramref name="again"/> the one already shown (the page is drawn again after a wrong code).
    /// </summary>
    internal static async Task<(string Secret, string Uri)> BeginRequiredSetupAsync(string rawEmail, string ticket, bool again, HttpContext http,
        PangolinDbContext db, AccountService accounts, IRateLimiter limiter, RateLimitOptions limits, CancellationToken ct)
    {
        var user = await TicketUserAsync(AccountService.NormalizeEmail(rawEmail), ticket, http, accounts, limiter, limits, ct);
        if (user.TwoFactorEnabled || !user.TwoFactorSetupRequested)
        {
            throw ApiException.BadRequest("Two-factor authentication is already set up for this account; sign in again.");
        }
        if (again && accounts.PendingTwoFactor(user) is { } pending)
        {
            return pending;
        }
        var started = accounts.BeginTwoFactor(user);
        await db.SaveChangesAsync(ct);
        return started;
    }

    /// <summary>Finishes a required enrolment with the first code and signs in; the backup codes are for the page to show once.</summary>
    internal static async Task<(LoginOutcome Outcome, IReadOnlyList<string> BackupCodes)> CompleteRequiredSetupAsync(
        string rawEmail, string ticket, string code, HttpContext http, PangolinDbContext db, AccountService accounts, SessionService sessions,
        IRateLimiter limiter, RateLimitOptions limits, FlagsOptions flags, CancellationToken ct)
    {
        var email = AccountService.NormalizeEmail(rawEmail);
        var user = await TicketUserAsync(email, ticket, http, accounts, limiter, limits, ct);
        limiter.Enforce(http, limits, "2fa", user.UserId);
        var codes = await accounts.CompleteTwoFactorAsync(user, code, ct);
        if (codes is null)
        {
            await db.SaveChangesAsync(ct);
            throw ApiException.BadRequest("The code is incorrect; enter the current code from your authenticator app");
        }
        accounts.Notify(user, "Two-factor authentication enabled",
            "Two-factor authentication was enabled on your Pangolin account. If it was not you, contact your administrator.");
        var outcome = await StartSessionAsync(user, email, http.Features.Get<Caller>(), http, db, sessions, limiter, flags, ct);
        return (outcome, codes);
    }

    /// <summary>
    /// True when the user has no second factor or sent a right code; false when a code is needed but none was sent
    /// (the caller answers 202 codeRequested). A wrong code is counted against the rate limit and answers 401.
    /// </summary>
    private static async Task<bool> PassesSecondFactorAsync(Pangolin.Data.Entities.User user, string? code, HttpContext http,
        PangolinDbContext db, AccountService accounts, IRateLimiter limiter, RateLimitOptions limits, CancellationToken ct)
    {
        if (!user.TwoFactorEnabled)
        {
            return true;
        }
        if (string.IsNullOrWhiteSpace(code))
        {
            return false;
        }
        limiter.Enforce(http, limits, "2fa", user.UserId);
        if (!await accounts.VerifySecondFactorAsync(user, code, ct))
        {
            await db.SaveChangesAsync(ct);
            throw ApiException.Unauthorized("The two-factor code you entered is incorrect");
        }
        return true;
    }

    /// <summary>The login's limits before any secret is checked: per address tried, and failures per client IP (returned).</summary>
    private static string EnforceLoginLimits(HttpContext http, IRateLimiter limiter, RateLimitOptions limits, string email)
    {
        limiter.Enforce(http, limits, "login", email);
        var ip = http.ClientIp();
        if (limits.Enabled && !limiter.TryPeek("login-failures-ip", ip, limits.LoginFailuresPerIp, out var wait))
        {
            throw RateLimitExtensions.TooMany(http, wait);
        }
        return ip;
    }

    private static ApiException FailedLogin(IRateLimiter limiter, RateLimitOptions limits, string ip)
    {
        if (limits.Enabled)
        {
            limiter.TryAcquire("login-failures-ip", ip, limits.LoginFailuresPerIp, out _);
        }
        return ApiException.Unauthorized(BadCredentials);
    }

    private static async Task<IResult> LogoutAsync(HttpContext http, SessionService sessions, CancellationToken ct)
    {
        if (http.Features.Get<Caller>()?.SessionId is { } sessionId)
        {
            await sessions.InvalidateAsync(sessionId, ct);
        }
        sessions.ClearCookie(http);
        return Api.Done("Logged out successfully");
    }

    private static async Task<IResult> SignupAsync(
        SignupRequest request, HttpContext http, PangolinDbContext db, AccountService accounts, InviteService invites,
        SessionService sessions, IRateLimiter limiter, IOptions<RateLimitOptions> limits, IOptions<FlagsOptions> flags, CancellationToken ct)
    {
        var outcome = await SignUpAsync(request.Email!, request.Password!, request.InviteId, request.InviteToken,
            http, db, accounts, invites, sessions, limiter, limits.Value, flags.Value, ct);
        return Api.Ok(new SignupResponse(outcome.EmailVerificationRequired ? true : null, outcome.OrgId), "User created successfully");
    }

    /// <summary>Where a sign-up got to: the organization an invitation joined, and whether the address needs verifying.</summary>
    internal sealed record SignupOutcome(string UserId, string? OrgId, bool EmailVerificationRequired);

    /// <summary>
    /// Creates an account (and accepts the invitation, if one is given) and signs it in: the API's sign-up and the
    /// dashboard's invitation page both come here. Failures throw <see cref="ApiException"/> with the message to show.
    /// </summary>
    internal static async Task<SignupOutcome> SignUpAsync(
        string rawEmail, string password, string? rawInviteId, string? rawInviteToken, HttpContext http, PangolinDbContext db,
        AccountService accounts, InviteService invites, SessionService sessions, IRateLimiter limiter, RateLimitOptions limits,
        FlagsOptions flags, CancellationToken ct)
    {
        var email = AccountService.NormalizeEmail(rawEmail);
        limiter.Enforce(http, limits, "signup", http.ClientIp());
        var (inviteId, inviteToken) = InviteService.SplitToken(rawInviteId, rawInviteToken);
        var invite = inviteId is null ? null : await invites.FindValidAsync(inviteId, inviteToken!, ct);
        if (inviteId is not null && invite is null)
        {
            throw ApiException.BadRequest("The invitation is invalid or has expired");
        }
        if (invite is not null && invite.Email != email)
        {
            throw ApiException.Forbidden("This invitation was sent to another email address");
        }
        if (invite is null && flags.DisableSignupWithoutInvite)
        {
            throw ApiException.Forbidden("Sign-up is by invitation only on this server");
        }
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // An invitation link proves the address, so it needs no separate verification.
        var user = await accounts.CreateInternalUserAsync(email, password, serverAdmin: false, emailVerified: invite is not null, ct);
        await db.SaveChangesAsync(ct);
        string? orgId = null;
        if (invite is not null)
        {
            orgId = await invites.AcceptAsync(user, invite, ct);
        }
        await tx.CommitAsync(ct);
        var (token, session) = await sessions.CreateAsync(user.UserId, http, ct);
        sessions.WriteCookie(http, token, session.ExpiresAt);
        var verify = flags.RequireEmailVerification && !user.EmailVerified;
        if (verify)
        {
            await accounts.SendVerificationCodeAsync(user, ct);
        }
        return new SignupOutcome(user.UserId, orgId, verify);
    }

    private static async Task<IResult> SetServerAdminAsync(
        SetServerAdminRequest request, HttpContext http, PangolinDbContext db, AccountService accounts,
        IRateLimiter limiter, IOptions<RateLimitOptions> limits, TimeProvider time, CancellationToken ct)
    {
        await CreateServerAdminAsync(request.Email!, request.Password!, request.SetupToken!, http, db, accounts, limiter, limits.Value, time, ct);
        return Api.Done("Server admin set successfully");
    }

    /// <summary>
    /// First-run setup: the setup token printed at start-up, exchanged once for the server admin account. The API and
    /// the dashboard's setup page both come here; failures throw <see cref="ApiException"/> with the message to show.
    /// </summary>
    internal static async Task CreateServerAdminAsync(
        string email, string password, string setupToken, HttpContext http, PangolinDbContext db, AccountService accounts,
        IRateLimiter limiter, RateLimitOptions limits, TimeProvider time, CancellationToken ct)
    {
        limiter.Enforce(http, limits, "setup-token", http.ClientIp());
        if (await db.Users.AnyAsync(u => u.ServerAdmin, ct))
        {
            throw ApiException.BadRequest("Server admin already exists");
        }
        var hash = Secrets.Sha256Hex(setupToken.Trim());
        var tokens = await db.SetupTokens.Where(t => !t.Used).ToListAsync(ct);
        var token = tokens.FirstOrDefault(t => Secrets.FixedTimeEquals(t.TokenHash, hash));
        if (token is null)
        {
            throw ApiException.BadRequest("Invalid or used setup token; use the token printed when the server started");
        }
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await accounts.CreateInternalUserAsync(email, password, serverAdmin: true, emailVerified: true, ct);
        token.Used = true;
        token.DateUsed = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }

    private static async Task<IResult> InitialSetupCompleteAsync(PangolinDbContext db, CancellationToken ct) =>
        Api.Ok(new InitialSetupResponse(await db.Users.AnyAsync(u => u.ServerAdmin, ct)), "Initial setup status");

    /// <summary>Signed in, or (for a forced setup before the first sign-in) by e-mail and password.</summary>
    private static async Task<Pangolin.Data.Entities.User> AuthenticateForTwoFactorAsync(
        HttpContext http, PangolinDbContext db, AccountService accounts, PasswordHasher hasher,
        IRateLimiter limiter, RateLimitOptions limits, string? email, string? password, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>();
        Pangolin.Data.Entities.User? user;
        if (caller?.UserId is not null)
        {
            user = await db.Users.FirstAsync(u => u.UserId == caller.UserId, ct);
        }
        else if (email is not null)
        {
            limiter.Enforce(http, limits, "login", AccountService.NormalizeEmail(email));
            user = await accounts.FindInternalUserAsync(email, ct);
            if (user is null)
            {
                await hasher.DummyVerifyAsync(password ?? "", ct);
                throw ApiException.Unauthorized(BadCredentials);
            }
        }
        else
        {
            throw ApiException.Unauthorized("You are not signed in; log in first, or send email and password");
        }
        if (password is not null || caller?.UserId is null)
        {
            limiter.Enforce(http, limits, "password", user.UserId);
            if (!await hasher.VerifyAsync(password ?? "", user.PasswordHash, ct))
            {
                throw ApiException.Unauthorized(caller?.UserId is null ? BadCredentials : "Password is incorrect");
            }
        }
        return user;
    }

    private static async Task<IResult> RequestTwoFactorAsync(
        TwoFactorRequest request, HttpContext http, PangolinDbContext db, AccountService accounts, PasswordHasher hasher,
        IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        var user = await AuthenticateForTwoFactorAsync(http, db, accounts, hasher, limiter, limits.Value, request.Email, request.Password, ct);
        if (user.Type != "internal")
        {
            throw ApiException.BadRequest("Two-factor authentication is managed by your identity provider");
        }
        if (user.TwoFactorEnabled)
        {
            throw ApiException.BadRequest("Two-factor authentication is already enabled");
        }
        var (secret, uri) = accounts.BeginTwoFactor(user);
        await db.SaveChangesAsync(ct);
        return Api.Ok(new TwoFactorSecretResponse(secret, uri), "Two-factor secret generated");
    }

    private static async Task<IResult> EnableTwoFactorAsync(
        TwoFactorEnableRequest request, HttpContext http, PangolinDbContext db, AccountService accounts, PasswordHasher hasher,
        IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        var signedIn = http.Features.Get<Caller>()?.UserId is not null;
        var user = await AuthenticateForTwoFactorAsync(http, db, accounts, hasher, limiter, limits.Value,
            request.Email, signedIn ? null : request.Password, ct);
        limiter.Enforce(http, limits.Value, "2fa", user.UserId);
        var codes = await accounts.CompleteTwoFactorAsync(user, request.Code!, ct);
        if (codes is null)
        {
            throw ApiException.BadRequest("The code is incorrect; enter the current code from your authenticator app");
        }
        await db.SaveChangesAsync(ct);
        accounts.Notify(user, "Two-factor authentication enabled",
            "Two-factor authentication was enabled on your Pangolin account. If it was not you, contact your administrator.");
        return Api.Ok(new TwoFactorEnableResponse(true, codes), "Two-factor authentication enabled");
    }

    private static async Task<IResult> DisableTwoFactorAsync(
        TwoFactorDisableRequest request, Caller caller, HttpContext http, PangolinDbContext db, AccountService accounts,
        PasswordHasher hasher, IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        var user = await db.Users.FirstAsync(u => u.UserId == caller.UserId, ct);
        limiter.Enforce(http, limits.Value, "password", user.UserId);
        if (!await hasher.VerifyAsync(request.Password!, user.PasswordHash, ct))
        {
            throw ApiException.Unauthorized("Password is incorrect");
        }
        if (!user.TwoFactorEnabled)
        {
            throw ApiException.BadRequest("Two-factor authentication is not enabled");
        }
        if (string.IsNullOrWhiteSpace(request.Code))
        {
            return Api.Accepted(new CodeRequestedResponse(true), "Two-factor code required");
        }
        limiter.Enforce(http, limits.Value, "2fa", user.UserId);
        if (!await accounts.VerifySecondFactorAsync(user, request.Code, ct))
        {
            await db.SaveChangesAsync(ct);
            throw ApiException.Unauthorized("The two-factor code you entered is incorrect");
        }
        await accounts.DisableTwoFactorAsync(user, ct);
        await db.SaveChangesAsync(ct);
        accounts.Notify(user, "Two-factor authentication disabled",
            "Two-factor authentication was disabled on your Pangolin account. If it was not you, contact your administrator.");
        return Api.Done("Two-factor authentication disabled");
    }

    private static async Task<IResult> RequestPasswordResetAsync(
        ResetRequest request, HttpContext http, AccountService accounts, IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        accounts.RequireEmail();
        var email = AccountService.NormalizeEmail(request.Email!);
        limiter.Enforce(http, limits.Value, "reset-request", email);
        limiter.Enforce(http, limits.Value, "reset-request-ip", http.ClientIp());
        var user = await accounts.FindInternalUserAsync(email, ct);
        if (user is not null)
        {
            await accounts.SendPasswordResetAsync(user, ct);
        }
        // The same answer either way, so the endpoint does not reveal who has an account.
        return Api.Done("If an account exists for that email address, a password reset link has been sent");
    }

    private static async Task<IResult> ResetPasswordAsync(
        ResetPasswordRequest request, HttpContext http, PangolinDbContext db, AccountService accounts, SessionService sessions,
        IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        var email = AccountService.NormalizeEmail(request.Email!);
        limiter.Enforce(http, limits.Value, "reset", email);
        var user = await accounts.FindInternalUserAsync(email, ct);
        if (user is null || !await accounts.MatchesResetTokenAsync(user, request.Token!, ct))
        {
            throw ApiException.BadRequest("Invalid or expired password reset token; request a new one");
        }
        if (PasswordPolicy.Check(request.NewPassword) is { } weak)
        {
            throw ApiException.BadRequest(weak);
        }
        if (!await PassesSecondFactorAsync(user, request.Code, http, db, accounts, limiter, limits.Value, ct))
        {
            return Api.Accepted(new CodeRequestedResponse(true), "Two-factor code required");
        }
        await accounts.SetPasswordAsync(user, request.NewPassword!, ct);
        await db.SaveChangesAsync(ct);
        await sessions.InvalidateAllAsync(user.UserId, null, ct);
        accounts.Notify(user, "Your Pangolin password was changed",
            "The password of your Pangolin account was reset. If it was not you, contact your administrator.");
        return Api.Done("Password reset successfully");
    }

    private static async Task<IResult> ChangePasswordAsync(
        ChangePasswordRequest request, Caller caller, HttpContext http, PangolinDbContext db, AccountService accounts,
        PasswordHasher hasher, SessionService sessions, IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        var user = await db.Users.FirstAsync(u => u.UserId == caller.UserId, ct);
        if (user.Type != "internal")
        {
            throw ApiException.BadRequest("Your password is managed by your identity provider");
        }
        limiter.Enforce(http, limits.Value, "password", user.UserId);
        if (!await hasher.VerifyAsync(request.OldPassword!, user.PasswordHash, ct))
        {
            throw ApiException.Unauthorized("Current password is incorrect");
        }
        if (PasswordPolicy.Check(request.NewPassword) is { } weak)
        {
            throw ApiException.BadRequest(weak);
        }
        if (!await PassesSecondFactorAsync(user, request.Code, http, db, accounts, limiter, limits.Value, ct))
        {
            return Api.Accepted(new CodeRequestedResponse(true), "Two-factor code required");
        }
        await accounts.SetPasswordAsync(user, request.NewPassword!, ct);
        await db.SaveChangesAsync(ct);
        await sessions.InvalidateAllAsync(user.UserId, caller.SessionId, ct);
        return Api.Done("Password changed successfully");
    }

    private static async Task<IResult> VerifyEmailAsync(
        VerifyEmailRequest request, Caller caller, HttpContext http, PangolinDbContext db, AccountService accounts,
        IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        var user = await db.Users.FirstAsync(u => u.UserId == caller.UserId, ct);
        if (user.EmailVerified)
        {
            return Api.Ok(new VerifyEmailResponse(true), "Email is already verified");
        }
        limiter.Enforce(http, limits.Value, "verify-email", user.UserId);
        if (!await accounts.VerifyEmailCodeAsync(user, request.Code!, ct))
        {
            throw ApiException.BadRequest("Invalid or expired verification code");
        }
        await db.SaveChangesAsync(ct);
        return Api.Ok(new VerifyEmailResponse(true), "Email verified");
    }

    private static async Task<IResult> RequestEmailVerificationAsync(
        Caller caller, HttpContext http, PangolinDbContext db, AccountService accounts, IRateLimiter limiter,
        IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        var user = await db.Users.FirstAsync(u => u.UserId == caller.UserId, ct);
        if (user.EmailVerified)
        {
            throw ApiException.BadRequest("Email is already verified");
        }
        limiter.Enforce(http, limits.Value, "verify-email-request", user.UserId);
        await accounts.SendVerificationCodeAsync(user, ct);
        return Api.Done("Verification code sent");
    }

    private static async Task<IResult> GetCurrentUserAsync(Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        if (caller.Kind != CallerKind.User)
        {
            throw ApiException.BadRequest("An API key has no user");
        }
        var user = await db.Users.AsNoTracking().FirstAsync(u => u.UserId == caller.UserId, ct);
        return Api.Ok(new UserResponse(user.UserId, user.Email, user.Username, user.Name, user.Type, user.TwoFactorEnabled,
            user.EmailVerified, user.ServerAdmin, user.IdpId, null, user.DateCreated), "User retrieved");
    }
}

/// <summary>Marks an endpoint that anyone may call (its own checks and rate limits protect it).</summary>
public sealed class PublicEndpoint
{
    public static readonly PublicEndpoint Instance = new();
}
