using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using NSec.Cryptography;
using Pangolin.Gerbil.Nodes;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Control;

/// <summary>
/// Registers the node with the server and fetches its configuration: <c>POST {base}/gerbil/get-config</c>, retried
/// every 5 s until the server answers 200 with a usable body, as upstream gerbil's start-up loop does (fosrl/gerbil
/// main.go). The server upserts the node by public key, so the same key always gets the same network back.
/// With a signing key (REMOTE_CONFIG_SIGNING_KEY) an answer counts only when <c>X-Gerbil-Config-Signature</c> holds
/// the base64 Ed25519 signature of its exact body bytes; any other answer is refused and retried like a failure.
/// </summary>
internal sealed partial class ConfigFetcher(HttpClient http, Uri getConfigUrl, PublicKey? signingKey, TimeProvider time, ILogger<ConfigFetcher> logger)
{
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);

    /// <summary>After the first failure, one warning per this many attempts (a minute), the others at debug.</summary>
    private const int WarnEvery = 12;

    /// <summary>Tries until a config arrives; only <paramref name="cancellationToken"/> ends it otherwise.</summary>
    public async Task<NodeConfig> FetchAsync(GetConfigRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var ownKey = WgKey.FromBase64(request.PublicKey);
        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (config, problem) = await TryOnceAsync(request, ownKey, cancellationToken);
            if (config is not null)
            {
                if (attempt > 1)
                {
                    LogFetchedAfterRetries(logger, attempt);
                }
                return config;
            }
            if (attempt == 1 || attempt % WarnEvery == 0)
            {
                LogFetchFailed(logger, getConfigUrl, attempt, problem!);
            }
            else
            {
                LogFetchFailedAgain(logger, attempt, problem!);
            }
            await Task.Delay(RetryInterval, time, cancellationToken);
        }
    }

    private async Task<(NodeConfig? Config, string? Problem)> TryOnceAsync(GetConfigRequest request, WgKey ownKey, CancellationToken cancellationToken)
    {
        byte[] bytes;
        string? signature;
        try
        {
            using var response = await http.PostAsJsonAsync(getConfigUrl, request, ProtocolJsonContext.Default.GetConfigRequest, cancellationToken);
            if (response.StatusCode != System.Net.HttpStatusCode.OK)
            {
                return (null, $"the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }
            // The bytes as they came: the signature covers exactly these.
            bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            signature = response.Headers.TryGetValues(GerbilControl.ConfigSignatureHeader, out var values) ? values.FirstOrDefault() : null;
        }
        catch (HttpRequestException e)
        {
            return (null, e.Message);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, $"no answer within {http.Timeout.TotalSeconds} s");
        }
        if (signingKey is not null && !SignedBy(signingKey, bytes, signature))
        {
            return (null, signature is null
                ? $"the answer has no {GerbilControl.ConfigSignatureHeader} header, and REMOTE_CONFIG_SIGNING_KEY requires one"
                : $"the answer's {GerbilControl.ConfigSignatureHeader} is not REMOTE_CONFIG_SIGNING_KEY's signature of its body");
        }
        GetConfigResponse? body;
        try
        {
            body = JsonSerializer.Deserialize(bytes, ProtocolJsonContext.Default.GetConfigResponse);
        }
        catch (JsonException e)
        {
            return (null, $"the answer is not get-config's JSON: {e.Message}");
        }
        if (body is null)
        {
            return (null, "the answer is null");
        }
        if (!NodeAddress.TryParse(body.IpAddress, out var address))
        {
            return (null, $"ipAddress \"{body.IpAddress}\" is not an address with a prefix length");
        }
        if (body.ListenPort is < 0 or > 65535)
        {
            return (null, $"listenPort {body.ListenPort} is not a UDP port");
        }
        var peers = new List<(WgKey, IReadOnlyList<System.Net.IPNetwork>)>(body.Peers.Count);
        foreach (var peer in body.Peers)
        {
            // One bad row must not keep the node down: it is left out, and the others are served.
            if (PeerRequest.TryParse(peer, ownKey, out var parsed, out var problem))
            {
                peers.Add(parsed);
            }
            else
            {
                LogPeerSkipped(logger, problem);
            }
        }
        return (new NodeConfig(address, body.ListenPort, peers), null);
    }

    private static bool SignedBy(PublicKey key, byte[] body, string? signature)
    {
        Span<byte> raw = stackalloc byte[96];
        return signature is not null
            && Convert.TryFromBase64String(signature, raw, out var length)
            && length == SignatureAlgorithm.Ed25519.SignatureSize
            && SignatureAlgorithm.Ed25519.Verify(key, body, raw[..length]);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "get-config at {Url} failed (attempt {Attempt}): {Problem}; retrying every 5 s")]
    private static partial void LogFetchFailed(ILogger logger, Uri url, int attempt, string problem);

    [LoggerMessage(Level = LogLevel.Debug, Message = "get-config failed (attempt {Attempt}): {Problem}")]
    private static partial void LogFetchFailedAgain(ILogger logger, int attempt, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "get-config answered after {Attempts} attempts")]
    private static partial void LogFetchedAfterRetries(ILogger logger, int attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A peer from get-config was left out: {Problem}")]
    private static partial void LogPeerSkipped(ILogger logger, string problem);
}
