using Microsoft.Extensions.Logging;

namespace Pangolin.Edge.Tls.Acme;

// Tokens, key authorizations, nonces and keys never appear here (STYLE: logs carry no secrets).
internal static partial class AcmeLog
{
    [LoggerMessage(1, LogLevel.Information, "ACME account {AccountUrl} {Outcome}")]
    public static partial void AccountReady(ILogger logger, Uri accountUrl, string outcome);

    [LoggerMessage(2, LogLevel.Information, "ACME order {OrderUrl} created for {Domains}")]
    public static partial void OrderCreated(ILogger logger, Uri orderUrl, string domains);

    [LoggerMessage(3, LogLevel.Debug, "ACME {ChallengeType} challenge for {Domain} published")]
    public static partial void ChallengePublished(ILogger logger, string challengeType, string domain);

    [LoggerMessage(4, LogLevel.Debug, "ACME authorization for {Domain} is valid")]
    public static partial void AuthorizationValid(ILogger logger, string domain);

    [LoggerMessage(5, LogLevel.Debug, "ACME server rejected the nonce of a request to {Url}; retrying ({Attempt})")]
    public static partial void BadNonceRetry(ILogger logger, Uri url, int attempt);

    [LoggerMessage(6, LogLevel.Information, "ACME certificate for {Domains} issued, valid until {NotAfter:O}")]
    public static partial void CertificateIssued(ILogger logger, string domains, DateTimeOffset notAfter);

    [LoggerMessage(7, LogLevel.Warning, "ACME {ChallengeType} challenge for {Domain} could not be removed")]
    public static partial void ChallengeRemoveFailed(ILogger logger, string challengeType, string domain, Exception exception);
}
