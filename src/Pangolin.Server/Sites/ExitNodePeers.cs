using System.Net;
using System.Net.Http.Headers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;
using Pangolin.Server.Configuration;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Server.Sites;

/// <summary>
/// Adds and removes site peers on exit nodes: in process for the embedded node, over a standalone gerbil's HTTP API
/// (<c>POST /peer</c>, <c>DELETE /peer?public_key=</c>) for the others. A failure is logged, not thrown: the caller's
/// database change stands, and a gerbil reloads every peer from get-config when it restarts. With
/// Gerbil:ControlApiToken every call carries it as <c>Authorization: Bearer</c> (gerbil's CONTROL_API_TOKEN).
/// </summary>
public sealed partial class ExitNodePeers(
    EmbeddedExitNode embedded, PangolinDbContext db, IHttpClientFactory http, IOptions<GerbilOptions> gerbil, ILogger<ExitNodePeers> logger)
{
    public const string HttpClientName = "gerbil";

    public async Task<bool> AddAsync(int exitNodeId, string publicKey, string subnet, CancellationToken ct)
    {
        if (exitNodeId == embedded.ExitNodeId && embedded.Runtime is { } runtime)
        {
            if (EmbeddedExitNode.TryPeer(publicKey, subnet) is not { } peer)
            {
                LogBadPeer(logger, publicKey);
                return false;
            }
            runtime.AddPeer(peer.Item1, peer.Item2);
            return true;
        }
        return await CallRemoteAsync(exitNodeId, url => new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = JsonContent.Create(new GerbilPeer { PublicKey = publicKey, AllowedIps = [subnet] }, ProtocolJsonContext.Default.GerbilPeer),
        }, ct);
    }

    public async Task<bool> RemoveAsync(int exitNodeId, string publicKey, CancellationToken ct)
    {
        if (exitNodeId == embedded.ExitNodeId && embedded.Runtime is { } runtime)
        {
            try
            {
                return runtime.RemovePeer(WgKey.FromBase64(publicKey));
            }
            catch (FormatException)
            {
                return false;
            }
        }
        return await CallRemoteAsync(exitNodeId, url => new HttpRequestMessage(HttpMethod.Delete, $"{url}?public_key={Uri.EscapeDataString(publicKey)}"), ct);
    }

    private async Task<bool> CallRemoteAsync(int exitNodeId, Func<string, HttpRequestMessage> request, CancellationToken ct)
    {
        var reachableAt = await db.ExitNodes.AsNoTracking().Where(n => n.ExitNodeId == exitNodeId).Select(n => n.ReachableAt).FirstOrDefaultAsync(ct);
        if (string.IsNullOrEmpty(reachableAt))
        {
            LogUnreachable(logger, exitNodeId, "it has no reachable-at address (it registers one with get-config)");
            return false;
        }
        try
        {
            using var message = request(reachableAt.TrimEnd('/') + "/peer");
            if (gerbil.Value.ControlApiToken is { } token)
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            using var response = await http.CreateClient(HttpClientName).SendAsync(message, ct);
            if (response.IsSuccessStatusCode)
            {
                return true;
            }
            LogUnreachable(logger, exitNodeId, response.StatusCode == HttpStatusCode.Unauthorized
                ? "it answered 401: Gerbil:ControlApiToken is not its CONTROL_API_TOKEN"
                : $"it answered {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException or InvalidOperationException)
        {
            LogUnreachable(logger, exitNodeId, e.Message);
        }
        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Site key {PublicKey} or its subnet is malformed; not added to the exit node")]
    private static partial void LogBadPeer(ILogger logger, string publicKey);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Exit node {ExitNodeId} was not updated: {Reason}")]
    private static partial void LogUnreachable(ILogger logger, int exitNodeId, string reason);
}
