using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;
using Pangolin.Server.Apis;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Server.Sites;

/// <summary>
/// The exit-node API of upstream's internal router, on the internal port only: a standalone gerbil registers and
/// fetches its peers (<c>get-config</c>, retried by gerbil until it answers) and reports per-site traffic every
/// 10 s (<c>receive-bandwidth</c>). Like upstream it trusts the network it listens on (Server:InternalListenAddress,
/// loopback by default); with Gerbil:ConfigSigningKey each get-config answer is signed, so that a gerbil with
/// REMOTE_CONFIG_SIGNING_KEY takes peers from this server only.
/// </summary>
public static partial class GerbilInternalApi
{
    private const int MaxBodyBytes = 1024 * 1024;

    public static RouteGroupBuilder MapGerbilInternalApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/gerbil").WithTags("Exit nodes (internal)").AllowAnonymous().WithMetadata(PublicEndpoint.Instance).ExcludeFromDescription();
        g.MapPost("/get-config", GetConfigAsync);
        g.MapPost("/receive-bandwidth", ReceiveBandwidthAsync);
        return api;
    }

    private static async Task<IResult> GetConfigAsync(HttpContext http, PangolinDbContext db, IOptions<GerbilOptions> gerbil, GerbilConfigSigner signer,
        TimeProvider time, ILogger<ExitNodePeers> logger, CancellationToken ct)
    {
        var request = await ReadAsync(http, ProtocolJsonContext.Default.GetConfigRequest, ct);
        try
        {
            if (WgKey.FromBase64(request.PublicKey).IsZero)
            {
                throw new FormatException();
            }
        }
        catch (FormatException)
        {
            throw ApiException.BadRequest("Validation error: publicKey must be a WireGuard public key (32 bytes in base64)");
        }
        if (request.ReachableAt is { Length: > 0 } reachable && !Syntax.IsHttpUrl(reachable))
        {
            throw ApiException.BadRequest("Validation error: reachableAt must be an absolute http:// or https:// URL");
        }
        if (request.ListenPort is < 1 or > 65535)
        {
            throw ApiException.BadRequest("Validation error: listenPort must be between 1 and 65535");
        }
        var options = gerbil.Value;
        var node = await db.ExitNodes.FirstOrDefaultAsync(n => n.PublicKey == request.PublicKey, ct);
        if (node is { Embedded: true })
        {
            throw ApiException.Conflict("That public key belongs to the embedded exit node");
        }
        if (node is null)
        {
            var used = await db.ExitNodes.AsNoTracking().Select(n => n.Address).ToListAsync(ct);
            var block = SubnetAllocator.Next(options.SubnetGroup, options.BlockSize, used)
                ?? throw ApiException.Conflict($"Gerbil:SubnetGroup {options.SubnetGroup} has no free /{options.BlockSize} for another exit node");
            var network = System.Net.IPNetwork.Parse(block);
            node = new ExitNode
            {
                Name = $"gerbil-{request.PublicKey[..8].Replace('/', '_').Replace('+', '-')}",
                Address = $"{EmbeddedExitNode.FirstHost(network)}/{network.PrefixLength}",
                Endpoint = "",
                PublicKey = request.PublicKey,
                Type = "gerbil",
            };
            db.ExitNodes.Add(node);
            LogRegistered(logger, node.Name, node.Address);
        }
        node.ReachableAt = request.ReachableAt is { Length: > 0 } at ? at : node.ReachableAt;
        node.Endpoint = request.Endpoint is { Length: > 0 } endpoint ? endpoint
            : node.Endpoint is { Length: > 0 } known ? known
            : node.ReachableAt is { Length: > 0 } r ? new Uri(r).Host : "";
        node.ListenPort = request.ListenPort ?? (node.ListenPort > 0 ? node.ListenPort : 51820);
        node.Online = true;
        node.LastPing = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);

        var peers = await db.Sites.AsNoTracking()
            .Where(s => s.ExitNodeId == node.ExitNodeId && s.PubKey != null && s.Subnet != null)
            .OrderBy(s => s.SiteId)
            .Select(s => new GerbilPeer { PublicKey = s.PubKey!, AllowedIps = new[] { s.Subnet! } })
            .ToListAsync(ct);
        // Not enveloped: gerbil reads these three fields at the top level. Written as the bytes that were signed.
        var body = JsonSerializer.SerializeToUtf8Bytes(new GetConfigResponse { ListenPort = node.ListenPort, IpAddress = node.Address, Peers = peers },
            ProtocolJsonContext.Default.GetConfigResponse);
        if (signer.Sign(body) is { } signature)
        {
            http.Response.Headers[GerbilControl.ConfigSignatureHeader] = signature;
        }
        return Results.Bytes(body, "application/json; charset=utf-8");
    }

    private static async Task<IResult> ReceiveBandwidthAsync(HttpContext http, BandwidthAccumulator bandwidth, CancellationToken ct)
    {
        var report = await ReadAsync(http, ProtocolJsonContext.Default.IReadOnlyListPeerBandwidth, ct);
        foreach (var peer in report)
        {
            bandwidth.Add(peer.PublicKey, peer.BytesIn, peer.BytesOut);
        }
        return Api.Ok(new Empty(), "Bandwidth data updated successfully");
    }

    private static async Task<T> ReadAsync<T>(HttpContext http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info, CancellationToken ct)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = MaxBodyBytes;
        }
        try
        {
            return await JsonSerializer.DeserializeAsync(http.Request.Body, info, ct)
                ?? throw ApiException.BadRequest("The request body must be a JSON value, not null");
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"The request body is not valid JSON of the expected shape: {e.Message}");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node {Name} registered with network {Address}")]
    private static partial void LogRegistered(ILogger logger, string name, string address);
}
