using System.Net;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Dashboard;

/// <summary>
/// The dashboard calls this server's own API over loopback; this header tells the API the browser's address, so that
/// per-address limits and the audit log see the person, not 127.0.0.1. It is believed only from loopback and with
/// the server secret's MAC, and always removed before anything else reads the request.
/// </summary>
internal sealed class DashboardRelayMiddleware(RequestDelegate next, SecretProtector protector)
{
    public const string Header = "X-Pangolin-Dashboard-Client";
    private const string Purpose = "dashboard-client";

    public static string Sign(SecretProtector protector, string clientIp) => clientIp + " " + protector.Mac(Purpose, clientIp);

    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Headers.Remove(Header, out var value)
            && context.Connection.RemoteIpAddress is { } peer && IPAddress.IsLoopback(peer)
            && value.ToString().Split(' ') is [var ip, var mac]
            && IPAddress.TryParse(ip, out var client)
            && Secrets.FixedTimeEquals(mac, protector.Mac(Purpose, ip)))
        {
            context.Connection.RemoteIpAddress = client;
        }
        return next(context);
    }
}
