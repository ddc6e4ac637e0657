using System.Buffers;
using System.Collections.Concurrent;

namespace Pangolin.Edge.Tls.Acme;

/// <summary>
/// Answers http-01 challenges (RFC 8555 §8.3) from memory: <see cref="PublishAsync"/> stores the key authorization
/// under its token and the endpoint of <see cref="AcmeHttp01EndpointRouteBuilderExtensions.MapAcmeHttp01"/> serves it.
/// Thread-safe; one store can serve any number of concurrent orders.
/// </summary>
public sealed class Http01ChallengeStore : IAcmeChallengeResponder
{
    // RFC 8555 §8.1: a token uses only the base64url alphabet, so anything else (a '/', a '.', a '%') is refused
    // before it is looked up.
    private static readonly SearchValues<char> TokenCharacters =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    // RFC 8555 §8.1 asks for at least 128 bits of entropy (22 characters); the upper bound only limits memory.
    private const int MaxTokenLength = 256;

    private readonly ConcurrentDictionary<string, string> _responses = new(StringComparer.Ordinal);

    public IReadOnlyList<string> SupportedTypes { get; } = [AcmeChallengeTypes.Http01];

    /// <summary>How many challenges are being answered now.</summary>
    public int Count => _responses.Count;

    public Task PublishAsync(AcmeChallenge challenge, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        if (challenge.Type != AcmeChallengeTypes.Http01)
        {
            throw new ArgumentException($"This store answers {AcmeChallengeTypes.Http01} challenges, not {challenge.Type}.", nameof(challenge));
        }
        if (!IsValidToken(challenge.Token))
        {
            throw new ArgumentException("The challenge token is not a base64url string.", nameof(challenge));
        }
        _responses[challenge.Token] = challenge.KeyAuthorization;
        return Task.CompletedTask;
    }

    public Task RemoveAsync(AcmeChallenge challenge, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        _responses.TryRemove(new KeyValuePair<string, string>(challenge.Token, challenge.KeyAuthorization));
        return Task.CompletedTask;
    }

    /// <summary>The key authorization to serve for <paramref name="token"/>, if a challenge with it is published.</summary>
    public bool TryGetResponse(string token, out string keyAuthorization)
    {
        if (IsValidToken(token) && _responses.TryGetValue(token, out var found))
        {
            keyAuthorization = found;
            return true;
        }
        keyAuthorization = "";
        return false;
    }

    internal static bool IsValidToken(string? token) =>
        !string.IsNullOrEmpty(token) && token.Length <= MaxTokenLength && !token.AsSpan().ContainsAnyExcept(TokenCharacters);
}
