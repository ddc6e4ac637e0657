using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pangolin.Edge.Tls.Acme;

public sealed partial class AcmeClient
{
    private const string PemCertificateChain = "application/pem-certificate-chain";

    // How long removing a published challenge may take once the order is over, even when the order was cancelled.
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Orders one certificate for <paramref name="domains"/> (RFC 8555 §7.4): answers each authorization's challenge
    /// through <paramref name="responder"/>, finalizes with a new P-256 key and downloads the chain.
    /// </summary>
    /// <param name="domains">DNS names, lower-cased on the way; <c>*.example.com</c> needs a dns-01 responder.</param>
    /// <param name="responder">Publishes the challenge answers; each one is removed again, whatever the outcome.</param>
    /// <exception cref="AcmeException">The server refused a request, or a validation failed (its problem attached).</exception>
    public async Task<AcmeCertificate> OrderCertificateAsync(IReadOnlyList<string> domains, IAcmeChallengeResponder responder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(responder);
        var names = NormalizeDomains(domains);
        var directory = await GetDirectoryAsync(cancellationToken);

        var newOrder = new AcmeNewOrderRequest([.. names.Select(n => new AcmeIdentifier("dns", n))]);
        Uri orderUrl;
        AcmeOrder order;
        using (var response = await PostAsync(
            directory.NewOrder, JsonSerializer.SerializeToUtf8Bytes(newOrder, AcmeJsonContext.Default.AcmeNewOrderRequest),
            useJwk: false, accept: null, cancellationToken))
        {
            orderUrl = RequireLocation(response, directory.NewOrder);
            order = await ReadJsonAsync(response, AcmeJsonContext.Default.AcmeOrder, directory.NewOrder, cancellationToken);
        }
        AcmeLog.OrderCreated(_logger, orderUrl, string.Join(", ", names));

        if (order.Status == "pending")
        {
            await AuthorizeAsync(order.Authorizations, responder, cancellationToken);
            order = await WaitForOrderAsync(orderUrl, order, "pending", cancellationToken);
        }
        if (order.Status != "ready")
        {
            throw OrderException(orderUrl, order, "ready");
        }

        // RFC 8555 §7.4: the CSR carries the order's names; a fresh key per certificate, never the account key.
        using var certificateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var finalize = new AcmeFinalizeRequest(AcmeJws.Base64UrlEncode(CreateSigningRequest(names, certificateKey)));
        using (var response = await PostAsync(
            order.Finalize, JsonSerializer.SerializeToUtf8Bytes(finalize, AcmeJsonContext.Default.AcmeFinalizeRequest),
            useJwk: false, accept: null, cancellationToken))
        {
            order = await ReadJsonAsync(response, AcmeJsonContext.Default.AcmeOrder, order.Finalize, cancellationToken);
        }
        order = await WaitForOrderAsync(orderUrl, order, "processing", cancellationToken);
        if (order is not { Status: "valid", Certificate: { } certificateUrl })
        {
            throw OrderException(orderUrl, order, "valid");
        }

        string chainPem;
        using (var response = await PostAsync(certificateUrl, payload: null, useJwk: false, PemCertificateChain, cancellationToken))
        {
            chainPem = await response.Content.ReadAsStringAsync(cancellationToken);
        }
        var keyPem = certificateKey.ExportPkcs8PrivateKeyPem();
        X509Certificate2 certificate;
        try
        {
            // The first certificate of the chain is the end-entity certificate (RFC 8555 §7.4.2).
            certificate = X509Certificate2.CreateFromPem(chainPem, keyPem);
        }
        catch (CryptographicException e)
        {
            throw new AcmeException($"The certificate at {certificateUrl} is not a PEM chain for the ordered key: {e.Message}", e);
        }
        var issued = new AcmeCertificate(certificate, chainPem, keyPem);
        AcmeLog.CertificateIssued(_logger, string.Join(", ", names), issued.NotAfter);
        return issued;
    }

