using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Edge;
using Pangolin.Server.Apis;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.Dashboard.SignIn;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Edge;

/// <summary>
/// The resource sign-in pages on the dashboard's host (upstream's <c>/auth/resource/&lt;guid&gt;?redirect=</c> and
/// share links at <c>/s/&lt;id.token&gt;</c>): plain HTML forms that work without JavaScript, in the dashboard's look
/// (Dashboard/SignIn, rendered here to a string). A sign-in ends in a 303
/// to the resource's own address with a single-use request token, which the edge there exchanges for its host-scoped
/// cookie. The <c>redirect</c> parameter is honoured only when it points at the resource itself; forms carry a
/// token bound to a cookie by the server's key, so another site cannot post them.
/// </summary>
public static class SignInPages
{
    private const string FormCookie = "p_signin_form";
    private const string FormPurpose = "resource-sign-in-form";

    public static IEndpointRouteBuilder MapSignInPages(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var pages = app.MapGroup("").ExcludeFromDescription().AllowAnonymous().WithMetadata(PublicEndpoint.Instance);
        pages.MapGet("/auth/resource/{resourceGuid}", ShowAsync);
        pages.MapPost("/auth/resource/{resourceGuid}/{method}", SubmitAsync);
        pages.MapGet("/s/{token}", ShareLinkAsync);
        return app;
    }

    private static async Task ShowAsync(string resourceGuid, string? redirect, HttpContext http, ResourceSignIn signIn, SecretProtector protector,
        IOptions<EdgeOptions> edge, CancellationToken ct)
    {
        var resource = await signIn.FindByGuidAsync(resourceGuid, ct);
        if (resource is null)
        {
            await WriteMessageAsync(http, StatusCodes.Status404NotFound, "Resource not found", "There is no resource at this address.");
            return;
        }
        var target = ResourceSignIn.SafeRedirect(resource, redirect) ?? ResourceSignIn.ResourceUrl(resource, resource.PostAuthPath);
        if (target is null)
        {
            await WriteMessageAsync(http, StatusCodes.Status400BadRequest, "No address to return to",
                "Open the resource's own address first; it sends you here with the way back.");
            return;
        }
        var methods = await signIn.MethodsAsync(resource, ct);
        if (!methods.Interactive)
        {
            await WriteMessageAsync(http, StatusCodes.Status404NotFound, resource.Name, "This resource has no sign-in page.");
            return;
        }
        var page = SignInView.For(resource, methods, target);
        if (methods.Sso && http.Features.Get<Caller>() is { Kind: CallerKind.User, SessionId: { } sessionId, UserId: { } userId } caller)
        {
            var outcome = await signIn.UserAsync(resource, userId, sessionId, ct);
            if (outcome.Status == SignInStatus.Success)
            {
                SeeOther(http, ResourceSignIn.WithRequestToken(target, edge.Value.SessionRequestParam, outcome.RequestToken!));
                return;
            }
            page = page with { Notice = $"You are signed in as {caller.Email}, which has no access to this resource." };
        }
        await WritePageAsync(http, StatusCodes.Status200OK, page, protector);
    }

