using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Mail;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Pangolin.Edge.Tls.Acme;

/// <summary>
/// An ACME client (RFC 8555): finds or creates the account of an ECDSA P-256 key and orders certificates, answering
/// http-01 or dns-01 challenges through an <see cref="IAcmeChallengeResponder"/>.
/// </summary>
/// <remarks>
/// Safe for concurrent orders once the account is known. The <see cref="HttpClient"/> and the account key stay the
/// caller's: the client neither disposes nor changes them.
/// </remarks>
public sealed partial class AcmeClient
{
    private const string JoseJson = "application/jose+json";
    private const string BadNonceType = "urn:ietf:params:acme:error:badNonce";

    // RFC 8555 §6.1: clients MUST send a User-Agent.
    private static readonly ProductInfoHeaderValue UserAgent = new("Pangolin-ACME", "0.1");

    private readonly Uri _directoryUrl;
    private readonly HttpClient _httpClient;
    private readonly ECDsa _accountKey;
    private readonly AcmeJwk _jwk;
    private readonly string _thumbprint;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    private AcmeDirectory? _directory;
    private Uri? _accountUrl;
    private string? _nonce;

    /// <param name="directoryUrl">The server's directory, e.g. <c>https://acme-v02.api.letsencrypt.org/directory</c>.</param>
    /// <param name="accountKey">An ECDSA P-256 key: requests are signed with ES256 (RFC 7518 §3.4).</param>
    /// <param name="timeProvider">Clock for the waits between polls; the system clock when null.</param>
    public AcmeClient(Uri directoryUrl, HttpClient httpClient, ECDsa accountKey, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(directoryUrl);
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(accountKey);
        if (!directoryUrl.IsAbsoluteUri)
        {
            throw new ArgumentException("The directory URL must be absolute.", nameof(directoryUrl));
        }
        if (!AcmeJws.IsP256(accountKey))
        {
            throw new ArgumentException("The account key must be an ECDSA key on the P-256 curve.", nameof(accountKey));
        }
        _directoryUrl = directoryUrl;
        _httpClient = httpClient;
        _accountKey = accountKey;
        _jwk = AcmeJws.Jwk(accountKey);
        _thumbprint = AcmeJws.Thumbprint(accountKey);
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>How long to wait between polls when the server sends no Retry-After (RFC 8555 §7.5.1).</summary>
    public TimeSpan PollInterval
    {
        get;
        init => field = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(PollInterval), value, "Must be positive.");
    } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait for one authorization or order to leave its pending or processing state.</summary>
    public TimeSpan PollTimeout
    {
        get;
        init => field = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(PollTimeout), value, "Must be positive.");
    } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How often one request is sent again after a <c>badNonce</c> error, each time with the fresh nonce of the
    /// error response (RFC 8555 §6.5: clients SHOULD retry). More than one, since a server may reject any nonce at
    /// random, as Boulder did and Pebble does on purpose.
    /// </summary>
    public int MaxBadNonceRetries
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaxBadNonceRetries), value, "Must not be negative.");
    } = 5;

    /// <summary>The account URL (the JWS <c>kid</c>), once <see cref="CreateOrFindAccountAsync"/> has run.</summary>
    public Uri? AccountUrl => Volatile.Read(ref _accountUrl);

    /// <summary>The RFC 7638 thumbprint of the account key, as used in key authorizations.</summary>
    public string AccountKeyThumbprint => _thumbprint;

    /// <summary>The server's directory (RFC 8555 §7.1.1), fetched once and then cached.</summary>
    public async Task<AcmeDirectory> GetDirectoryAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _directory) is { } cached)
        {
            return cached;
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, _directoryUrl);
        request.Headers.UserAgent.Add(UserAgent);
        using var response = await _httpClient.SendAsync(request, cancellationToken);
        await EnsureSuccessAsync(response, _directoryUrl, cancellationToken);
        var directory = await ReadJsonAsync(response, AcmeJsonContext.Default.AcmeDirectory, _directoryUrl, cancellationToken);
        Volatile.Write(ref _directory, directory);
        return directory;
    }

    /// <summary>
    /// Registers the account key (RFC 8555 §7.3), or finds the account it already has: a server answers a known key
    /// with that account's URL. Returns the account URL, which signs all later requests.
    /// </summary>
    /// <param name="termsOfServiceAgreed">Whether the operator agreed to the terms in <see cref="AcmeDirectoryMeta.TermsOfService"/>.</param>
    /// <param name="contactEmail">An address the CA may write to about the account's certificates, or null.</param>
    public async Task<Uri> CreateOrFindAccountAsync(bool termsOfServiceAgreed, string? contactEmail, CancellationToken cancellationToken)
    {
        string[]? contact = null;
        if (contactEmail is not null)
        {
            // A bare address only: RFC 8555 §7.3 lets servers refuse mailto URLs with headers or several addresses.
            if (!MailAddress.TryCreate(contactEmail, out var address) || address.Address != contactEmail || contactEmail.Contains('?', StringComparison.Ordinal))
            {
                throw new ArgumentException("Not a plain e-mail address.", nameof(contactEmail));
            }
            contact = ["mailto:" + contactEmail];
        }
        var directory = await GetDirectoryAsync(cancellationToken);
        var payload = JsonSerializer.SerializeToUtf8Bytes(
            new AcmeNewAccountRequest(termsOfServiceAgreed, contact), AcmeJsonContext.Default.AcmeNewAccountRequest);
        using var response = await PostAsync(directory.NewAccount, payload, useJwk: true, accept: null, cancellationToken);
        var accountUrl = RequireLocation(response, directory.NewAccount);
        Volatile.Write(ref _accountUrl, accountUrl);
        AcmeLog.AccountReady(_logger, accountUrl, response.StatusCode == HttpStatusCode.Created ? "created" : "found");
        return accountUrl;
    }

    /// <summary>
    /// Sends a JWS-signed POST (RFC 8555 §6.2) and returns the successful response; <paramref name="payload"/> null is
    /// a POST-as-GET (§6.3). Errors become <see cref="AcmeException"/>; a <c>badNonce</c> is retried (§6.5).
    /// </summary>
    private async Task<HttpResponseMessage> PostAsync(Uri url, byte[]? payload, bool useJwk, string? accept, CancellationToken cancellationToken)
    {
        var kid = useJwk ? null : AccountUrl ?? throw new InvalidOperationException(
            $"No ACME account yet: call {nameof(CreateOrFindAccountAsync)} first.");
        for (var attempt = 1; ; attempt++)
        {
            var nonce = await TakeNonceAsync(cancellationToken);
            var header = new AcmeProtectedHeader(AcmeJws.Es256, nonce, url.AbsoluteUri, useJwk ? _jwk : null, kid?.AbsoluteUri);
            using var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new ByteArrayContent(AcmeJws.Sign(_accountKey, header, payload)),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(JoseJson);
            request.Headers.UserAgent.Add(UserAgent);
            if (accept is not null)
            {
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            }
            var response = await _httpClient.SendAsync(request, cancellationToken);
            RememberNonce(response);
            if (response.IsSuccessStatusCode)
            {
                return response;
            }
            using (response)
            {
                var problem = await ReadProblemAsync(response, cancellationToken);
                if (problem?.Type == BadNonceType && attempt <= MaxBadNonceRetries)
                {
                    AcmeLog.BadNonceRetry(_logger, url, attempt);
                    continue;
                }
                throw ProblemException(url, response.StatusCode, problem);
            }
        }
    }

    /// <summary>POST-as-GET of an object (RFC 8555 §6.3), with the Retry-After the server sent with it.</summary>
    private async Task<(T Value, TimeSpan? RetryAfter)> FetchAsync<T>(Uri url, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        using var response = await PostAsync(url, payload: null, useJwk: false, accept: null, cancellationToken);
        return (await ReadJsonAsync(response, typeInfo, url, cancellationToken), RetryAfter(response));
    }

    private async Task<string> TakeNonceAsync(CancellationToken cancellationToken)
    {
        // Every response carries a fresh nonce (RFC 8555 §6.5); only without one is newNonce asked (§7.2).
        if (Interlocked.Exchange(ref _nonce, null) is { } nonce)
        {
            return nonce;
        }
        var directory = await GetDirectoryAsync(cancellationToken);
        using var request = new HttpRequestMessage(HttpMethod.Head, directory.NewNonce);
        request.Headers.UserAgent.Add(UserAgent);
        using var response = await _httpClient.SendAsync(request, cancellationToken);
        await EnsureSuccessAsync(response, directory.NewNonce, cancellationToken);
        return ReplayNonce(response) ?? throw new AcmeException(
            $"The ACME server's {directory.NewNonce} answered without a Replay-Nonce header.", null, null, response.StatusCode);
    }

    private void RememberNonce(HttpResponseMessage response)
    {
        if (ReplayNonce(response) is { } nonce)
        {
            Volatile.Write(ref _nonce, nonce);
        }
    }

    private static string? ReplayNonce(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Replay-Nonce", out var values) ? values.FirstOrDefault(v => v.Length > 0) : null;

    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - _timeProvider.GetUtcNow(),
        _ => null,
    };

    private static Uri RequireLocation(HttpResponseMessage response, Uri requestUrl) =>
        response.Headers.Location is { } location
            ? new Uri(requestUrl, location)
            : throw new AcmeException($"The ACME server's answer to {requestUrl} has no Location header.", null, null, response.StatusCode);

    private static async Task<T> ReadJsonAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> typeInfo, Uri url, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(typeInfo, cancellationToken)
                ?? throw new AcmeException($"The ACME server answered {url} with an empty body.", null, null, response.StatusCode);
        }
        catch (JsonException e)
        {
            throw new AcmeException($"The ACME server answered {url} with malformed JSON: {e.Message}", e);
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, Uri url, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw ProblemException(url, response.StatusCode, await ReadProblemAsync(response, cancellationToken));
        }
    }

    private static async Task<AcmeProblem?> ReadProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        // RFC 8555 §6.7: errors are problem documents (application/problem+json); anything else has no detail to give.
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is not ("application/problem+json" or "application/json"))
        {
            return null;
        }
        try
        {
            return await response.Content.ReadFromJsonAsync(AcmeJsonContext.Default.AcmeProblem, cancellationToken);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static AcmeException ProblemException(Uri url, HttpStatusCode status, AcmeProblem? problem) =>
        problem is null
            ? new AcmeException($"ACME request to {url} failed with HTTP {(int)status}.", null, null, status)
            : new AcmeException($"ACME request to {url} failed with HTTP {(int)status}: {problem.Type}: {problem.Detail}", problem.Type, problem.Detail, status);
}