    /// <summary>
    /// Answers every pending authorization (RFC 8555 §7.5): all challenges are published first, then announced, then
    /// polled, so that the server validates them in parallel. Whatever happens, the published answers are removed.
    /// </summary>
    private async Task AuthorizeAsync(IReadOnlyList<Uri> authorizationUrls, IAcmeChallengeResponder responder, CancellationToken cancellationToken)
    {
        var published = new List<(Uri AuthorizationUrl, AcmeChallengeObject Server, AcmeChallenge Challenge)>();
        try
        {
            foreach (var authorizationUrl in authorizationUrls)
            {
                var (authorization, _) = await FetchAsync(authorizationUrl, AcmeJsonContext.Default.AcmeAuthorization, cancellationToken);
                if (authorization.Status == "valid")
                {
                    continue; // §7.1.3: the server may reuse an authorization this account already holds.
                }
                if (authorization.Status != "pending")
                {
                    throw AuthorizationException(authorization, null);
                }
                var selected = SelectChallenge(authorization, responder);
                var challenge = Describe(authorization, selected);
                await responder.PublishAsync(challenge, cancellationToken);
                published.Add((authorizationUrl, selected, challenge));
                AcmeLog.ChallengePublished(_logger, challenge.Type, challenge.Domain);
            }

            foreach (var (_, server, _) in published)
            {
                if (server.Status == "pending")
                {
                    // §7.5.1: an empty JSON object says the answer is in place.
                    var ready = JsonSerializer.SerializeToUtf8Bytes(new AcmeEmptyObject(), AcmeJsonContext.Default.AcmeEmptyObject);
                    using var response = await PostAsync(server.Url, ready, useJwk: false, accept: null, cancellationToken);
                }
            }

            foreach (var (authorizationUrl, server, challenge) in published)
            {
                await WaitForAuthorizationAsync(authorizationUrl, server, challenge, cancellationToken);
            }
        }
        finally
        {
            await RemoveAllAsync(responder, published.Select(p => p.Challenge));
        }
    }

    private async Task RemoveAllAsync(IAcmeChallengeResponder responder, IEnumerable<AcmeChallenge> challenges)
    {
        // Runs after success, failure and cancellation alike, so it gets its own bounded time.
        using var timeout = new CancellationTokenSource(CleanupTimeout, _timeProvider);
        foreach (var challenge in challenges)
        {
            try
            {
                await responder.RemoveAsync(challenge, timeout.Token);
            }
#pragma warning disable CA1031 // A leftover answer is harmless; it must not hide the order's own outcome or stop the other removals.
            catch (Exception e)
#pragma warning restore CA1031
            {
                AcmeLog.ChallengeRemoveFailed(_logger, challenge.Type, challenge.Domain, e);
            }
        }
    }

    private async Task WaitForAuthorizationAsync(Uri authorizationUrl, AcmeChallengeObject server, AcmeChallenge challenge, CancellationToken cancellationToken)
    {
        var started = _timeProvider.GetTimestamp();
        TimeSpan? retryAfter = null;
        while (true)
        {
            await DelayAsync(started, retryAfter, $"the authorization of {challenge.Domain}", cancellationToken);
            (var authorization, retryAfter) = await FetchAsync(authorizationUrl, AcmeJsonContext.Default.AcmeAuthorization, cancellationToken);
            switch (authorization.Status)
            {
                case "valid":
                    AcmeLog.AuthorizationValid(_logger, challenge.Domain);
                    return;
                case "pending":
                    continue;
                default:
                    throw AuthorizationException(authorization, server.Url);
            }
        }
    }

    /// <summary>Polls the order while its status is <paramref name="waitingStatus"/> (RFC 8555 §7.1.6).</summary>
    private async Task<AcmeOrder> WaitForOrderAsync(Uri orderUrl, AcmeOrder order, string waitingStatus, CancellationToken cancellationToken)
    {
        var started = _timeProvider.GetTimestamp();
        TimeSpan? retryAfter = null;
        while (order.Status == waitingStatus)
        {
            await DelayAsync(started, retryAfter, $"the order {orderUrl}", cancellationToken);
            (order, retryAfter) = await FetchAsync(orderUrl, AcmeJsonContext.Default.AcmeOrder, cancellationToken);
        }
        return order;
    }

    /// <summary>Waits as the server asked (Retry-After) or <see cref="PollInterval"/>, within <see cref="PollTimeout"/>.</summary>
    private async Task DelayAsync(long started, TimeSpan? retryAfter, string what, CancellationToken cancellationToken)
    {
        var remaining = PollTimeout - _timeProvider.GetElapsedTime(started);
        if (remaining <= TimeSpan.Zero)
        {
            throw new AcmeException($"The ACME server did not complete {what} within {PollTimeout}.");
        }
        var delay = retryAfter is { } asked && asked > TimeSpan.Zero ? asked : PollInterval;
        await Task.Delay(delay < remaining ? delay : remaining, _timeProvider, cancellationToken);
    }

