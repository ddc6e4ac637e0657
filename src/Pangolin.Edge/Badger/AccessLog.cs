namespace Pangolin.Edge.Badger;

/// <summary>Why a request was let through or refused: upstream's request-log reason codes (1xx allowed, 2xx denied).</summary>
public enum AccessReason
{
    AllowedByRule = 100,
    AllowedNoAuth = 101,
    ValidAccessToken = 102,
    ValidHeaderAuth = 103,
    ValidSession = 104,
    NotFound = 201,
    Blocked = 202,
    DroppedByRule = 203,
    NoSession = 204,
    RateLimited = 205,
    NoMoreAuthMethods = 299,
}

/// <summary>One access decision, as the request log keeps it.</summary>
/// <param name="Query">The query string with every token parameter's value removed.</param>
public sealed record AccessDecision(
    DateTimeOffset Timestamp,
    int ResourceId,
    string OrgId,
    bool Allowed,
    AccessReason Reason,
    string? Ip,
    string? Country,
    string? UserAgent,
    string Scheme,
    string Host,
    string Path,
    string Method,
    string? Query,
    string? ActorType = null,
    string? Actor = null,
    string? ActorId = null);

/// <summary>Where access decisions go. It must not block: the request waits for nothing but the decision.</summary>
public interface IAccessLog
{
    void Record(AccessDecision decision);
}

internal sealed class NoAccessLog : IAccessLog
{
    public void Record(AccessDecision decision)
    {
    }
}
