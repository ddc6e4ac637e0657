namespace Pangolin.Edge.Tls.Acme;

/// <summary>The challenge types of RFC 8555 §8 that this client can answer.</summary>
public static class AcmeChallengeTypes
{
    /// <summary>RFC 8555 §8.3: the key authorization served over plain HTTP on port 80.</summary>
    public const string Http01 = "http-01";

    /// <summary>RFC 8555 §8.4: a digest of the key authorization in a TXT record. The only type for wildcard names.</summary>
    public const string Dns01 = "dns-01";
}

/// <summary>One challenge to publish, with everything the responder needs already computed.</summary>
/// <param name="Type">One of <see cref="AcmeChallengeTypes"/>.</param>
/// <param name="Domain">The identifier being validated, without any <c>*.</c> prefix.</param>
/// <param name="Token">The server's token (base64url characters only, RFC 8555 §8.1).</param>
/// <param name="KeyAuthorization"><c>token.thumbprint</c>; what http-01 serves.</param>
/// <param name="TxtRecordName">dns-01 only: <c>_acme-challenge.</c> + <paramref name="Domain"/> (RFC 8555 §8.4).</param>
/// <param name="TxtRecordValue">dns-01 only: base64url(SHA-256(<paramref name="KeyAuthorization"/>)).</param>
public sealed record AcmeChallenge(
    string Type,
    string Domain,
    string Token,
    string KeyAuthorization,
    string? TxtRecordName = null,
    string? TxtRecordValue = null)
{
    // The key authorization proves control of the account key's challenges: it is kept out of logs and ToString.
    public override string ToString() => $"{Type} for {Domain}";
}

/// <summary>Publishes the answer to a challenge where the ACME server will look for it, and removes it afterwards.</summary>
public interface IAcmeChallengeResponder
{
    /// <summary>The challenge types this responder can publish, most preferred first.</summary>
    IReadOnlyList<string> SupportedTypes { get; }

    /// <summary>Makes the answer visible; returns once the server could see it.</summary>
    Task PublishAsync(AcmeChallenge challenge, CancellationToken cancellationToken);

    /// <summary>Takes the answer down again; called after validation whether it succeeded or not.</summary>
    Task RemoveAsync(AcmeChallenge challenge, CancellationToken cancellationToken);
}