    /// <summary>
    /// The first of the responder's types (its preference order) that the server offers. Wildcard names are only ever
    /// validated by dns-01 (RFC 8555 §7.1.3), so that is all they are offered.
    /// </summary>
    private static AcmeChallengeObject SelectChallenge(AcmeAuthorization authorization, IAcmeChallengeResponder responder)
    {
        foreach (var type in responder.SupportedTypes)
        {
            if (authorization.Wildcard && type != AcmeChallengeTypes.Dns01)
            {
                continue;
            }
            if (authorization.Challenges.FirstOrDefault(c => c.Type == type && c.Token is not null) is { } offered)
            {
                return offered;
            }
        }
        var name = (authorization.Wildcard ? "*." : "") + authorization.Identifier.Value;
        throw new AcmeException(
            $"The ACME server offers {string.Join(", ", authorization.Challenges.Select(c => c.Type))} for {name}; " +
            $"the responder answers only {string.Join(", ", responder.SupportedTypes)}.");
    }

    private AcmeChallenge Describe(AcmeAuthorization authorization, AcmeChallengeObject offered)
    {
        var token = offered.Token!;
        if (!Http01ChallengeStore.IsValidToken(token))
        {
            throw new AcmeException($"The ACME server sent a challenge token for {authorization.Identifier.Value} that is not base64url.");
        }
        var domain = authorization.Identifier.Value;
        var keyAuthorization = AcmeJws.KeyAuthorization(token, _thumbprint);
        return offered.Type == AcmeChallengeTypes.Dns01
            ? new AcmeChallenge(offered.Type, domain, token, keyAuthorization, "_acme-challenge." + domain, AcmeJws.Dns01TxtValue(keyAuthorization))
            : new AcmeChallenge(offered.Type, domain, token, keyAuthorization);
    }

    private static AcmeException AuthorizationException(AcmeAuthorization authorization, Uri? answeredChallenge)
    {
        var name = (authorization.Wildcard ? "*." : "") + authorization.Identifier.Value;
        // §7.1.6: the challenge that failed carries the reason in its "error".
        var failed = authorization.Challenges.FirstOrDefault(c => c.Url == answeredChallenge && c.Error is not null)
            ?? authorization.Challenges.FirstOrDefault(c => c.Error is not null);
        if (failed?.Error is { } problem)
        {
            return new AcmeException(
                $"The ACME server could not validate {name} by {failed.Type}: {problem.Type}: {problem.Detail}",
                problem.Type, problem.Detail, problem.Status is { } status ? (HttpStatusCode)status : null);
        }
        return new AcmeException($"The authorization of {name} is {authorization.Status}.");
    }

    private static AcmeException OrderException(Uri orderUrl, AcmeOrder order, string expected) =>
        order.Error is { } problem
            ? new AcmeException(
                $"The ACME order {orderUrl} is {order.Status}, not {expected}: {problem.Type}: {problem.Detail}",
                problem.Type, problem.Detail, problem.Status is { } status ? (HttpStatusCode)status : null)
            : new AcmeException($"The ACME order {orderUrl} is {order.Status}, not {expected}.");

    private static byte[] CreateSigningRequest(IReadOnlyList<string> names, ECDsa key)
    {
        var subject = new X500DistinguishedNameBuilder();
        // The common name is limited to 64 characters (RFC 5280 ub-common-name); the SANs are what counts.
        if (names.FirstOrDefault(n => n.Length <= 64) is { } commonName)
        {
            subject.AddCommonName(commonName);
        }
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            san.AddDnsName(name);
        }
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSigningRequest();
    }

    /// <summary>Lower-cased, deduplicated ASCII host names, each optionally with one leading <c>*.</c> label.</summary>
    internal static IReadOnlyList<string> NormalizeDomains(IReadOnlyList<string> domains)
    {
        ArgumentNullException.ThrowIfNull(domains);
        var names = new List<string>(domains.Count);
        foreach (var domain in domains)
        {
            var name = (domain ?? "").Trim().TrimEnd('.').ToLowerInvariant();
            if (name.Length > 253 || !HostName().IsMatch(name))
            {
                throw new ArgumentException($"'{domain}' is not a DNS name (use the ASCII form of international names).", nameof(domains));
            }
            if (!names.Contains(name))
            {
                names.Add(name);
            }
        }
        if (names.Count == 0)
        {
            throw new ArgumentException("At least one domain is needed.", nameof(domains));
        }
        return names;
    }

    // Labels of letters, digits and inner hyphens, at least two of them; a wildcard only as the whole first label.
    [GeneratedRegex(@"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex HostName();
}