    private static async Task SubmitAsync(string resourceGuid, string method, HttpContext http, ResourceSignIn signIn, SecretProtector protector,
        IOptions<EdgeOptions> edge, PangolinDbContext db, AccountService accounts, PasswordHasher hasher, SessionService sessions, IRateLimiter limiter,
        IOptions<RateLimitOptions> limits, IOptions<FlagsOptions> flags, CancellationToken ct)
    {
        var resource = await signIn.FindByGuidAsync(resourceGuid, ct);
        if (resource is null)
        {
            await WriteMessageAsync(http, StatusCodes.Status404NotFound, "Resource not found", "There is no resource at this address.");
            return;
        }
        if (!http.Request.HasFormContentType)
        {
            await WriteMessageAsync(http, StatusCodes.Status415UnsupportedMediaType, "Not a form", "This address takes the sign-in page's forms only.");
            return;
        }
        var form = await http.Request.ReadFormAsync(ct);
        if (!FormTokenValid(http, protector, form["form_token"]))
        {
            await WriteMessageAsync(http, StatusCodes.Status400BadRequest, "The form has expired",
                "Go back, reload the sign-in page and try again.");
            return;
        }
        var target = ResourceSignIn.SafeRedirect(resource, form["redirect"]) ?? ResourceSignIn.ResourceUrl(resource, resource.PostAuthPath);
        if (target is null)
        {
            await WriteMessageAsync(http, StatusCodes.Status400BadRequest, "No address to return to",
                "Open the resource's own address first; it sends you here with the way back.");
            return;
        }
        var page = SignInView.For(resource, await signIn.MethodsAsync(resource, ct), target);
        var client = http.ClientIp();
        SignInOutcome outcome;
        switch (method)
        {
            case "password":
                outcome = await signIn.PasswordAsync(resource, Field(form, "password", 1024), client, ct);
                page = page with { ErrorMethod = method, Error = "That password is not right." };
                break;
            case "pincode":
                outcome = await signIn.PincodeAsync(resource, Field(form, "pincode", 64), client, ct);
                page = page with { ErrorMethod = method, Error = "That PIN is not right." };
                break;
            case "whitelist":
                var address = Field(form, "email", 254);
                if (!System.Net.Mail.MailAddress.TryCreate(address, out _))
                {
                    await WritePageAsync(http, StatusCodes.Status400BadRequest, page with { ErrorMethod = method, Error = "Enter an e-mail address." }, protector);
                    return;
                }
                var code = Field(form, "otp", 64);
                outcome = await signIn.WhitelistAsync(resource, address, code.Length > 0 ? code : null, client, ct);
                page = page with { ErrorMethod = method, Error = "That code is wrong or has expired.", OtpEmail = address };
                if (outcome.Status == SignInStatus.OtpSent)
                {
                    await WritePageAsync(http, StatusCodes.Status200OK, page with { Error = null, Notice = $"If {address} may open this resource, a code is on its way to it." }, protector);
                    return;
                }
                if (outcome.Status == SignInStatus.EmailUnavailable)
                {
                    await WritePageAsync(http, StatusCodes.Status503ServiceUnavailable,
                        page with { Error = "This server cannot send e-mail, so no code can reach you. Use another way to sign in, or ask the administrator." }, protector);
                    return;
                }
                break;
            case "login":
                outcome = await PlatformLoginAsync(http, form, page, signIn, resource, db, accounts, hasher, sessions, limiter, limits.Value, flags.Value, protector, ct);
                if (outcome.Status == SignInStatus.OtpSent)
                {
                    return; // the page was written: it asks for the second factor, or says why not
                }
                page = page with { ErrorMethod = method, Error = "Your account has no access to this resource." };
                break;
            default:
                await WriteMessageAsync(http, StatusCodes.Status404NotFound, "Not found", "There is no such sign-in method.");
                return;
        }
        switch (outcome.Status)
        {
            case SignInStatus.Success:
                SeeOther(http, ResourceSignIn.WithRequestToken(target, edge.Value.SessionRequestParam, outcome.RequestToken!));
                return;
            case SignInStatus.RateLimited:
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(outcome.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await WritePageAsync(http, StatusCodes.Status429TooManyRequests, page with { Error = "Too many attempts from your address. Wait a few minutes, then try again." }, protector);
                return;
            case SignInStatus.NotConfigured:
                await WritePageAsync(http, StatusCodes.Status400BadRequest, page with { Error = "This resource does not offer that way to sign in." }, protector);
                return;
            default:
                await WritePageAsync(http, StatusCodes.Status401Unauthorized, page, protector);
                return;
        }
    }

    /// <summary>
    /// The platform account's sign-in, with every limit of the login API. Answers Success (a request token) or
    /// Invalid (no access); writes the page itself and answers OtpSent when it needs a second factor or failed.
    /// </summary>
    private static async Task<SignInOutcome> PlatformLoginAsync(HttpContext http, IFormCollection form, SignInView page, ResourceSignIn signIn, Resource resource,
        PangolinDbContext db, AccountService accounts, PasswordHasher hasher, SessionService sessions, IRateLimiter limiter, RateLimitOptions limits,
        FlagsOptions flags, SecretProtector protector, CancellationToken ct)
    {
        var email = Field(form, "email", 254);
        var password = Field(form, "password", 1024);
        var code = Field(form, "code", 64);
        var ticket = Field(form, "ticket", 256);
        page = page with { ErrorMethod = "login", LoginEmail = email };
        if (!resource.Sso)
        {
            return SignInOutcome.NotConfigured;
        }
        if (!System.Net.Mail.MailAddress.TryCreate(email, out _) || (password.Length == 0 && ticket.Length == 0))
        {
            await WritePageAsync(http, StatusCodes.Status400BadRequest, page with { Error = "Enter your e-mail address and password." }, protector);
            return new SignInOutcome(SignInStatus.OtpSent);
        }
        AuthApi.LoginOutcome login;
        try
        {
            login = await AuthApi.SignInAsync(email, password, code.Length > 0 ? code : null, http, db, accounts, hasher, sessions, limiter, limits, flags, ct,
                ticket.Length > 0 ? ticket : null);
        }
        catch (ApiException failure)
        {
            // A wrong code keeps the code step and its ticket; a wrong password or an expired ticket asks for the password again.
            var keep = ticket.Length > 0 && failure.Message != AuthApi.SecondStepExpired;
            await WritePageAsync(http, failure.Status, page with { Error = failure.Message, LoginTicket = keep ? ticket : null }, protector);
            return new SignInOutcome(SignInStatus.OtpSent);
        }
        switch (login.Step)
        {
            case AuthApi.LoginStep.CodeRequested:
                await WritePageAsync(http, StatusCodes.Status200OK, page with { LoginTicket = login.SecondStepTicket, Notice = "Enter the code from your authenticator app." }, protector);
                return new SignInOutcome(SignInStatus.OtpSent);
            case AuthApi.LoginStep.TwoFactorSetupRequired:
                await WritePageAsync(http, StatusCodes.Status403Forbidden, page with { Error = "Your account must set up two-factor authentication first, in the dashboard." }, protector);
                return new SignInOutcome(SignInStatus.OtpSent);
        }
        return await signIn.UserAsync(resource, login.UserId!, login.SessionId!, ct);
    }

    private static async Task ShareLinkAsync(string token, HttpContext http, ResourceSignIn signIn, IOptions<EdgeOptions> edge, CancellationToken ct)
    {
        var outcome = token.Length <= 512 ? await signIn.ShareLinkAsync(null, null, token, http.ClientIp(), ct) : SignInOutcome.Invalid;
        switch (outcome.Status)
        {
            case SignInStatus.Success when outcome.RedirectUrl is { } url:
                SeeOther(http, ResourceSignIn.WithRequestToken(url, edge.Value.SessionRequestParam, outcome.RequestToken!));
                return;
            case SignInStatus.Success:
                await WriteMessageAsync(http, StatusCodes.Status400BadRequest, "No address to go to",
                    "This link's resource is published under a wildcard domain; open the resource's address with the link's p_token instead.");
                return;
            case SignInStatus.RateLimited:
                await WriteMessageAsync(http, StatusCodes.Status429TooManyRequests, "Too many attempts", "Too many wrong links came from your address. Wait a few minutes, then try again.");
                return;
            default:
                await WriteMessageAsync(http, StatusCodes.Status404NotFound, "This link does not work", "The link is wrong, has expired or was revoked. Ask whoever shared it for a new one.");
                return;
        }
    }

    private static string Field(IFormCollection form, string name, int max)
    {
        var value = form[name].ToString();
        return value.Length <= max ? value.Trim() : "";
    }

    private static void SeeOther(HttpContext http, string location)
    {
        http.Response.StatusCode = StatusCodes.Status303SeeOther;
        http.Response.Headers.Location = location;
        http.Response.Headers.CacheControl = "no-store";
    }

    /// <summary>The form token: the server's MAC of a random cookie (a cookie set by another subdomain cannot match it).</summary>
    private static string IssueFormToken(HttpContext http, SecretProtector protector)
    {
        var nonce = http.Request.Cookies[FormCookie];
        if (nonce is not { Length: 32 })
        {
            nonce = Secrets.Token(32);
            http.Response.Cookies.Append(FormCookie, nonce, new CookieOptions
            {
                HttpOnly = true,
                Secure = http.Request.IsHttps,
                SameSite = SameSiteMode.Lax,
                Path = "/auth/resource",
                IsEssential = true,
            });
        }
        return protector.Mac(FormPurpose, nonce);
    }

    private static bool FormTokenValid(HttpContext http, SecretProtector protector, string? token) =>
        http.Request.Cookies[FormCookie] is { Length: 32 } nonce && Secrets.FixedTimeEquals(protector.Mac(FormPurpose, nonce), token);

    private static Task WriteMessageAsync(HttpContext http, int status, string title, string message) =>
        WriteComponentAsync<SignInMessage>(http, status, null, new Dictionary<string, object?>
        {
            [nameof(SignInMessage.Title)] = title,
            [nameof(SignInMessage.Message)] = message,
        });

    private static Task WritePageAsync(HttpContext http, int status, SignInView page, SecretProtector protector) =>
        WriteComponentAsync<ResourceSignInForm>(http, status, new Uri(page.Target), new Dictionary<string, object?>
        {
            [nameof(ResourceSignInForm.View)] = page,
            [nameof(ResourceSignInForm.FormToken)] = IssueFormToken(http, protector),
            [nameof(ResourceSignInForm.Action)] = $"/auth/resource/{Uri.EscapeDataString(page.ResourceGuid)}/",
        });

    /// <summary>
    /// Renders a sign-in component to the response as a whole document. The forms post here and are answered with a
    /// redirect to the resource, so form-action names the resource's origin too (browsers hold redirects after a form
    /// post to it).
    /// </summary>
    private static async Task WriteComponentAsync<TComponent>(HttpContext http, int status, Uri? returnTo, Dictionary<string, object?> parameters)
        where TComponent : IComponent
    {
        var response = http.Response;
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers.XFrameOptions = "DENY";
        var formAction = returnTo is null ? "'self'" : $"'self' {returnTo.GetLeftPart(UriPartial.Authority)}";
        response.Headers.ContentSecurityPolicy =
            $"default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; form-action {formAction}; frame-ancestors 'none'; base-uri 'none'";
        response.Headers["Referrer-Policy"] = "no-referrer";
        await using var renderer = new HtmlRenderer(http.RequestServices, http.RequestServices.GetRequiredService<ILoggerFactory>());
        var html = await renderer.Dispatcher.InvokeAsync(async () =>
            (await renderer.RenderComponentAsync<TComponent>(ParameterView.FromDictionary(parameters))).ToHtmlString());
        await response.WriteAsync(html, http.RequestAborted);
    }
}

/// <summary>What a resource's sign-in page shows (<see cref="ResourceSignInForm"/>); <paramref name="Target"/> is the way back.</summary>
public sealed record SignInView(string ResourceName, string ResourceGuid, ResourceMethods Methods, string Target)
{
    public static SignInView For(Resource resource, ResourceMethods methods, string target) => new(resource.Name, resource.ResourceGuid, methods, target);

    public string Host => new Uri(Target).Host;

    public string? Notice { get; init; }

    /// <summary>The form the error belongs to (login, password, pincode, whitelist); none: an error for the page.</summary>
    public string? ErrorMethod { get; init; }

    public string? Error { get; init; }

    /// <summary>The address a code was sent to: the page asks for the code.</summary>
    public string? OtpEmail { get; init; }

    /// <summary>The platform sign-in's password was right and it needs the second factor: the page asks for the code
    /// and carries this instead of the password.</summary>
    public string? LoginTicket { get; init; }

    public string? LoginEmail { get; init; }
}
