using System.Net;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using MudBlazor.Services;
using Pangolin.Server.Apis;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Edge;
using Pangolin.Edge.Tls;
using Pangolin.Server.ControlChannel;
using Pangolin.Server.Edge;
using Pangolin.Server.Dashboard;
using Pangolin.Server.Data;
using Pangolin.Server.Email;
using Pangolin.Server.Operations;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server;

/// <summary>Wires the control plane: services, middleware and the API surfaces.</summary>
public static class ServerHost
{
    public static WebApplicationBuilder AddPangolin(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Configuration.AddEnvironmentVariables("PANGOLIN_");
        RequestLogMiddleware.HoldFrameworkRequestLog(builder.Logging);
        builder.Services.AddPangolinServices();
        // The dashboard's assets from packages (MudBlazor) are served from the build output in every environment,
        // not only Development: `dotnet run` starts in Production. A published server has them under wwwroot anyway.
        builder.WebHost.UseStaticWebAssets();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var server = kestrel.ApplicationServices.GetRequiredService<IOptions<ServerOptions>>().Value;
            var edge = kestrel.ApplicationServices.GetRequiredService<IOptions<EdgeOptions>>().Value;
            kestrel.AddServerHeader = false;
            var listeners = new HashSet<(string Address, int Port)>
            {
                (server.ListenAddress, server.ExternalPort),
                (server.ListenAddress, server.IntegrationPort),
                (server.InternalListenAddress, server.InternalPort),
            };
            if (edge.HttpPort > 0)
            {
                listeners.Add((server.ListenAddress, edge.HttpPort));
            }
            foreach (var (address, port) in listeners)
            {
                kestrel.Listen(IPAddress.Parse(address), port);
            }
            if (edge.HttpsPort > 0)
            {
                var certificates = kestrel.ApplicationServices.GetRequiredService<EdgeCertificateStore>();
                kestrel.Listen(IPAddress.Parse(server.ListenAddress), edge.HttpsPort, listen => listen.UsePangolinEdgeTls(certificates));
            }
        });
        return builder;
    }

    public static IServiceCollection AddPangolinServices(this IServiceCollection services)
    {
        services.AddPangolinOptions();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<SetupState>();
        services.AddSingleton<PasswordHasher>();
        services.AddSingleton<TwoFactor>();
        services.AddSingleton<IRateLimiter, FixedWindowLimiter>();
        services.AddSingleton<ApiKeyCache>();
        services.AddSingleton(sp =>
        {
            var server = sp.GetRequiredService<IOptions<ServerOptions>>().Value;
            var app = sp.GetRequiredService<IOptions<AppOptions>>().Value;
            return new SecretProtector(ServerSecret.Resolve(server, app));
        });
        services.AddSingleton<IEmailSender, SmtpEmailSender>();
        services.AddSingleton<EmailOutbox>();
        services.AddHostedService(sp => sp.GetRequiredService<EmailOutbox>());
        services.AddScoped<SessionService>();
        services.AddScoped<AccountService>();
        services.AddScoped<InviteService>();
        services.AddPangolinDatabase();

        services.AddHostedService<StartupService>();
        services.AddHostedService<CleanupService>();
        // After StartupService: hosted services start in order, and presence resets rows that migrations create.
        services.AddControlChannel();
        // After the exit node: the routes name targets through it.
        services.AddSingleton<SecretBudget>();
        services.AddScoped<ResourceSignIn>();
        services.AddSingleton<Pangolin.Edge.Badger.IResourceAccess, ResourceAccessService>();
        services.AddSingleton<RequestLogWriter>();
        services.AddSingleton<Pangolin.Edge.Badger.IAccessLog>(sp => sp.GetRequiredService<RequestLogWriter>());
        services.AddHostedService(sp => sp.GetRequiredService<RequestLogWriter>());
        services.AddPangolinEdge();
        services.AddSingleton<DatabaseEdgeConfigSource>();
        services.AddSingleton<IEdgeConfigSource>(sp => sp.GetRequiredService<DatabaseEdgeConfigSource>());
        services.AddHostedService(sp => sp.GetRequiredService<DatabaseEdgeConfigSource>());
        services.AddSingleton<ITargetDialer>(sp => sp.GetRequiredService<Sites.TargetConnector>());
        // Certificates for the edge's HTTPS port: loaded from the database, issued and renewed through ACME.
        services.AddSingleton<DatabaseCertificateSource>();
        services.AddHostedService(sp => sp.GetRequiredService<DatabaseCertificateSource>());
        services.AddHostedService<AcmeScheduler>();
        services.AddOptions<EdgeOptions>().PostConfigure<IOptions<AppOptions>, IOptions<ServerOptions>>((edge, app, server) =>
        {
            edge.DashboardUrl = app.Value.DashboardUrl;
            edge.SessionCookieName = server.Value.SessionCookieName;
            edge.AccessTokenParam = server.Value.ResourceAccessTokenParam;
        }).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EdgeOptions>>(new SectionValidator<EdgeOptions>(EdgeOptions.Section));

        services.AddAuthentication(AuthSchemes.Default)
            .AddPolicyScheme(AuthSchemes.Default, "Session or API key", o =>
                o.ForwardDefaultSelector = ctx => AuthSchemes.IsIntegrationPath(ctx.Request.Path) ? AuthSchemes.ApiKey : AuthSchemes.Session)
            .AddScheme<AuthenticationSchemeOptions, SessionAuthenticationHandler>(AuthSchemes.Session, null)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(AuthSchemes.ApiKey, null);
        services.AddAuthorization();
        services.AddScoped<IAuthorizationHandler, AccessHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, AccessResultHandler>();

        services.ConfigureHttpJsonOptions(o =>
        {
            // Unknown fields are an error, as upstream's strict zod objects make them.
            o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            o.SerializerOptions.RespectNullableAnnotations = true;
            // Numbers are numbers: "3000" for a port is an error, as upstream's z.number() makes it.
            o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
            // Field names are case-sensitive, as upstream's zod objects (and the unknown-field message) have them.
            o.SerializerOptions.PropertyNameCaseInsensitive = false;
        });
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddValidation();
        services.AddPangolinProblems();
        services.AddPangolinOpenApi();
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);

        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ServerOptions>>((o, server) =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost;
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            foreach (var proxy in server.Value.TrustedProxies)
            {
                if (Syntax.TryParseIpOrCidr(proxy, out var network))
                {
                    o.KnownIPNetworks.Add(network);
                }
            }
            if (o.KnownIPNetworks.Count == 0)
            {
                // The middleware trusts every peer when both lists are empty: with no trusted proxy, read no forwarded header.
                o.ForwardedHeaders = ForwardedHeaders.None;
            }
        });
        services.AddCors();
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddMudServices();
        services.AddHttpContextAccessor();
        services.AddScoped<Dashboard.DashboardSession>();
        services.AddScoped<Dashboard.DashboardContext>();
        // Real time, not the app's TimeProvider: pacing is about screens and people, and tests fake the app's clock.
        services.AddSingleton(sp => new Dashboard.DashboardEvents(sp.GetRequiredService<Edge.EdgeChangeSignal>(), TimeProvider.System));
        services.AddScoped<Microsoft.AspNetCore.Components.Server.Circuits.CircuitHandler, Dashboard.DashboardCircuitCapture>();
        services.AddHttpClient<Dashboard.DashboardApi>((sp, client) =>
        {
            var server = sp.GetRequiredService<IOptions<ServerOptions>>().Value;
            client.BaseAddress = new Uri($"http://{LoopbackFor(server.ListenAddress)}:{server.ExternalPort}/api/v1/");
        })
        // One handler serves every user's calls: a cookie jar in it would carry one user's renewed session cookie into
        // another user's requests. Each call sets its own Cookie header instead.
        .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false });
        return services;
    }

    public static WebApplication UsePangolin(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseForwardedHeaders();
        app.UseMiddleware<Dashboard.DashboardRelayMiddleware>();
        app.UseMiddleware<RequestLogMiddleware>();
        app.UseExceptionHandler();
        // A published resource's host goes to the edge before anything of the control plane sees it.
        app.UsePangolinEdge();
        app.UseStatusCodePages();
        app.UseMiddleware<Dashboard.DashboardSecurityHeaders>();
        app.UseMiddleware<SurfaceMiddleware>();
        app.UseMiddleware<RequestRateLimitMiddleware>();
        var cors = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value.CorsOrigins;
        if (cors.Count > 0)
        {
            app.UseCors(p => p.WithOrigins([.. cors]).AllowCredentials().AllowAnyHeader().AllowAnyMethod());
        }
        app.UseMiddleware<CsrfMiddleware>();
        app.UseWebSockets();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseMiddleware<AuditMiddleware>();
        app.UseMiddleware<OptionalQueryCheck>();

        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") }).AllowAnonymous();

        var dashboard = app.MapGroup("/api/v1");
        dashboard.MapGet("/", () => Results.Json(new { message = "Healthy" })).ExcludeFromDescription().AllowAnonymous();
        dashboard.MapAuthApi();
        dashboard.MapResourceAuthApi();
        dashboard.MapBadgerApi();
        dashboard.MapControlChannel();
        dashboard.MapManagementApi();

        var integration = app.MapGroup(AuthSchemes.IntegrationPrefix);
        integration.MapGet("/", () => Results.Json(new { message = "Healthy" })).ExcludeFromDescription().AllowAnonymous();
        integration.MapManagementApi();

        app.MapSignInPages();
        app.UseAntiforgery();
        app.MapDashboard();
        app.MapPangolinOpenApi();
        app.Lifetime.ApplicationStarted.Register(() => Announce(app));
        return app;
    }

    /// <summary>The org, site, resource, role, user, key and domain endpoints, shared by both API surfaces.</summary>
    public static RouteGroupBuilder MapManagementApi(this RouteGroupBuilder api)
    {
        api.MapOrgApi();
        api.MapSiteApi();
        api.MapResourceApi();
        api.MapTargetApi();
        api.MapRuleApi();
        api.MapRoleApi();
        api.MapUserApi();
        api.MapApiKeyApi();
        api.MapDomainApi();
        api.MapAccessTokenApi();
        api.MapAuditApi();
        api.MapCertificateApi();
        api.MapServerSettingsApi();
        return api;
    }

    /// <summary>How this process reaches its own listener: loopback for a wildcard address, else the address itself.</summary>
    private static string LoopbackFor(string listenAddress)
    {
        var address = IPAddress.Parse(listenAddress);
        if (address.Equals(IPAddress.Any))
        {
            return "127.0.0.1";
        }
        if (address.Equals(IPAddress.IPv6Any))
        {
            return "[::1]";
        }
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
    }

    private static string Port(int port) => port > 0 ? port.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(off)";

    private static void Announce(WebApplication app)
    {
        var server = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value;
        var appOptions = app.Services.GetRequiredService<IOptions<AppOptions>>().Value;
        var setup = app.Services.GetRequiredService<SetupState>();
        var output = Console.Out;
        var edge = app.Services.GetRequiredService<IOptions<EdgeOptions>>().Value;
        var gerbil = app.Services.GetRequiredService<IOptions<GerbilOptions>>().Value;
        output.WriteLine($"Pangolin is running: dashboard and API at {appOptions.DashboardUrl} (port {server.ExternalPort}, /api/v1), " +
            $"integration API on port {server.IntegrationPort} (/v1, reference at /v1/docs), internal API on {server.InternalListenAddress}:{server.InternalPort}");
        output.WriteLine($"Resources are served on HTTP port {Port(edge.HttpPort)} and HTTPS port {Port(edge.HttpsPort)}; " +
            (gerbil.Enabled ? $"sites connect to the exit node on UDP port {(gerbil.ListenPort > 0 ? gerbil.ListenPort.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(a free one)")}" : "the embedded exit node is off (Gerbil:Enabled)"));
        if (setup.SetupToken is not null)
        {
            output.WriteLine();
            output.WriteLine("=== SETUP TOKEN (one time; exchange it for the server admin account) ===");
            output.WriteLine(setup.SetupToken);
            output.WriteLine($"  curl -X PUT {appOptions.DashboardUrl.TrimEnd('/')}/api/v1/auth/set-server-admin -H 'Content-Type: application/json' \\");
            output.WriteLine("       -H 'X-CSRF-Token: x-csrf-protection' -d '{\"email\":\"you@example.com\",\"password\":\"…\",\"setupToken\":\"" + setup.SetupToken + "\"}'");
            output.WriteLine("========================================================================");
        }
    }
}
