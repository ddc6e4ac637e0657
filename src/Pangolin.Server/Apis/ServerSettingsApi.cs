using Microsoft.Extensions.Options;
using Pangolin.Edge;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Apis;

/// <summary>
/// What the server's configuration says, read-only, for server admins (and root keys): addresses, ports, the database
/// kind, whether e-mail and ACME are set up, and the flags. Never a secret: no server secret, no connection string,
/// no SMTP user or password.
/// </summary>
public static class ServerSettingsApi
{
    public sealed record ListenSettings(string ListenAddress, int ExternalPort, string InternalListenAddress, int InternalPort, int IntegrationPort,
        int EdgeHttpPort, int EdgeHttpsPort);

    public sealed record EmailSettings(bool Configured, string? SmtpHost, int SmtpPort, string SmtpSecurity, string? NoReply);

    public sealed record AcmeSettings(bool Enabled, string? Email, string DirectoryUrl, bool AcceptTermsOfService, bool Dns01HookConfigured);

    public sealed record FlagSettings(bool RequireEmailVerification, bool DisableSignupWithoutInvite, bool DisableUserCreateOrg, bool AllowRawResources,
        bool EnableIntegrationApi);

    public sealed record ServerSettings(string DashboardUrl, ListenSettings Listen, string DatabaseProvider, EmailSettings Email, AcmeSettings Acme,
        FlagSettings Flags, bool GerbilEnabled, int RequestLogRetentionDays, int DashboardSessionLengthHours, int ResourceSessionLengthHours);

    public static RouteGroupBuilder MapServerSettingsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/server/settings", Get).WithTags("Server").RequireAccess(new AccessRule(AccessScope.Server, null));
        return api;
    }

    private static ApiResult<ServerSettings> Get(IOptions<AppOptions> app, IOptions<ServerOptions> server, IOptions<DatabaseOptions> database, IOptions<EmailOptions> email,
        IOptions<AcmeOptions> acme, IOptions<FlagsOptions> flags, IOptions<GerbilOptions> gerbil, IOptions<EdgeOptions> edge)
    {
        var s = server.Value;
        var e = email.Value;
        var a = acme.Value;
        var f = flags.Value;
        var settings = new ServerSettings(
            app.Value.DashboardUrl,
            new ListenSettings(s.ListenAddress, s.ExternalPort, s.InternalListenAddress, s.InternalPort, s.IntegrationPort, edge.Value.HttpPort, edge.Value.HttpsPort),
            database.Value.Provider,
            new EmailSettings(e.IsConfigured, e.SmtpHost, e.SmtpPort, e.SmtpSecurity, e.NoReply),
            new AcmeSettings(a.Enabled, a.Email, a.DirectoryUrl, a.AcceptTermsOfService, !string.IsNullOrWhiteSpace(a.Dns01Hook)),
            new FlagSettings(f.RequireEmailVerification, f.DisableSignupWithoutInvite, f.DisableUserCreateOrg, f.AllowRawResources, f.EnableIntegrationApi),
            gerbil.Value.Enabled,
            edge.Value.RequestLogRetentionDays,
            s.DashboardSessionLengthHours,
            s.ResourceSessionLengthHours);
        return Api.Ok(settings, "Server settings retrieved");
    }
}
