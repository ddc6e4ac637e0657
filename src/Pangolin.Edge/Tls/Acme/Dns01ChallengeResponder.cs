namespace Pangolin.Edge.Tls.Acme;

/// <summary>Sets and removes TXT records at a DNS provider, for dns-01 challenges.</summary>
public interface IDnsProvider
{
    /// <summary>
    /// Adds a TXT record <paramref name="name"/> (fully qualified, no trailing dot) with <paramref name="value"/>,
    /// beside any other values the name has: a wildcard and its base name are validated with two values at one name.
    /// </summary>
    Task SetTxtAsync(string name, string value, CancellationToken cancellationToken);

    /// <summary>Removes the TXT record <paramref name="name"/> with <paramref name="value"/>, leaving other values.</summary>
    Task RemoveTxtAsync(string name, string value, CancellationToken cancellationToken);
}

/// <summary>Answers dns-01 challenges (RFC 8555 §8.4) through an <see cref="IDnsProvider"/>.</summary>
public sealed class Dns01ChallengeResponder(IDnsProvider dnsProvider) : IAcmeChallengeResponder
{
    private readonly IDnsProvider _dnsProvider = dnsProvider ?? throw new ArgumentNullException(nameof(dnsProvider));

    public IReadOnlyList<string> SupportedTypes { get; } = [AcmeChallengeTypes.Dns01];

    public Task PublishAsync(AcmeChallenge challenge, CancellationToken cancellationToken)
    {
        var (name, value) = Record(challenge);
        return _dnsProvider.SetTxtAsync(name, value, cancellationToken);
    }

    public Task RemoveAsync(AcmeChallenge challenge, CancellationToken cancellationToken)
    {
        var (name, value) = Record(challenge);
        return _dnsProvider.RemoveTxtAsync(name, value, cancellationToken);
    }

    private static (string Name, string Value) Record(AcmeChallenge challenge)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        if (challenge.Type != AcmeChallengeTypes.Dns01 || challenge.TxtRecordName is null || challenge.TxtRecordValue is null)
        {
            throw new ArgumentException($"Not a {AcmeChallengeTypes.Dns01} challenge: {challenge}.", nameof(challenge));
        }
        return (challenge.TxtRecordName, challenge.TxtRecordValue);
    }
}
